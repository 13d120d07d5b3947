import { z } from 'zod';
import { PackingError } from '../errors/index.js';
import { addResources, fitsWithin, formatResources, maxResources, Resources, ResourcesSchema, ZERO_RESOURCES } from './resources.js';

/**
 * Where every instance of a topology runs. Container ids start at 1; container 0 (topology master,
 * metrics cache, health manager) is implicit and never appears in a plan.
 */
export interface PackingPlan {
  /** The topology id the plan belongs to. */
  readonly topologyId: string;
  /** Containers sorted by id. */
  readonly containers: readonly ContainerPlan[];
}

export interface ContainerPlan {
  readonly id: number;
  /** Instances sorted by task id. */
  readonly instances: readonly InstancePlan[];
  /** What the container needs: its instances plus padding for the stream and metrics managers. */
  readonly required: Resources;
  /**
   * What the pool actually granted when it differs from `required` (pools that make all containers
   * the same size record it here).
   */
  readonly scheduled?: Resources;
}

export interface InstancePlan {
  readonly component: string;
  /** Unique across the topology; never reused while the topology runs. */
  readonly taskId: number;
  /** 0-based index within the component. */
  readonly componentIndex: number;
  readonly resources: Resources;
}

const instancePlanSchema = z
  .object({
    component: z.string().min(1),
    taskId: z.number().int().min(1),
    componentIndex: z.number().int().min(0),
    resources: ResourcesSchema,
  })
  .strict();

export const PackingPlanSchema = z
  .object({
    topologyId: z.string().min(1),
    containers: z.array(
      z
        .object({
          id: z.number().int().min(1),
          instances: z.array(instancePlanSchema),
          required: ResourcesSchema,
          scheduled: ResourcesSchema.optional(),
        })
        .strict(),
    ),
  })
  .strict();

/** `container_<containerId>_<component>_<taskId>`, the name an instance has in metrics and logs. */
export function instanceName(containerId: number, instance: Pick<InstancePlan, 'component' | 'taskId'>): string {
  return `container_${containerId}_${instance.component}_${instance.taskId}`;
}

export function componentCounts(plan: PackingPlan): Map<string, number> {
  const counts = new Map<string, number>();
  for (const container of plan.containers) {
    for (const instance of container.instances) counts.set(instance.component, (counts.get(instance.component) ?? 0) + 1);
  }
  return counts;
}

export function instanceCount(plan: PackingPlan): number {
  return plan.containers.reduce((sum, container) => sum + container.instances.length, 0);
}

/** The per-dimension maximum over all containers (what a pool with uniform containers must grant). */
export function maxContainerResources(plan: PackingPlan): Resources {
  return plan.containers.reduce((acc, container) => maxResources(acc, container.scheduled ?? container.required), ZERO_RESOURCES);
}

export function totalRequired(plan: PackingPlan): Resources {
  return plan.containers.reduce((acc, container) => addResources(acc, container.required), ZERO_RESOURCES);
}

/** Every instance with the id of its container, sorted by task id. */
export function allInstances(plan: PackingPlan): Array<InstancePlan & { readonly containerId: number }> {
  return plan.containers
    .flatMap((container) => container.instances.map((instance) => ({ ...instance, containerId: container.id })))
    .sort((a, b) => a.taskId - b.taskId);
}

/** Sorts containers by id and instances by task id, so equal plans serialise identically. */
export function normalisePlan(plan: PackingPlan): PackingPlan {
  return {
    topologyId: plan.topologyId,
    containers: [...plan.containers]
      .sort((a, b) => a.id - b.id)
      .map((container) => ({ ...container, instances: [...container.instances].sort((a, b) => a.taskId - b.taskId) })),
  };
}

/**
 * Which container runs which task, as one string: two plans with the same placement run the same
 * instances in the same containers. Lets a caller tell which plan a process is on without comparing
 * resources, whose serialisation may differ.
 */
