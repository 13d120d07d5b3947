import type { InstancePlan } from '../model/packing-plan.js';
import type { ContainerSlot, PlanBuilder } from './plan-builder.js';

interface Candidate {
  readonly slot: ContainerSlot;
  /** Every instance of the container belongs to the component being scaled down. */
  readonly homogeneous: boolean;
  readonly size: number;
}

/**
 * Where a scale-down takes instances from, best first. The aim is to empty whole containers: first
 * containers that hold nothing but this component, then the least full, then the newest (highest
 * id), so the containers that existed longest are the ones that survive.
 */
export function removalOrder(builder: PlanBuilder, component: string): ContainerSlot[] {
  const candidates: Candidate[] = [];
  for (const slot of builder.containers) {
    let mine = 0;
    for (const instance of slot.instances) if (instance.component === component) mine++;
    if (mine > 0) candidates.push({ slot, homogeneous: mine === slot.instances.length, size: slot.instances.length });
  }
  candidates.sort((a, b) => Number(b.homogeneous) - Number(a.homogeneous) || a.size - b.size || b.slot.id - a.slot.id);
  return candidates.map((candidate) => candidate.slot);
}

/**
 * Removes `count` instances of the component. Taking an instance out of a container only makes that
 * container a better candidate (smaller, and no less homogeneous), so draining the containers in
 * their initial order gives the same result as re-scoring after every removal. Inside a container the
 * highest component indexes go first.
 */
export function removeInstances(builder: PlanBuilder, component: string, count: number): void {
  let left = count;
  for (const slot of removalOrder(builder, component)) {
    if (left === 0) return;
    const mine: InstancePlan[] = slot.instances.filter((instance) => instance.component === component);
    mine.sort((a, b) => b.componentIndex - a.componentIndex);
    for (const instance of mine.slice(0, left)) builder.remove(slot, instance);
    left -= Math.min(left, mine.length);
  }
}
