import { PackingError } from '../errors/index.js';
import { componentCounts } from '../model/packing-plan.js';
import { addResources } from '../model/resources.js';
import type { Resources } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { PackingSettings, RepackRequest } from '../spi/packing.js';
import {
  byDecreasingSize,
  checkParallelism,
  componentDemand,
  componentDemands,
  loadOf,
  minimumContainers,
  packingLimits,
} from './constraints.js';
import type { ComponentDemand, Load, PackingLimits } from './constraints.js';
import { PlanBuilder } from './plan-builder.js';
import { removeInstances } from './scoring.js';

/** One instance still to be placed; its task id and component index come at placement. */
export interface PendingInstance {
  readonly component: string;
  readonly resources: Resources;
}

export interface PackRun {
  readonly limits: PackingLimits;
  /** Every instance of the topology, largest first (see `byDecreasingSize`). */
  readonly instances: readonly PendingInstance[];
  /** What the pending instances need together. */
  readonly load: Load;
}

export interface RepackRun extends PackRun {
  /** The running plan with every scale-down already applied; the pending instances go into it. */
  readonly builder: PlanBuilder;
  /** Containers and instances of the running plan before anything was removed. */
  readonly before: { readonly containers: number; readonly instances: number };
  /** Instances of the plan once the pending ones are placed. */
  readonly targetInstances: number;
}

function expand(
  demands: Array<{ readonly demand: ComponentDemand; readonly count: number }>,
  settings: PackingSettings,
): PackRun['instances'] {
  const order = byDecreasingSize(settings.sortBy);
  demands.sort((a, b) => order(a.demand, b.demand));
  const instances: PendingInstance[] = [];
  for (const { demand, count } of demands) {
    const pending: PendingInstance = { component: demand.component, resources: demand.resources };
    for (let i = 0; i < count; i++) instances.push(pending);
  }
  return instances;
}

/** Validates the topology against the settings (hints applied) and lists what pack must place. */
export function preparePack(topology: TopologyDefinition, settings: PackingSettings): PackRun {
  const limits = packingLimits(topology, settings);
  const demands = componentDemands(topology, limits).map((demand) => ({ demand, count: demand.parallelism }));
  const instances = expand(demands, limits.settings);
  return { limits, instances, load: loadOf(demands.map(({ demand, count }) => ({ resources: demand.resources, count }))) };
}

/**
 * The part of every repack that does not depend on the algorithm: continue the running plan,
 * remove the instances of deleted components and scale-downs (see `removeInstances`) and the
 * containers they empty (so their ids are not handed to new instances in the same update), and list the
 * instances scale-ups and new components need. Components whose parallelism did not change are not
 * touched, not even re-validated, so a settings change cannot fail an unrelated update.
 */
export function prepareRepack(request: RepackRequest, settings: PackingSettings): RepackRun {
  const { current, topology } = request;
  if (current.topologyId !== topology.id) {
    throw new PackingError(
      `cannot repack: the running plan belongs to topology id '${current.topologyId}', the topology given is '${topology.id}'`,
    );
  }
  const limits = packingLimits(topology, settings);
  const builder = PlanBuilder.from(current, topology.id, limits);
  const before = { containers: builder.containers.length, instances: builder.instanceCount() };
  const counts = componentCounts(current);
  const kept = new Set(topology.components.map((component) => component.name));
  for (const [component, count] of counts) if (!kept.has(component)) removeInstances(builder, component, count);
  const grow: Array<{ demand: ComponentDemand; count: number }> = [];
  topology.components.forEach((component, position) => {
    checkParallelism(component);
    const have = counts.get(component.name) ?? 0;
    if (component.parallelism < have) removeInstances(builder, component.name, have - component.parallelism);
    else if (component.parallelism > have)
      grow.push({ demand: componentDemand(component, position, limits), count: component.parallelism - have });
  });
  builder.dropEmptyContainers();
  const instances = expand(grow, limits.settings);
  return {
    limits,
    instances,
    load: loadOf(grow.map(({ demand, count }) => ({ resources: demand.resources, count }))),
    builder,
    before,
    targetInstances: builder.instanceCount() + instances.length,
  };
}

/** A lower bound on the containers of the repacked plan: what its instances need in total. */
export function containersNeeded(run: RepackRun): number {
  let total = run.load.total;
  for (const slot of run.builder.containers) total = addResources(total, slot.used());
  return minimumContainers({ instances: run.targetInstances, total }, run.limits);
}