export function placementOf(plan: PackingPlan): string {
  return normalisePlan(plan)
    .containers.map((container) => `${container.id}:${container.instances.map((i) => i.taskId).join(',')}`)
    .join(' ');
}

export function plansEqual(a: PackingPlan, b: PackingPlan): boolean {
  return JSON.stringify(normalisePlan(a)) === JSON.stringify(normalisePlan(b));
}

/**
 * Structural invariants every plan must satisfy whatever algorithm produced it: container ids are
 * unique and ≥ 1, task ids are unique, component indexes are unique per component, and each
 * container's required resources cover its instances. Throws a {@link PackingError} naming the breach.
 */
export function checkPackingPlan(plan: PackingPlan): void {
  const containerIds = new Set<number>();
  const taskIds = new Set<number>();
  const indexes = new Map<string, Set<number>>();
  for (const container of plan.containers) {
    if (containerIds.has(container.id)) throw new PackingError(`packing plan has container ${container.id} twice`);
    containerIds.add(container.id);
    let sum = ZERO_RESOURCES;
    for (const instance of container.instances) {
      if (taskIds.has(instance.taskId)) throw new PackingError(`packing plan uses task id ${instance.taskId} twice`);
      taskIds.add(instance.taskId);
      const seen = indexes.get(instance.component) ?? new Set<number>();
      if (seen.has(instance.componentIndex)) {
        throw new PackingError(`packing plan has two instances of '${instance.component}' with component index ${instance.componentIndex}`);
      }
      seen.add(instance.componentIndex);
      indexes.set(instance.component, seen);
      sum = addResources(sum, instance.resources);
    }
    if (!fitsWithin(sum, container.required)) {
      throw new PackingError(
        `container ${container.id} requires ${formatResources(container.required)} but its instances need ${formatResources(sum)}`,
      );
    }
  }
}

export interface PackingPlanDiff {
  readonly addedContainers: readonly number[];
  readonly removedContainers: readonly number[];
  /** Containers present in both plans whose instance set changed. */
  readonly changedContainers: readonly number[];
  readonly addedInstances: ReadonlyArray<InstancePlan & { readonly containerId: number }>;
  readonly removedInstances: ReadonlyArray<InstancePlan & { readonly containerId: number }>;
  /** Same task id in both plans but in another container. */
  readonly movedInstances: ReadonlyArray<{
    readonly taskId: number;
    readonly component: string;
    readonly from: number;
    readonly to: number;
  }>;
}

/** What an update from `current` to `proposed` touches; everything not listed keeps running as is. */
export function diffPackingPlans(current: PackingPlan, proposed: PackingPlan): PackingPlanDiff {
  const before = new Map(allInstances(current).map((i) => [i.taskId, i]));
  const after = new Map(allInstances(proposed).map((i) => [i.taskId, i]));
  const currentIds = new Set(current.containers.map((c) => c.id));
  const proposedIds = new Set(proposed.containers.map((c) => c.id));
  const changed = new Set<number>();
  const addedInstances = [...after.values()].filter((i) => !before.has(i.taskId));
  const removedInstances = [...before.values()].filter((i) => !after.has(i.taskId));
  const movedInstances = [...after.values()]
    .filter((i) => before.has(i.taskId) && before.get(i.taskId)!.containerId !== i.containerId)
    .map((i) => ({ taskId: i.taskId, component: i.component, from: before.get(i.taskId)!.containerId, to: i.containerId }));
  for (const i of addedInstances) changed.add(i.containerId);
  for (const i of removedInstances) changed.add(i.containerId);
  for (const m of movedInstances) {
    changed.add(m.from);
    changed.add(m.to);
  }
  return {
    addedContainers: [...proposedIds].filter((id) => !currentIds.has(id)).sort((a, b) => a - b),
    removedContainers: [...currentIds].filter((id) => !proposedIds.has(id)).sort((a, b) => a - b),
    changedContainers: [...changed].filter((id) => currentIds.has(id) && proposedIds.has(id)).sort((a, b) => a - b),
    addedInstances,
    removedInstances,
    movedInstances,
  };
}
