/**
 * Which part of a container to restart when the container uses more memory than its packing plan
 * gives it. Pure, so the choice can be tested without allocating gigabytes.
 */

/** The container acts before its RSS reaches its RAM: 5 % of it, at least 32 MiB (see ramTrigger). */
const HEADROOM_FRACTION = 0.05;
const MIN_HEADROOM_BYTES = 32 * 1024 * 1024;

/**
 * The RSS at which a container of `ramBytes` restarts something. Below its RAM, because a check
 * every quarter second lets a fast allocator overshoot, and because a pool that enforces the same
 * limit with a cgroup would otherwise kill the whole container before the stream manager restarts
 * one worker.
 */
export function ramTrigger(ramBytes: number): number {
  return ramBytes - Math.max(MIN_HEADROOM_BYTES, ramBytes * HEADROOM_FRACTION);
}

export interface MemoryUser<Id> {
  readonly id: Id;
  /** What the worker last reported for its isolate: V8 heap plus Buffers and ArrayBuffers. */
  readonly usedBytes: number;
  /** Its RAM in the packing plan. */
  readonly plannedBytes: number;
  /**
   * Inside one call into the component for longer than the sampling period: its report is stale,
   * and it may be allocating right now.
   */
  readonly silent: boolean;
}

/**
 * The part furthest over its own share: an instance (its id), or `main` — the stream manager's
 * own thread, whose share is the container's padding. Memory the reports do not explain (RSS minus
 * everything reported) is charged to the silent instances, if any: they are the only ones that
 * could hold it unseen. The rest of it (code, stacks, allocator slack) belongs to no one.
 */
export function memoryCulprit<Id>(
  rssBytes: number,
  main: { usedBytes: number; plannedBytes: number },
  instances: ReadonlyArray<MemoryUser<Id>>,
): Id | 'main' {
  const reported = main.usedBytes + instances.reduce((acc, i) => acc + i.usedBytes, 0);
  const silent = instances.filter((i) => i.silent).length;
  const unexplained = silent > 0 ? Math.max(0, rssBytes - reported) / silent : 0;
  let culprit: Id | undefined;
  let worst = -Infinity;
  for (const instance of instances) {
    const over = instance.usedBytes + (instance.silent ? unexplained : 0) - instance.plannedBytes;
    if (over > worst) {
      culprit = instance.id;
      worst = over;
    }
  }
  // Restarting the main thread restarts the whole container: only when it is strictly worse.
  return culprit !== undefined && worst >= main.usedBytes - main.plannedBytes ? culprit : 'main';
}
