import { SchedulerError } from '../../errors/index.js';
import type { ContainerPlan, PackingPlan } from '../../model/packing-plan.js';
import type { ContainerIdentity, Scheduler } from '../../spi/scheduler.js';

/** The identity a scheduler declares; `per-container` when it declares none. */
export function containerIdentityOf(scheduler: Pick<Scheduler, 'containerIdentity'>): ContainerIdentity {
  return scheduler.containerIdentity ?? 'per-container';
}

/**
 * The plan to hand `scheduler` and to store: `proposed` itself for a per-container pool, or with its
 * ids compacted ({@link compactContainerIds}) for an ordinal one. `current` is the plan the pool runs
 * (none at submit).
 */
export function planForPool(
  scheduler: Pick<Scheduler, 'containerIdentity'>,
  current: PackingPlan | undefined,
  proposed: PackingPlan,
): PackingPlan {
  if (containerIdentityOf(scheduler) === 'per-container') return proposed;
  return compactContainerIds(current ?? { topologyId: proposed.topologyId, containers: [] }, proposed);
}

/**
 * Keeps the container ids of `proposed` dense (1..M) so a pool that numbers containers by ordinal
 * only ever adds or drops its highest slots. Repacking may empty any container; here each hole below
 * M is filled by a container from above M — first one the update adds (nothing moves), then the
 * running one with the fewest instances (its instances move, which the engine's fenced plan change
 * carries out without loss). Ids ≤ M keep their containers, so untouched instances stay put.
 *
 * Plans that are dense already come back unchanged.
 */
export function compactContainerIds(current: PackingPlan, proposed: PackingPlan): PackingPlan {
  const size = proposed.containers.length;
  const used = new Set(proposed.containers.map((c) => c.id));
  const holes: number[] = [];
  for (let id = 1; id <= size; id++) if (!used.has(id)) holes.push(id);
  if (holes.length === 0) return proposed;

  const running = new Set(current.containers.map((c) => c.id));
  const above = proposed.containers
    .filter((c) => c.id > size)
    .sort((a, b) => Number(running.has(a.id)) - Number(running.has(b.id)) || a.instances.length - b.instances.length || a.id - b.id);
  const renamed = new Map<number, number>();
  above.forEach((container, index) => renamed.set(container.id, holes[index]!));
  const containers: ContainerPlan[] = proposed.containers.map((c) => (renamed.has(c.id) ? { ...c, id: renamed.get(c.id)! } : c));
  return { ...proposed, containers: containers.sort((a, b) => a.id - b.id) };
}

/**
 * The container ids of a plan an ordinal pool is asked to schedule, 1..N, or a SchedulerError
 * (prefixed with `action`) when they have a gap: core keeps such plans dense, so a gap means the
 * pool was called around core.
 */
export function denseContainerIds(plan: PackingPlan, action: string): number[] {
  const ids = plan.containers.map((container) => container.id).sort((a, b) => a - b);
  if (ids.some((id, index) => id !== index + 1)) {
    throw new SchedulerError(`${action}: this pool numbers containers 1..N without gaps, but the plan has containers ${ids.join(', ')}`);
  }
  return ids;
}
