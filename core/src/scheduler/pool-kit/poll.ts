export interface PollOptions<T> {
  /** How long to keep asking. */
  readonly timeoutMs: number;
  /** The pause between two questions. */
  readonly intervalMs: number;
  /** The error to throw when time is up, given what was still pending at the last look. */
  readonly timedOut: (left: readonly T[]) => Error;
}

/**
 * Asks a pool what is still not done (pods still running, jobs not ended, containers not launched)
 * until the answer is empty, or throws `timedOut` with the last answer. Pool APIs are eventually
 * consistent and most have no watch a library-mode call could keep, so waits are polls with a
 * deadline; an error from `pending` ends the wait at once.
 */
export async function pollUntilDone<T>(pending: () => Promise<readonly T[]>, options: PollOptions<T>): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const left = await pending();
    if (left.length === 0) return;
    if (Date.now() > deadline) throw options.timedOut(left);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
