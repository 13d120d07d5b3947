/** What the metrics cache of a topology answers: `ardea metrics --json`, the health manager's sensor, the tracker. */

/** Metrics of one component (or one instance), as `ardea metrics --json` prints them. */
export interface ComponentMetrics {
  /** Cumulative since the instances started. */
  readonly emitted: number;
  readonly executed: number;
  readonly acked: number;
  readonly failed: number;
  readonly errors: number;
  /** Over the window: tuples per second. */
  readonly emitRate: number;
  readonly executeRate: number;
  /** Cumulative emits per output stream (they add up to `emitted`). */
  readonly emittedByStream?: Readonly<Record<string, number>>;
  /** Over the window: emits per second per output stream (they add up to `emitRate`). */
  readonly emitRateByStream?: Readonly<Record<string, number>>;
  /** Over the window: milliseconds spent above the high watermark (summed over instances). */
  readonly backpressureMs: number;
  /** Latest: bytes queued towards the instances. */
  readonly pendingBytes: number;
  /** Since start: the most bytes ever queued towards one instance. */
  readonly maxPendingBytes: number;
  /**
   * Since submit, over every process of their containers: workers restarted after they died or
   * their stream manager terminated them (hung, over memory).
   */
  readonly restarts: number;
  /** Since submit, of `restarts`: workers terminated because they made no progress (hung). */
  readonly hungRestarts: number;
  /** Since submit, of `restarts`: workers terminated because their container exceeded its RAM. */
  readonly memoryRestarts: number;
  /** Over the window: hung and memory restarts. */
  readonly recentHungRestarts: number;
  readonly recentMemoryRestarts: number;
  /** Latest: the workers' own memory (V8 heap plus Buffers and ArrayBuffers). */
  readonly memoryBytes: number;
  /** Over the window: restarts of any kind (a crash loop shows here). */
  readonly recentRestarts: number;
  /** Spouts that report one: the backlog at their source, latest. */
  readonly backlog?: number;
  /** Spouts that report a backlog: how fast it grew over the window, per second (negative: it shrank). */
  readonly backlogGrowthRate?: number;
  /**
   * Since submit: tuple trees of a spout that did not complete within `topology.messageTimeoutMs`
   * (at-least-once). They are counted in `failed` too. Absent from masters older than the CLI.
   */
  readonly timedOut?: number;
  /**
   * Over the window, per second: acks and fails (a spout's: tuple trees completed and failed; a bolt's:
   * inputs it acked and failed). Absent from masters older than the CLI.
   */
  readonly ackRate?: number;
  readonly failRate?: number;
  /**
   * Spouts under at-least-once, over the window: the time from a tuple's emit to the completion of its
   * tree. Percentiles are the upper bound of the histogram bucket they fall in (buckets double from
   * 64 µs); one beyond the last bound (about 16.8 s) is given as that bound. Absent when no tree
   * completed in the window.
   */
  readonly completeLatencyMs?: LatencySummary;
  /** Over the window: mean execute time per tuple. */
  readonly executeLatencyMs: number;
  /** Over the window: fraction of time spent in user code (1 = always busy), averaged over instances. */
  readonly busyFraction: number;
  readonly instanceCount: number;
}

/** A latency distribution over a window, in milliseconds. */
export interface LatencySummary {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
}

export type ReliabilityMode = 'at-most-once' | 'at-least-once' | 'effectively-once';

/** A checkpoint every instance saved its state for (effectively-once). */
export interface CommittedCheckpoint {
  readonly checkpointId: number;
  /** When it was committed (ms since the epoch). */
  readonly completedAt: number;
  /** From the start of the checkpoint to its commit. */
  readonly durationMs: number;
  /** The saved state of every instance, summed. */
  readonly bytes: number;
}

/** A rollback of the whole topology to a checkpoint (effectively-once). */
export interface TopologyRestore {
  /** The epoch the topology runs in since this restore. */
  readonly epoch: number;
  /** The checkpoint restored; absent when none was committed yet and the topology started over from empty state. */
  readonly checkpointId?: number;
  readonly at: number;
  /** What made the topology roll back (a container failed, a rescale, ...). */
  readonly reason: string;
}

