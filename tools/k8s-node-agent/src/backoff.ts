/** How long a crashed container waits before its next start (Kubernetes' CrashLoopBackOff). */
export interface BackoffPolicy {
  /** The first delay; each further crash in a row doubles it. Kubernetes: 10 s. */
  readonly baseMs: number;
  /** The cap. Kubernetes: 5 min. */
  readonly maxMs: number;
  /** A run at least this long forgets the earlier crashes. Kubernetes: 10 min (twice the cap). */
  readonly resetAfterMs: number;
}

export const KUBERNETES_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/**
 * The delay before restarting a container that just exited after running `ranForMs`, given the delay
 * used before its previous start (undefined when it has not crashed before).
 */
export function nextBackoff(policy: BackoffPolicy, previousMs: number | undefined, ranForMs: number): number {
  if (previousMs === undefined || ranForMs >= policy.resetAfterMs) return Math.min(policy.baseMs, policy.maxMs);
  return Math.min(previousMs * 2, policy.maxMs);
}
