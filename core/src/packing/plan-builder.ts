import { PackingError } from '../errors/index.js';
import { checkPackingPlan } from '../model/packing-plan.js';
import type { ContainerPlan, InstancePlan, PackingPlan } from '../model/packing-plan.js';
import { fitsWithin, formatResources } from '../model/resources.js';
import type { Resources } from '../model/resources.js';
import { CPU_EPSILON } from './constraints.js';
import type { PackingLimits } from './constraints.js';

/** A container while a plan is being built: its instances and their running sums. */
export class ContainerSlot {
  instances: InstancePlan[];
  cpu = 0;
  ramBytes = 0;
  diskBytes = 0;
  /** Set once the instance set changes; an untouched container is emitted exactly as it came in. */
  touched: boolean;

  constructor(
    readonly id: number,
    /** The container this slot continues, when repacking. */
    readonly original?: ContainerPlan,
  ) {
    this.instances = original ? [...original.instances] : [];
    this.touched = !original;
    for (const instance of this.instances) this.add(instance.resources, 1);
  }

  add(resources: Resources, sign: 1 | -1): void {
    this.cpu += sign * resources.cpu;
    this.ramBytes += sign * resources.ramBytes;
    this.diskBytes += sign * resources.diskBytes;
  }

  used(): Resources {
    return { cpu: this.cpu, ramBytes: this.ramBytes, diskBytes: this.diskBytes };
  }

  copy(): ContainerSlot {
    const slot = new ContainerSlot(this.id, this.original);
    slot.instances = [...this.instances];
    slot.cpu = this.cpu;
    slot.ramBytes = this.ramBytes;
    slot.diskBytes = this.diskBytes;
    slot.touched = this.touched;
    return slot;
  }
}

/**
 * The one place plans are assembled. It owns the identity rules every algorithm shares: container
 * ids count up from the highest existing one, task ids from the highest existing task id (never
 * reused), component indexes from the component's highest existing index. Containers are kept in
 * ascending id order, which is the order first-fit and round robin walk them in.
 */
export class PlanBuilder {
  private constructor(
    readonly topologyId: string,
    readonly limits: PackingLimits,
    readonly containers: ContainerSlot[],
    private nextContainerId: number,
    private nextTaskId: number,
    private readonly nextIndex: Map<string, number>,
  ) {}

  static empty(topologyId: string, limits: PackingLimits): PlanBuilder {
    return new PlanBuilder(topologyId, limits, [], 1, 1, new Map());
  }

  /** Continues a running plan; its containers and instances stay as they are until changed. */
  static from(plan: PackingPlan, topologyId: string, limits: PackingLimits): PlanBuilder {
    checkPackingPlan(plan);
    const containers = [...plan.containers].sort((a, b) => a.id - b.id).map((container) => new ContainerSlot(container.id, container));
    let maxTaskId = 0;
    const nextIndex = new Map<string, number>();
    for (const container of plan.containers) {
      for (const instance of container.instances) {
        maxTaskId = Math.max(maxTaskId, instance.taskId);
        nextIndex.set(instance.component, Math.max(nextIndex.get(instance.component) ?? 0, instance.componentIndex + 1));
      }
    }
    const lastId = containers.length > 0 ? containers[containers.length - 1]!.id : 0;
    return new PlanBuilder(topologyId, limits, containers, lastId + 1, maxTaskId + 1, nextIndex);
  }

  /** An independent copy, for algorithms that try a placement and start over when it fails. */
  clone(): PlanBuilder {
    return new PlanBuilder(
      this.topologyId,
      this.limits,
      this.containers.map((slot) => slot.copy()),
      this.nextContainerId,
      this.nextTaskId,
      new Map(this.nextIndex),
    );
  }

  instanceCount(): number {
    let count = 0;
    for (const slot of this.containers) count += slot.instances.length;
    return count;
  }

  /** Forgets containers with no instances left; their ids stay retired for this plan. */
  dropEmptyContainers(): void {
    let kept = 0;
    for (const slot of this.containers) if (slot.instances.length > 0) this.containers[kept++] = slot;
    this.containers.length = kept;
  }

  openContainer(): ContainerSlot {
    const slot = new ContainerSlot(this.nextContainerId++);
    this.containers.push(slot);
    return slot;
  }

  /** Whether one more instance needing `resources` keeps the container within every constraint. */
  fits(slot: ContainerSlot, resources: Resources): boolean {
    const { capacity, maxInstances } = this.limits;
    return (
      slot.instances.length < maxInstances &&
      slot.cpu + resources.cpu <= capacity.cpu + CPU_EPSILON &&
      slot.ramBytes + resources.ramBytes <= capacity.ramBytes &&
      slot.diskBytes + resources.diskBytes <= capacity.diskBytes
    );
  }

  place(slot: ContainerSlot, component: string, resources: Resources): InstancePlan {
    const componentIndex = this.nextIndex.get(component) ?? 0;
    this.nextIndex.set(component, componentIndex + 1);
    const instance: InstancePlan = { component, taskId: this.nextTaskId++, componentIndex, resources };
    slot.instances.push(instance);
    slot.add(resources, 1);
    slot.touched = true;
    return instance;
  }

  remove(slot: ContainerSlot, instance: InstancePlan): void {
    const at = slot.instances.indexOf(instance);
    if (at < 0) throw new PackingError(`task ${instance.taskId} of '${instance.component}' is not in container ${slot.id}`);
    slot.instances.splice(at, 1);
    slot.add(instance.resources, -1);
    slot.touched = true;
  }

  /** One line on how full a container is, for the messages of failed placements. */
  describeContainer(slot: ContainerSlot): string {
    const { capacity, maxInstances, padding } = this.limits;
    return (
      `container ${slot.id} already holds ${slot.instances.length} of at ` +
      `most ${maxInstances} instances using ${formatResources(slot.used())} ` +
      `of ${formatResources(capacity)} (the container limit minus ${formatResources(padding)} padding)`
    );
  }

  /**
   * The plan: empty containers dropped, instances by task id, required = instances + padding.
   * Untouched containers come out exactly as they went in, so a repack that changes nothing returns
   * an equal plan; a changed container keeps what the pool granted while that still covers it.
   */
  build(): PackingPlan {
    const containers: ContainerPlan[] = [];
    for (const slot of this.containers) {
      if (slot.instances.length === 0) continue;
      if (!slot.touched && slot.original) {
        containers.push(slot.original);
        continue;
      }
      const instances = [...slot.instances].sort((a, b) => a.taskId - b.taskId);
      const sum = { cpu: 0, ramBytes: 0, diskBytes: 0 };
      for (const { resources } of instances) {
        sum.cpu += resources.cpu;
        sum.ramBytes += resources.ramBytes;
        sum.diskBytes += resources.diskBytes;
      }
      const { padding } = this.limits;
      const required: Resources = {
        cpu: sum.cpu + padding.cpu,
        ramBytes: sum.ramBytes + padding.ramBytes,
        diskBytes: sum.diskBytes + padding.diskBytes,
      };
      const scheduled = slot.original?.scheduled;
      containers.push(
        scheduled && fitsWithin(required, scheduled)
          ? { id: slot.id, instances, required, scheduled }
          : { id: slot.id, instances, required },
      );
    }
    return { topologyId: this.topologyId, containers };
  }
}