/** The delivery guarantee of a topology and, under effectively-once, its checkpoints and restores since container 0 started. */
export interface DeliveryMetrics {
  readonly reliability?: ReliabilityMode;
  readonly lastCheckpoint?: CommittedCheckpoint;
  /** How many checkpoints were committed. */
  readonly checkpoints: number;
  /** How often the topology rolled back to a checkpoint. */
  readonly restores: number;
  readonly lastRestore?: TopologyRestore;
}

export interface StreamManagerMetrics {
  readonly backpressureInitiatedMs: number;
  readonly spoutsPausedMs: number;
  /** Over the window: the fraction of time this container's spouts were paused by backpressure. */
  readonly spoutsPausedFraction: number;
  /** CPU seconds used by the container process over the window, per second. */
  readonly cpuCores: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Since submit: how often the container's process was replaced (it died, or was restarted). */
  readonly restarts: number;
  /** Since submit: frames and tuples this container could deliver nowhere (see {@link MetricsView.droppedTuples}). */
  readonly droppedFrames: number;
  readonly droppedTuples: number;
  /** The container's RAM in the packing plan, which its stream manager keeps RSS below. */
  readonly ramLimitBytes?: number;
}

export interface MetricsView {
  readonly windowMs: number;
  readonly timestamp: number;
  readonly components: Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }>;
  readonly streamManagers: Record<string, StreamManagerMetrics>;
  /**
   * Since submit, over every container including removed ones: frames and tuples a stream manager
   * could deliver nowhere. A drop is an engine bug (or a plan change that timed out), never a
   * crash's in-flight loss: it should always be 0.
   */
  readonly droppedFrames: number;
  readonly droppedTuples: number;
  /**
   * The delivery guarantee, checkpoints and restores. Not carried across a restart of container 0:
   * counts start again there. Absent from masters older than the CLI.
   */
  readonly delivery?: DeliveryMetrics;
}

/** The errors of one instance: how many, and the last one its worker reported (`ardea exceptions`, the tracker). */
export interface InstanceExceptions {
  /** The instance's name, `container_<container>_<component>_<task>`. */
  readonly instance: string;
  readonly component: string;
  readonly containerId: number;
  readonly taskId: number;
  /** Since submit: what execute, nextTuple, ack or fail threw, and promises they returned that rejected. */
  readonly count: number;
  /**
   * The last error the worker reported, with its stack when it had one. A worker reports at most one
   * error a second, so with many errors this is the last one reported, not always the very last.
   */
  readonly last?: { readonly message: string; readonly stack?: string; readonly at: number };
}

/** Every instance the metrics cache heard from, errors or not, as `ardea exceptions` and the tracker show them. */
export interface ExceptionsView {
  readonly timestamp: number;
  readonly instances: readonly InstanceExceptions[];
}

/** A component's (or an instance's) values over one interval of the metrics series. */
export interface TimelineValues {
  readonly emitRate: number;
  readonly executeRate: number;
  readonly ackRate: number;
  readonly failRate: number;
  /** Errors per second. */
  readonly errorRate: number;
  /** Mean execute time of the tuples executed in the interval. */
  readonly executeLatencyMs: number;
  /** Fraction of the interval spent in user code, averaged over instances. */
  readonly busyFraction: number;
  /** Milliseconds of the interval spent above the high watermark, summed over instances. */
  readonly backpressureMs: number;
  /** At the end of the interval: bytes queued towards the instances. */
  readonly pendingBytes: number;
  readonly instanceCount: number;
}

/** The values of every component over the interval that ends at `timestamp`. */
export interface MetricsTimelinePoint {
  readonly timestamp: number;
  readonly components: Readonly<Record<string, TimelineValues & { readonly instances?: Readonly<Record<string, TimelineValues>> }>>;
}

/**
 * The metrics series the cache keeps (the last `topology.metricsSamples` samples of every container,
 * one per `topology.metricsIntervalMs`), as rates per interval, oldest first.
 */
export interface MetricsTimeline {
  readonly intervalMs: number;
  readonly points: readonly MetricsTimelinePoint[];
}

/** Where container 0 runs and what it runs: `ardea version`'s cluster side. */
export interface RuntimeInfo {
  readonly ardeaVersion: string;
  readonly nodeVersion: string;
  /** When container 0's process started (ms since the epoch). */
  readonly startedAt: number;
  readonly host: string;
}
