import { injectable } from 'inversify';
import type { PackingPlan } from '../model/packing-plan.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { PackingAlgorithm, PackingSettings, RepackingAlgorithm, RepackRequest } from '../spi/packing.js';
import { minimumContainers } from './constraints.js';
import { FitIndex } from './fit-index.js';
import { checkRequestedContainers, dealFailed, dealRoundRobin, noRoom, tooManyContainers } from './placement.js';
import { PlanBuilder } from './plan-builder.js';
import { containersNeeded, preparePack, prepareRepack } from './run.js';
import type { PendingInstance } from './run.js';

const NAME = 'resource-compliant-round-robin';

/**
 * Round robin that adds containers instead of failing: starting from `packing.containers`, the
 * instances are dealt strictly in turn, and whenever one does not fit, the whole deal starts over
 * with one more container. It gives up when it would need more containers than instances.
 *
 * Counts below what the instances need in total (by instance places, CPU, RAM or disk) are skipped
 * without dealing: those deals are bound to fail, so the result is the same as trying them, and a
 * large topology does not pay for hundreds of doomed attempts.
 *
 * Repacking keeps running instances in place and deals the new ones flexibly: each goes to the next
 * container, in turn from where the previous one went, that can take it. When none can, the new
 * instances are dealt again with one more container.
 */
@injectable()
export class ResourceCompliantRoundRobinPacking implements PackingAlgorithm, RepackingAlgorithm {
  readonly name = NAME;

  pack(topology: TopologyDefinition, settings: PackingSettings): PackingPlan {
    const run = preparePack(topology, settings);
    const requested = run.limits.settings.containers;
    const instances = run.instances.length;
    if (requested > instances) throw tooManyContainers(NAME, topology.name, requested, instances);
    for (let containers = Math.max(requested, minimumContainers(run.load, run.limits)); ; containers++) {
      const builder = PlanBuilder.empty(topology.id, run.limits);
      const failure = dealRoundRobin(builder, run.instances, containers);
      if (!failure) return builder.build();
      // Unreachable while every instance fits an empty container (one per container always deals),
      // but the bound keeps the loop finite whatever the constraints become.
      if (containers >= instances) throw dealFailed(NAME, builder, failure, containers, 'even one container per instance is not enough');
    }
  }

  repack(request: RepackRequest, settings: PackingSettings): PackingPlan {
    const run = prepareRepack(request, settings);
    const live = run.builder.containers.length;
    const requested = checkRequestedContainers(NAME, request.containers) ?? 0;
    if (requested > run.targetInstances) throw tooManyContainers(NAME, request.topology.name, requested, run.targetInstances);
    let containers = Math.max(live, requested, containersNeeded(run));
    for (;;) {
      const builder = run.builder.clone();
      const failed = dealFlexibly(builder, run.instances, containers);
      if (!failed) return builder.build();
      if (containers + 1 > run.targetInstances) {
        throw noRoom(NAME, builder, failed, `even ${containers} containers for ${run.targetInstances} instances are not enough`);
      }
      containers++;
    }
  }
}

/** Opens containers up to `containers`, then deals; returns the first instance nothing could take. */
function dealFlexibly(builder: PlanBuilder, instances: readonly PendingInstance[], containers: number): PendingInstance | undefined {
  const index = new FitIndex(builder, containers);
  while (index.length < containers) index.open();
  let cursor = 0;
  for (const instance of instances) {
    const position = index.nextFit(instance.resources, cursor);
    if (position < 0) return instance;
    index.place(position, instance.component, instance.resources);
    cursor = position + 1 < index.length ? position + 1 : 0;
  }
  return undefined;
}
