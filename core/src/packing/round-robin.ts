import { injectable } from 'inversify';
import { PackingError } from '../errors/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { Resources } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { PackingAlgorithm, PackingSettings, RepackingAlgorithm, RepackRequest } from '../spi/packing.js';
import { FitIndex } from './fit-index.js';
import { checkRequestedContainers, dealFailed, dealRoundRobin, noRoom, tooManyContainers } from './placement.js';
import { PlanBuilder } from './plan-builder.js';
import { containersNeeded, preparePack, prepareRepack } from './run.js';
import type { RepackRun } from './run.js';

const NAME = 'round-robin';

/**
 * A fixed number of containers (`packing.containers`, or the topology's hint) with the instances dealt
 * over them in turn, largest components first. The container count is an input: when the instances
 * do not fit, packing fails rather than adding containers.
 *
 * Repacking keeps every running instance where it is (unlike Heron's round robin, which re-deals the
 * whole topology) and gives each new instance to the emptiest container that can take it, which is
 * what dealing in turn amounts to when containers start unevenly filled.
 */
@injectable()
export class RoundRobinPacking implements PackingAlgorithm, RepackingAlgorithm {
  readonly name = NAME;

  pack(topology: TopologyDefinition, settings: PackingSettings): PackingPlan {
    const run = preparePack(topology, settings);
    const containers = run.limits.settings.containers;
    if (containers > run.instances.length) throw tooManyContainers(NAME, topology.name, containers, run.instances.length);
    const builder = PlanBuilder.empty(topology.id, run.limits);
    const failure = dealRoundRobin(builder, run.instances, containers);
    if (failure) {
      throw dealFailed(
        NAME,
        builder,
        failure,
        containers,
        `raise packing.containers or the topology's containers hint (now ${containers}), ` +
          `packing.container or packing.maxInstancesPerContainer, ` +
          'or use first-fit-decreasing or resource-compliant-round-robin, which add containers as needed',
      );
    }
    return builder.build();
  }

  repack(request: RepackRequest, settings: PackingSettings): PackingPlan {
    const run = prepareRepack(request, settings);
    const { builder } = run;
    const target = targetContainers(run, request.containers);
    const index = new FitIndex(builder, target);
    while (index.length < target) index.open();
    for (const instance of run.instances) {
      const position = emptiestFit(index, instance.resources);
      if (position < 0) {
        throw noRoom(
          NAME,
          builder,
          instance,
          `ask for more containers (--container-number), or raise packing.container or packing.maxInstancesPerContainer`,
        );
      }
      index.place(position, instance.component, instance.resources);
    }
    return builder.build();
  }
}

/**
 * How many containers the repacked plan deals over. A requested count is taken as is, but running
 * instances do not move, so it cannot be below the containers that still hold some. Otherwise the
 * plan keeps its density (instances per container), as Heron's round robin does, and never goes
 * below what the new instances need in total.
 */
function targetContainers(run: RepackRun, requested: number | undefined): number {
  const { builder, before, limits } = run;
  const live = builder.containers.length;
  const asked = checkRequestedContainers(NAME, requested);
  if (asked !== undefined) {
    if (asked < live) {
      throw new PackingError(
        `${NAME}: cannot repack into ${asked} container(s): running instances stay ` +
          `where they are and ${live} containers still hold some after the scale-down`,
      );
    }
    return asked;
  }
  const density =
    before.instances === 0 ? limits.settings.containers : Math.ceil((run.targetInstances * before.containers) / before.instances);
  return Math.max(live, density, containersNeeded(run));
}

/** The container with the most free instance places that fits, lowest id first among equals. */
function emptiestFit(index: FitIndex, resources: Resources): number {
  for (let places = index.maxFreePlaces(); places >= 1; places--) {
    const position = index.firstFit(resources, { minFreePlaces: places });
    if (position >= 0) return position;
  }
  return -1;
}
