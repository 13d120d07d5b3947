import { PackingError } from '../errors/index.js';
import { formatResources } from '../model/resources.js';
import type { ContainerSlot, PlanBuilder } from './plan-builder.js';
import type { PendingInstance } from './run.js';

/** The instance a placement could not place, and the container that turned it down. */
export interface PlacementFailure {
  readonly instance: PendingInstance;
  readonly slot: ContainerSlot;
}

/**
 * Opens `count` containers and deals the instances over them strictly in turn (instance i goes to
 * container i mod count), stopping at the first instance its container cannot take.
 */
export function dealRoundRobin(builder: PlanBuilder, instances: readonly PendingInstance[], count: number): PlacementFailure | undefined {
  const slots: ContainerSlot[] = [];
  for (let i = 0; i < count; i++) slots.push(builder.openContainer());
  for (let i = 0; i < instances.length; i++) {
    const instance = instances[i]!;
    const slot = slots[i % count]!;
    if (!builder.fits(slot, instance.resources)) return { instance, slot };
    builder.place(slot, instance.component, instance.resources);
  }
  return undefined;
}

/** The strict deal put an instance into a container that could not take it. */
export function dealFailed(
  algorithm: string,
  builder: PlanBuilder,
  failure: PlacementFailure,
  containers: number,
  advice: string,
): PackingError {
  const { instance, slot } = failure;
  return new PackingError(
    `${algorithm}: cannot place an instance of component '${instance.component}' (needs ${formatResources(instance.resources)}) ` +
      `in ${containers} container(s): ${builder.describeContainer(slot)}; ${advice}`,
  );
}

/** No container, among those the algorithm may use, could take the instance. */
export function noRoom(algorithm: string, builder: PlanBuilder, instance: PendingInstance, advice: string): PackingError {
  const { capacity, maxInstances, padding } = builder.limits;
  return new PackingError(
    `${algorithm}: none of the ${builder.containers.length} container(s) ` +
      `has room for another instance of component '${instance.component}' ` +
      (`(needs ${formatResources(instance.resources)}; ` +
        `a container holds at most ${maxInstances} instances and ${formatResources(capacity)} `) +
      `after ${formatResources(padding)} padding); ${advice}`,
  );
}

/** The requested container count exceeds the instances: some containers would stay empty. */
export function tooManyContainers(algorithm: string, topology: string, containers: number, instances: number): PackingError {
  return new PackingError(
    `${algorithm}: ${containers} containers requested but topology '${topology}' has only ${instances} instance(s); ` +
      `lower packing.containers or the topology's containers hint to at most ${instances}`,
  );
}

/** Checks a repack request's container count; returns it, or undefined when none was asked for. */
export function checkRequestedContainers(algorithm: string, requested: number | undefined): number | undefined {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new PackingError(`${algorithm}: the requested container count must be a whole number of at least 1, got ${requested}`);
  }
  return requested;
}
