import { SchedulerError } from '../../errors/index.js';
import { diffPackingPlans, type ContainerPlan } from '../../model/packing-plan.js';
import type { UpdateRequest } from '../../spi/scheduler.js';

/** What a pool has to do to turn the containers it runs into those of `request.proposed`. */
export interface ContainerChanges {
  /** Containers to start, by id. */
  readonly added: readonly ContainerPlan[];
  /** Running container ids to stop; ids the pool does not run are left out (removing them is a no-op). */
  readonly removed: readonly number[];
  /** Running containers both plans keep: the pool leaves them alone. */
  readonly kept: readonly number[];
}

export interface PlanContainerChangesOptions {
  /**
   * The pool numbers its containers by ordinal (a StatefulSet, a task-group count, a YARN component
   * count) and can only add or drop the highest slots. Core compacts plans for such pools (see
   * `compactContainerIds`), so a plan that drops any other container, adds one anywhere but
   * above the highest, or is not numbered 1..N is a bug and is refused before anything changes.
   */
  readonly ordinal?: boolean;
}

/**
 * The one place pools work out an update: added, removed and kept containers of `request`, checked
 * against what the pool runs (`running`: container ids, 0 included or not). An added id that already
 * runs (or 0) is refused, as the Scheduler contract demands; removing an unknown id is ignored.
 */
export function planContainerChanges(
  request: Pick<UpdateRequest, 'topologyName' | 'current' | 'proposed'>,
  running: Iterable<number>,
  options: PlanContainerChangesOptions = {},
): ContainerChanges {
  const live = new Set(running);
  const diff = diffPackingPlans(request.current, request.proposed);
  const added = request.proposed.containers.filter((c) => diff.addedContainers.includes(c.id));
  const clash = added.find((c) => c.id === 0 || live.has(c.id));
  if (clash) {
    throw new SchedulerError(
      `cannot update topology '${request.topologyName}': ` +
        `container ${clash.id} already exists; its containers are ${sorted(live).join(', ')}`,
    );
  }
  const removed = diff.removedContainers.filter((id) => id !== 0 && live.has(id));
  const kept = sorted(live).filter((id) => id !== 0 && !removed.includes(id));
  if (options.ordinal) {
    const highestKept = Math.max(0, ...kept);
    const stranded = removed.filter((id) => id < highestKept);
    if (stranded.length > 0) {
      throw new SchedulerError(
        `cannot update topology '${request.topologyName}': this pool can only remove its highest containers, ` +
          `but the plan removes ${stranded.join(', ')} and keeps ${highestKept}; ` +
          'the plan was not compacted (compactContainerIds) before it reached the pool',
      );
    }
    const lowestAdded = Math.min(Number.POSITIVE_INFINITY, ...added.map((c) => c.id));
    if (added.length > 0 && lowestAdded <= highestKept) {
      throw new SchedulerError(
        `cannot update topology '${request.topologyName}': ` +
          `this pool can only add containers above its highest (${highestKept}), not ${lowestAdded}`,
      );
    }
    // Removing 2 and adding 3 passes both checks, yet a count going 2 -> 1 -> 2 brings back slot 2, not 3.
    const ids = request.proposed.containers.map((c) => c.id).sort((a, b) => a - b);
    if (ids.some((id, index) => id !== index + 1)) {
      throw new SchedulerError(
        `cannot update topology '${request.topologyName}': this pool numbers its ` +
          `containers 1..N without gaps, but the plan has containers ${ids.join(', ')}; ` +
          'the plan was not compacted (compactContainerIds) before it reached the pool',
      );
    }
  }
  return { added, removed, kept };
}

function sorted(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b);
}
