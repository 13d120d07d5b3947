import { describeError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';

/**
 * Starts `items` one after another. If one fails, undoes the ones already started (newest first)
 * and rethrows the failure: a pool's schedule or update either does all of it or leaves nothing.
 * An undo that fails is logged and does not hide the original error.
 */
export async function startAllOrUndo<T, R>(
  items: readonly T[],
  start: (item: T) => Promise<R>,
  undo: (item: T, started: R) => Promise<void>,
  logger: Logger,
  describeItem: (item: T) => string = String,
): Promise<R[]> {
  const started: Array<{ item: T; result: R }> = [];
  try {
    for (const item of items) started.push({ item, result: await start(item) });
  } catch (error) {
    for (const { item, result } of started.reverse()) {
      try {
        await undo(item, result);
      } catch (undoError) {
        logger.warn(`could not undo starting ${describeItem(item)} after a failure`, {
          error: describeError(undoError),
          failure: describeError(error),
        });
      }
    }
    throw error;
  }
  return started.map((entry) => entry.result);
}
