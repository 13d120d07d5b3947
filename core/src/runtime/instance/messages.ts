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
/** Spouts under at-least-once: tuple trees that did not complete within the message timeout (also counted in FAILED). */
export const TIMED_OUT = 10;
/** Spouts under at-least-once: tuple trees completed (acked), and the sum of their complete latencies in ns. */
export const COMPLETED = 11;
export const COMPLETE_LATENCY_NS = 12;
/**
 * The first of {@link LATENCY_BUCKETS} counters of completed trees by complete latency: bucket i
 * counts latencies below 2^i * 64 µs (bucket 0: below 64 µs), the last one everything above.
 */
export const COMPLETE_LATENCY_HISTOGRAM = 13;
export const LATENCY_BUCKETS = 20;
/** Upper bound of latency bucket i in ms (the last bucket has none). */
export function latencyBucketUpperMs(bucket: number): number {
  return bucket >= LATENCY_BUCKETS - 1 ? Number.POSITIVE_INFINITY : (64 * 2 ** bucket) / 1000;
}
/** The bucket a complete latency in ns falls into. */
export function latencyBucketOf(latencyNs: number): number {
  const bucket = Math.ceil(Math.log2(Math.max(1, latencyNs / 64_000)));
  return Math.min(LATENCY_BUCKETS - 1, Math.max(0, bucket));
}
/** The first of one emit counter per output stream of the component, in the order it declares them. */
export const STREAM_EMITTED = COMPLETE_LATENCY_HISTOGRAM + LATENCY_BUCKETS;

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
 * The worker writes the counts while the stream manager reads them: a caller that reports `emitted`
 * passes the value it read, so both come from one read.
 */
export function readBacklog(view: Float64Array, emitted = view[EMITTED]!): number | undefined {
  const arrivals = view[BACKLOG_ARRIVALS]!;
  return arrivals >= 0 ? Math.max(0, arrivals - emitted) : undefined;
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
    timedOut: view[TIMED_OUT]!,
    completed: view[COMPLETED]!,
    completeLatencyNs: view[COMPLETE_LATENCY_NS]!,
    completeLatencyHistogram: [...view.subarray(COMPLETE_LATENCY_HISTOGRAM, COMPLETE_LATENCY_HISTOGRAM + LATENCY_BUCKETS)],
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
  readonly delivery: DeliverySettings;
  /** Effectively-once: the rollback epoch the worker starts in (it waits for a `restore` before it runs). */
  readonly epoch: number;
}

/** The topology's delivery settings an instance needs (see runtime-settings.ts). */
export interface DeliverySettings {
  readonly reliability: 'at-most-once' | 'at-least-once' | 'effectively-once';
  readonly messageTimeoutMs: number;
  readonly maxSpoutPending: number;
  readonly maxParallelism: number;
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
  /** Spouts under at-least-once: trees that timed out (also in `failed`). */
  readonly timedOut: number;
  /**
   * Spouts under at-least-once: trees that completed, their summed complete latency, and its
   * histogram (see {@link latencyBucketUpperMs}).
   */
  readonly completed: number;
  readonly completeLatencyNs: number;
  readonly completeLatencyHistogram: readonly number[];
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
  | { readonly type: 'shutdown' }
  /** Effectively-once, spouts: save state for this checkpoint and send its marker downstream. */
  | { readonly type: 'checkpoint'; readonly id: number }
  /** Effectively-once: checkpoint `id` is committed; postSave runs. */
  | { readonly type: 'committed'; readonly id: number }
  /**
   * Effectively-once: start over in `epoch` from the parts of checkpoint `checkpointId` that hold this
   * instance's state (none: empty state); answered with `restored`.
   */
  | {
      readonly type: 'restore';
      readonly epoch: number;
      readonly checkpointId?: number;
      readonly parts: readonly Uint8Array[];
      /** An instance an update added: the key groups it owns come from their previous owners, not from a checkpoint. */
      readonly groupsFromPeers?: boolean;
    }
  /** Effectively-once: plan `version` is fenced everywhere; hand the key groups it moved away to their new owners. */
  | { readonly type: 'handoff'; readonly version: number }
  /** Effectively-once: the state of key groups this instance now owns, from their previous owner. */
  | { readonly type: 'key-groups'; readonly epoch: number; readonly groups: readonly number[]; readonly data: Uint8Array };

export type FromInstance =
  | { readonly type: 'ready' }
  | { readonly type: 'data'; readonly frames: ArrayBuffer[] }
  /** Bytes of delivered frames the instance has finished executing: the stream manager's credit. */
  | { readonly type: 'consumed'; readonly bytes: number }
  /** What user code threw (at most one a second is sent; `errors` counts them all). */
  | { readonly type: 'error'; readonly message: string; readonly stack?: string }
  /** The worker cannot go on; before `ready`, its component could not be built (open or prepare threw, or the module failed to load). */
  | { readonly type: 'failed'; readonly message: string; readonly stack?: string }
  | { readonly type: 'tasks-applied'; readonly version: number }
  /** `error`: what `onConfigChange` threw, if it did. */
  | { readonly type: 'config-applied'; readonly version: number; readonly error?: string }
  | { readonly type: 'closed' }
  /** The instance's state for checkpoint `id` (its markers have left). */
  | { readonly type: 'snapshot'; readonly id: number; readonly data: Uint8Array }
  | { readonly type: 'restored'; readonly epoch: number }
  /** Key groups this instance no longer owns, for the instance that does. */
  | {
      readonly type: 'key-groups';
      readonly epoch: number;
      readonly toTask: number;
      readonly groups: readonly number[];
      readonly data: Uint8Array;
    }
  /** It handed off what plan `version` moved away and holds every key group the plan gives it. */
  | { readonly type: 'handoff-done'; readonly version: number }
  /** Effectively-once: the instance's state can no longer be trusted (see reportInconsistency); the topology must roll back. */
  | { readonly type: 'state-inconsistent'; readonly reason: string };
