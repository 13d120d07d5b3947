import { injectable } from 'inversify';
import type { PackingPlan } from '../model/packing-plan.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { PackingAlgorithm, PackingSettings, RepackingAlgorithm, RepackRequest } from '../spi/packing.js';
import { minimumContainers } from './constraints.js';
import type { Load } from './constraints.js';
import { FitIndex } from './fit-index.js';
import { PlanBuilder } from './plan-builder.js';
import { preparePack, prepareRepack } from './run.js';
import type { PendingInstance } from './run.js';

/**
 * Bin packing: instances largest first (by `packing.sortBy`), each into the lowest-id container it
 * fits, a new container when none does. The container count is an output; `packing.containers`
 * is ignored. Repacking fills the room running containers have left before opening new ones.
 */
@injectable()
export class FirstFitDecreasingPacking implements PackingAlgorithm, RepackingAlgorithm {
  readonly name = 'first-fit-decreasing';

  pack(topology: TopologyDefinition, settings: PackingSettings): PackingPlan {
    const run = preparePack(topology, settings);
    const builder = PlanBuilder.empty(topology.id, run.limits);
    firstFit(builder, run.instances, run.load);
    return builder.build();
  }

  repack(request: RepackRequest, settings: PackingSettings): PackingPlan {
    const run = prepareRepack(request, settings);
    firstFit(run.builder, run.instances, run.load);
    return run.builder.build();
  }
}

/**
 * Every pending instance fits an empty container (`componentDemand` checked that), so opening a
 * container always ends the search.
 */
function firstFit(builder: PlanBuilder, instances: readonly PendingInstance[], load: Load): void {
  const index = new FitIndex(builder, builder.containers.length + minimumContainers(load, builder.limits));
  for (const instance of instances) {
    let position = index.firstFit(instance.resources);
    if (position < 0) position = index.open();
    index.place(position, instance.component, instance.resources);
  }
}
