import type { Ardea } from '../app/ardea.js';
import { ArdeaError, describeError } from '../errors/index.js';
import type { CliIo } from './cli-io.js';

/** `--watch` without a value: redraw every 2 s. */
export const DEFAULT_WATCH_SECONDS = 2;

/** Clears a terminal and puts the cursor home, as `watch(1)` does between rounds. */
const CLEAR_SCREEN = '\x1b[2J\x1b[H';

/** Resolves when the user interrupts; `dispose` hands the interrupt back. */
export interface Interruption {
  readonly interrupted: Promise<void>;
  isInterrupted(): boolean;
  dispose(): void;
}

export function interruption(io: CliIo): Interruption {
  let fired = false;
  let fire = () => undefined as void;
  const interrupted = new Promise<void>((resolve) => {
    fire = () => {
      fired = true;
      resolve();
    };
  });
  // After the first interrupt the handler is gone, so a second Ctrl-C ends the process as usual.
  const dispose = io.onInterrupt?.(fire) ?? (() => undefined);
  return { interrupted, isInterrupted: () => fired, dispose };
}

/** Waits `ms`, or less if interrupted. */
export async function pause(ms: number, interruption: Interruption): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), interruption.interrupted]);
  clearTimeout(timer);
}

export interface WatchOptions {
  readonly intervalSeconds: number;
  /** What the command is, for the header a terminal shows above each round. */
  readonly title: string;
  /** One round's output. */
  readonly render: () => Promise<string>;
  /**
   * Whether a round's failure ends the watch: true when what is watched is gone (a killed topology).
   * Other failures (a topology master that is restarting) are shown and the watch goes on.
   */
  readonly isFinal: (error: unknown) => Promise<boolean>;
  /** The time shown in a terminal's header; injected by tests. */
  readonly now?: () => Date;
}

/**
 * Redraws `render`'s output every interval until the user interrupts (the command then succeeds). On
 * a terminal each round clears the screen under a header with the time; elsewhere (a pipe, a file)
 * rounds follow each other separated by a blank line, so each can be read on its own.
 */
export async function watch(io: CliIo, options: WatchOptions): Promise<void> {
  const stop = interruption(io);
  const tty = io.stdout.isTTY === true;
  const now = options.now ?? (() => new Date());
  try {
    for (let round = 0; !stop.isInterrupted(); round++) {
      let block: string;
      let failure: string | undefined;
      try {
        const rendered = await Promise.race([options.render(), stop.interrupted.then(() => undefined)]);
        if (rendered === undefined) break;
        block = rendered;
      } catch (error) {
        if (await options.isFinal(error)) throw error;
        block = '';
        failure = `ardea: ${describeError(error)} (still watching)\n`;
      }
      if (tty) io.stdout.write(`${CLEAR_SCREEN}Every ${options.intervalSeconds} s: ${options.title}    ${now().toISOString()}\n\n`);
      else if (round > 0) io.stdout.write('\n');
      io.stdout.write(block);
      if (failure) io.stderr.write(failure);
      await pause(options.intervalSeconds * 1000, stop);
    }
  } finally {
    stop.dispose();
  }
}

/** A watch's `isFinal` for a topology: the round failed and the topology is no longer there. */
export function topologyGone(exists: () => Promise<boolean>): (error: unknown) => Promise<boolean> {
  return async (error) => {
    if (error instanceof ArdeaError && error.code === 'topology.not-found') return true;
    try {
      return !(await exists());
    } catch {
      // The state manager itself did not answer: that may pass too.
      return false;
    }
  };
}

/** Ends a watch when the watched topology has no record left (killed). */
export const watchedTopology = (ardea: Ardea, name: string) =>
  topologyGone(async () => (await ardea.state.get('topology', name)) !== undefined);

export async function requireTopology(ardea: Ardea, name: string): Promise<void> {
  if (!(await ardea.state.get('topology', name)))
    throw new ArdeaError(
      `no topology '${name}' on cluster ${ardea.config.cluster}; 'ardea list ${ardea.config.cluster}' shows the running ones`,
      { code: 'topology.not-found' },
    );
}

/**
 * Runs `render` once, or with `watchSeconds` again and again until interrupted. Rounds of a watch
 * that fail are shown and the watch goes on, unless the topology is gone.
 */
export async function onceOrWatch(
  io: CliIo,
  ardea: Ardea,
  name: string,
  title: string,
  watchSeconds: number | undefined,
  render: () => Promise<string>,
): Promise<void> {
  if (watchSeconds === undefined) {
    io.stdout.write(await render());
    return;
  }
  await requireTopology(ardea, name);
  await watch(io, { intervalSeconds: watchSeconds, title, render, isFinal: watchedTopology(ardea, name) });
}
