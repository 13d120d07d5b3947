import type { TopologyDefinition } from '../../model/topology.js';

/**
 * Slots of an instance's counters in the shared buffer the worker increments and its stream manager
 * reads: reading needs no message, so every instance of a container is read at the same instant,
 * however busy the instance is.
 */
export const EMITTED = 0;
export const EXECUTED = 1;
export const ACKED = 2;
export const FAILED = 3;
export const ERRORS = 4;
export const BUSY_NS = 5;
export const EXECUTE_NS = 6;
/**
 * A gauge, not a counter: the spout's arrivals as of its last backlog sample (what it had emitted
 * then plus the backlog it reported); negative while the spout reports none. One value, written at
 * once, so a reader never pairs the backlog of one sample with the emit count of another.
 */
export const BACKLOG_ARRIVALS = 7;
/**
 * A gauge: when (Date.now()) the worker entered the user call it is in — execute of a frame, a
 * spout's nextTuple slice, a tick, onConfigChange — and 0 between calls. A worker stuck in one call
 * cannot say so; its stream manager reads this instead.
 */
export const BUSY_SINCE = 8;
/** A gauge: the worker's own memory (V8 heap plus memory outside it: Buffers, ArrayBuffers), as last sampled. */
export const MEMORY_BYTES = 9;
/** The first of one emit counter per output stream of the component, in the order it declares them. */
export const STREAM_EMITTED = 10;

/** Slots of an instance with `streams` output streams. */
export function counterSlots(streams: number): number {
  return STREAM_EMITTED + streams;
}

export function newCounterBuffer(streams: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(counterSlots(streams) * Float64Array.BYTES_PER_ELEMENT);
  new Float64Array(buffer)[BACKLOG_ARRIVALS] = -1;
  return buffer;
}

/** Counters of an instance whose worker is not running (yet): all zero, no backlog reported. */
export function idleCounters(streams: number): Float64Array {
  const view = new Float64Array(counterSlots(streams));
  view[BACKLOG_ARRIVALS] = -1;
  return view;
}

/** Emits per output stream since the worker started, in the order the component declares its streams. */
export function readStreamEmits(view: Float64Array): number[] {
  return [...view.subarray(STREAM_EMITTED)];
}

/**
 * The spout's backlog now, or undefined if it reports none: the last sample less what the spout
 * emitted since (each emit takes one tuple off it). Sampled a few times a second, while the emit
 * count is read live, so without that a spout catching up would read as having both emitted the
 * tuples and still holding them, and emitted + backlog would overshoot its arrivals by every tuple
 * emitted since the sample; this way emitted + backlog is its arrivals as of the last sample.
 */
export function readBacklog(view: Float64Array): number | undefined {
  const arrivals = view[BACKLOG_ARRIVALS]!;
  return arrivals >= 0 ? Math.max(0, arrivals - view[EMITTED]!) : undefined;
}

export function readCounters(view: Float64Array): InstanceCounters {
  return {
    emitted: view[EMITTED]!,
    executed: view[EXECUTED]!,
    acked: view[ACKED]!,
    failed: view[FAILED]!,
    errors: view[ERRORS]!,
    busyNs: view[BUSY_NS]!,
    executeNs: view[EXECUTE_NS]!,
  };
}

/** What an instance worker is started with (its `workerData`). */
export interface InstanceInit {
  /** The instance's counters, shared with its stream manager (see {@link readCounters}). */
  readonly counters: SharedArrayBuffer;
  /** URL of the topology bundle the worker imports to construct its component. */
  readonly bundleUrl: string;
  readonly definition: TopologyDefinition;
  readonly component: string;
  readonly taskId: number;
  readonly componentIndex: number;
  /**
   * Task ids per component from the physical plan, sorted. Absent while its stream manager has no
   * plan yet (a container starting): the instance then holds its output until a `tasks` message.
   */
  readonly tasks?: ReadonlyArray<readonly [string, readonly number[]]>;
  /** Runtime config overrides for this component. */
  readonly runtimeConfig: Readonly<Record<string, unknown>>;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Cumulative counters of one instance since it started. */
export interface InstanceCounters {
  readonly emitted: number;
  readonly executed: number;
  readonly acked: number;
  readonly failed: number;
  readonly errors: number;
  /** Time spent in user code (nextTuple or execute), in nanoseconds. */
  readonly busyNs: number;
  /** Execute time summed over executed tuples, in nanoseconds (bolts). */
  readonly executeNs: number;
}

export type ToInstance =
  | { readonly type: 'activate' }
  | { readonly type: 'deactivate' }
  /** Backpressure somewhere in the topology: spouts stop calling nextTuple until `resume`. */
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'data'; readonly frame: ArrayBuffer }
  /** Route by these task lists from now on; answered with `tasks-applied` once earlier output is flushed. */
  | { readonly type: 'tasks'; readonly version: number; readonly tasks: ReadonlyArray<readonly [string, readonly number[]]> }
  /** Answered with `config-applied` once `onConfigChange` ran. */
  | { readonly type: 'config'; readonly version: number; readonly runtimeConfig: Readonly<Record<string, unknown>> }
  /** Shuffle grouping routes around these tasks (hung workers being restarted) until told otherwise. */
  | { readonly type: 'avoid'; readonly tasks: readonly number[] }
  | { readonly type: 'shutdown' };

export type FromInstance =
  | { readonly type: 'ready' }
  | { readonly type: 'data'; readonly frames: ArrayBuffer[] }
  /** Bytes of delivered frames the instance has finished executing: the stream manager's credit. */
  | { readonly type: 'consumed'; readonly bytes: number }
  | { readonly type: 'error'; readonly message: string }
  /** The worker cannot go on; before `ready`, its component could not be built (open or prepare threw, or the module failed to load). */
  | { readonly type: 'failed'; readonly message: string; readonly stack?: string }
  | { readonly type: 'tasks-applied'; readonly version: number }
  /** `error`: what `onConfigChange` threw, if it did. */
  | { readonly type: 'config-applied'; readonly version: number; readonly error?: string }
  | { readonly type: 'closed' };
