import type { MetricsTotals } from '../model/runtime-state.js';
import type {
  CommittedCheckpoint,
  ComponentMetrics,
  DeliveryMetrics,
  ExceptionsView,
  InstanceExceptions,
  MetricsTimeline,
  MetricsTimelinePoint,
  TimelineValues,
  LatencySummary,
  MetricsView,
  ReliabilityMode,
  StreamManagerMetrics,
  TopologyRestore,
} from '../model/metrics.js';
import type { InstanceErrorReport, InstanceMetricsSample, MetricsReport, StreamManagerMetricsSample } from './control-messages.js';
import { LATENCY_BUCKETS, latencyBucketUpperMs } from './instance/messages.js';

/** Counters of an instance that only grow; a restarted process starts them from zero again. */
type CumulativeKey =
  | 'emitted'
  | 'executed'
  | 'acked'
  | 'failed'
  | 'timedOut'
  | 'completed'
  | 'completeLatencyNs'
  | 'errors'
  | 'busyNs'
  | 'executeNs'
  | 'backpressureMs'
  | RestartKey;
const CUMULATIVE_KEYS: readonly CumulativeKey[] = [
  'emitted',
  'executed',
  'acked',
  'failed',
  'timedOut',
  'completed',
  'completeLatencyNs',
  'errors',
  'busyNs',
  'executeNs',
  'backpressureMs',
  'restarts',
  'hungRestarts',
  'memoryRestarts',
];
/** Restart counts, by reason: every restart, and of those the ones the stream manager made (hung, over memory). */
type RestartKey = 'restarts' | 'hungRestarts' | 'memoryRestarts';
/** Cumulative counts a component sums over its instances, the retired ones included. */
type TotalKey = RestartKey | 'emitted' | 'executed' | 'acked' | 'failed' | 'timedOut' | 'errors';
/**
 * The cumulative keys, plus `emitted:<stream>` for each output stream and `completeLatency:<bucket>`
 * for each complete-latency bucket (carried across restarts like the rest): flat, so that the totals
 * the state manager keeps stay a plain record of counts.
 */
type InstanceCounts = Record<CumulativeKey, number> & Record<string, number>;
const STREAM_KEY_PREFIX = 'emitted:';
const BUCKET_KEY_PREFIX = 'completeLatency:';
const PREFIXES = [STREAM_KEY_PREFIX, BUCKET_KEY_PREFIX];
/** A percentile in the last bucket, which has no upper bound, is given as the bound below it. */
const HIGHEST_BOUND_MS = latencyBucketUpperMs(LATENCY_BUCKETS - 2);

type StreamManagerKey = 'backpressureInitiatedMs' | 'spoutsPausedMs' | 'cpuUserUs' | 'cpuSystemUs' | 'droppedFrames' | 'droppedTuples';
const STREAM_MANAGER_KEYS: readonly StreamManagerKey[] = [
  'backpressureInitiatedMs',
  'spoutsPausedMs',
  'cpuUserUs',
  'cpuSystemUs',
  'droppedFrames',
  'droppedTuples',
];
type StreamManagerCounts = Record<StreamManagerKey, number>;

function counts<K extends string>(
  keys: readonly K[],
  sample: Readonly<Partial<Record<K, number>>> | undefined,
  offset?: Readonly<Partial<Record<K, number>>>,
): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, (sample?.[key] ?? 0) + (offset?.[key] ?? 0)])) as Record<K, number>;
}

/** What an instance counted: a sample as a stream manager sends it, or counts as the cache stores them. */
type CountSource =
  | (Partial<Record<CumulativeKey, number>> & {
      readonly emittedByStream?: Readonly<Record<string, number>>;
      readonly completeLatencyHistogram?: readonly number[];
    })
  | Readonly<Record<string, number>>;

/** The counts of a sample or of stored counts, flat (see {@link InstanceCounts}); counts it lacks are left out. */
function flatCounts(source: CountSource | undefined): Record<string, number> {
  const result: Record<string, number> = {};
  const sample = source as Readonly<Record<string, unknown>> | undefined;
  for (const [key, n] of Object.entries(sample ?? {})) {
    if (typeof n !== 'number') continue;
    if ((CUMULATIVE_KEYS as readonly string[]).includes(key) || PREFIXES.some((prefix) => key.startsWith(prefix))) result[key] = n;
  }
  const { emittedByStream, completeLatencyHistogram } = (source ?? {}) as Exclude<CountSource, Readonly<Record<string, number>>>;
  for (const [stream, n] of Object.entries(emittedByStream ?? {})) result[STREAM_KEY_PREFIX + stream] = n;
  completeLatencyHistogram?.forEach((n, bucket) => (result[BUCKET_KEY_PREFIX + bucket] = n));
  return result;
}

/** An instance's counts (its sample, or stored counts) plus an offset, per-stream emits and latency buckets included. */
function instanceCounts(sample: CountSource | undefined, offset?: Readonly<Record<string, number>>): InstanceCounts {
  const result: Record<string, number> = counts(CUMULATIVE_KEYS, undefined);
  for (const source of [sample, offset]) for (const [key, n] of Object.entries(flatCounts(source))) result[key] = (result[key] ?? 0) + n;
  return result as InstanceCounts;
}

/** The complete-latency histogram in stored counts, every bucket (0 where none was counted). */
function histogramOf(stored: Readonly<Record<string, number>>): number[] {
  return Array.from({ length: LATENCY_BUCKETS }, (_, bucket) => stored[BUCKET_KEY_PREFIX + bucket] ?? 0);
}

/** The per-stream emits in stored counts; undefined when there are none. */
function emittedByStreamOf(stored: Readonly<Record<string, number>>): Record<string, number> | undefined {
  const entries = Object.entries(stored).filter(([key]) => key.startsWith(STREAM_KEY_PREFIX));
  return entries.length === 0 ? undefined : Object.fromEntries(entries.map(([key, n]) => [key.slice(STREAM_KEY_PREFIX.length), n]));
}

/** Per-stream counts added key by key; undefined when neither side has any. */
function addByStream(
  a: Readonly<Record<string, number>> | undefined,
  b: Readonly<Record<string, number>> | undefined,
): Record<string, number> | undefined {
  if (!a && !b) return undefined;
  const sum: Record<string, number> = { ...a };
  for (const [stream, count] of Object.entries(b ?? {})) sum[stream] = (sum[stream] ?? 0) + count;
  return sum;
}

interface ContainerRecord {
  incarnation: string;
  restarts: number;
  /** What earlier processes of the container counted, added to what the current one reports. */
  streamManagerOffsets: StreamManagerCounts;
  /** Incarnations replaced by a newer one: a late message from one of them changes nothing. */
  readonly former: Set<string>;
}

export interface MetricsCacheOptions {
  /** How many series samples per container are kept. */
  readonly maxSamples: number;
  /** How often containers take a series sample: the timeline's interval. */
  readonly intervalMs: number;
  readonly topologyId: string;
  /** The topology's delivery guarantee, shown in the view's `delivery` section. */
  readonly reliability?: ReliabilityMode;
  /** Called whenever what the cache carries changes, to keep it (see {@link MetricsCache.totals}). */
  readonly onTotalsChange?: (totals: MetricsTotals) => void;
}

/**
 * Keeps a bounded series of reports per container (the topology's metrics cache, in container 0)
 * and derives cumulative and windowed values from it.
 *
 * Counts stay cumulative across process restarts: every report names the process (incarnation)
 * that counted, and when a container's process is replaced the cache carries the last counts it
 * heard from the old one forward as an offset. Between series samples stream managers send the
 * same counters as heartbeats, which update those last counts without adding a sample; so what a
 * process counted before it died is lost from the metrics only since its last heartbeat.
 */
export class MetricsCache {
  private readonly maxSamples: number;
  private readonly intervalMs: number;
  private readonly topologyId: string;
  /**
   * The last error every instance reported, kept beyond the process that reported it (a restarted
   * container's stream manager no longer knows it) and beyond the instance (scaled away).
   */
  private readonly lastErrors = new Map<string, InstanceErrorReport>();
  private readonly series = new Map<number, MetricsReport[]>();
  /** The latest report or heartbeat of every container's current process, as it sent it. */
  private readonly latestRaw = new Map<number, MetricsReport>();
  private readonly containers = new Map<number, ContainerRecord>();
  /** Counts of earlier processes of an instance, added to what its current process reports. */
  private readonly offsets = new Map<string, InstanceCounts>();
  /**
   * Last counts of every instance that is gone (scaled away, or its container removed): cumulative
   * counts of a component must not shrink when its parallelism does.
   */
  private readonly retired = new Map<string, { component: string; taskId: number; counts: InstanceCounts }>();
  private retiredDrops = { frames: 0, tuples: 0 };
  private readonly onTotalsChange: (totals: MetricsTotals) => void;
  private readonly reliability: ReliabilityMode | undefined;
  /** Checkpoints and restores since this cache started (not carried across a restart of container 0). */
  private checkpoints = 0;
  private lastCheckpoint: CommittedCheckpoint | undefined;
  private restores = 0;
  private lastRestore: TopologyRestore | undefined;

  constructor(options: MetricsCacheOptions) {
    this.maxSamples = options.maxSamples;
    this.intervalMs = options.intervalMs;
    this.topologyId = options.topologyId;
    this.reliability = options.reliability;
    this.onTotalsChange = options.onTotalsChange ?? (() => undefined);
  }

  /** The topology master committed a checkpoint: every instance saved its state for it. */
  checkpointCommitted(checkpoint: {
    readonly checkpointId: number;
    readonly startedAt: number;
    readonly completedAt: number;
    readonly bytes: number;
  }): void {
    this.checkpoints++;
    // Should commits ever be reported out of order, the last checkpoint stays the newest one.
    if (this.lastCheckpoint && this.lastCheckpoint.checkpointId > checkpoint.checkpointId) return;
    this.lastCheckpoint = {
      checkpointId: checkpoint.checkpointId,
      completedAt: checkpoint.completedAt,
      durationMs: Math.max(0, checkpoint.completedAt - checkpoint.startedAt),
      bytes: checkpoint.bytes,
    };
  }

  /** The topology rolled back to a checkpoint (`checkpointId` undefined: to empty state, none being committed yet). */
  restored(restore: {
    readonly epoch: number;
    readonly checkpointId: number | undefined;
    readonly at: number;
    readonly reason: string;
  }): void {
    this.restores++;
    this.lastRestore = {
      epoch: restore.epoch,
      ...(restore.checkpointId === undefined ? {} : { checkpointId: restore.checkpointId }),
      at: restore.at,
      reason: restore.reason,
    };
  }

  private delivery(): DeliveryMetrics {
    return {
      ...(this.reliability ? { reliability: this.reliability } : {}),
      ...(this.lastCheckpoint ? { lastCheckpoint: { ...this.lastCheckpoint } } : {}),
      checkpoints: this.checkpoints,
      restores: this.restores,
      ...(this.lastRestore ? { lastRestore: { ...this.lastRestore } } : {}),
    };
  }

  /**
   * Takes over what an earlier metrics cache of the same submission carried (container 0
   * restarted); call it before the first report arrives.
   */
  restore(totals: MetricsTotals): void {
    if (totals.topologyId !== this.topologyId) return;
    for (const [id, record] of Object.entries(totals.containers)) {
      this.containers.set(Number(id), {
        incarnation: record.incarnation,
        restarts: record.restarts,
        streamManagerOffsets: counts(STREAM_MANAGER_KEYS, record.streamManagerOffsets),
        former: new Set(),
      });
    }
    for (const [name, offset] of Object.entries(totals.instanceOffsets)) this.offsets.set(name, instanceCounts(offset));
    for (const [name, gone] of Object.entries(totals.retired))
      this.retired.set(name, { component: gone.component, taskId: gone.taskId, counts: instanceCounts(gone.counts) });
    this.retiredDrops = { ...totals.retiredDrops };
  }

  /** A sample of a container's series (taken at a multiple of the metrics interval). */
  add(raw: MetricsReport): void {
    const report = this.observe(raw);
    if (!report) return;
    const list = this.series.get(report.containerId) ?? [];
    list.push(report);
    if (list.length > this.maxSamples) list.splice(0, list.length - this.maxSamples);
    this.series.set(report.containerId, list);
  }

  /** A heartbeat: the counters of a container's process between two samples. */
  heartbeat(raw: MetricsReport): void {
    this.observe(raw);
  }

  /**
   * Takes in what a container's process counted and returns it continued from its earlier
   * processes (undefined for a late message of a process already replaced). A new incarnation
   * carries the last counts heard from the one it replaces forward; an instance the container no
   * longer reports is retired with its last counts.
   */
  private observe(raw: MetricsReport): MetricsReport | undefined {
    const id = raw.containerId;
    let changed = false;
    let container = this.containers.get(id);
    if (container?.former.has(raw.incarnation)) return undefined;
    const previous = this.latestRaw.get(id);
    if (previous) {
      for (const [name, sample] of Object.entries(previous.instances)) {
        if (name in raw.instances) continue;
        this.retire(name, sample);
        changed = true;
      }
    }
    if (!container) {
      container = {
        incarnation: raw.incarnation,
        restarts: 0,
        streamManagerOffsets: counts(STREAM_MANAGER_KEYS, undefined),
        former: new Set(),
      };
      this.containers.set(id, container);
      changed = true;
    } else if (container.incarnation !== raw.incarnation) {
      // Without a previous message (this cache restarted since), what the old process counted after
      // the totals were last kept is unknown: nothing more can be carried.
      if (previous) {
        for (const [name, sample] of Object.entries(previous.instances)) {
          if (name in raw.instances) this.offsets.set(name, instanceCounts(sample, this.offsets.get(name)));
        }
        container.streamManagerOffsets = counts(STREAM_MANAGER_KEYS, previous.streamManager, container.streamManagerOffsets);
      }
      container.former.add(container.incarnation);
      container.incarnation = raw.incarnation;
      container.restarts++;
      changed = true;
    }
    for (const [name, sample] of Object.entries(raw.instances)) {
      if (this.retired.delete(name)) changed = true;
      if (sample.lastError) this.lastErrors.set(name, sample.lastError);
    }
    this.latestRaw.set(id, raw);
    if (changed) this.onTotalsChange(this.totals());
    return {
      ...raw,
      instances: Object.fromEntries(
        Object.entries(raw.instances).map(([name, sample]) => [name, continuedSample(sample, this.offsets.get(name))]),
      ),
      streamManager: { ...raw.streamManager, ...counts(STREAM_MANAGER_KEYS, raw.streamManager, container.streamManagerOffsets) },
    };
  }

  private retire(name: string, sample: InstanceMetricsSample): void {
    this.retired.set(name, { component: sample.component, taskId: sample.taskId, counts: instanceCounts(sample, this.offsets.get(name)) });
    this.offsets.delete(name);
  }

  /** What the cache carries across restarts, for the state manager. */
  totals(): MetricsTotals {
    return {
      topologyId: this.topologyId,
      containers: Object.fromEntries(
        [...this.containers].map(([id, c]) => [
          String(id),
          { incarnation: c.incarnation, restarts: c.restarts, streamManagerOffsets: { ...c.streamManagerOffsets } },
        ]),
      ),
      instanceOffsets: Object.fromEntries([...this.offsets].map(([name, offset]) => [name, { ...offset }])),
      retired: Object.fromEntries([...this.retired].map(([name, gone]) => [name, { ...gone, counts: { ...gone.counts } }])),
      retiredDrops: { ...this.retiredDrops },
    };
  }

  /** Forgets containers that left the plan (scale-down), keeping their instances' last counts. */
  retain(containerIds: ReadonlySet<number>): void {
    let changed = false;
    for (const [id, container] of this.containers) {
      if (containerIds.has(id)) continue;
      const last = this.latestRaw.get(id);
      if (last) {
        for (const [name, sample] of Object.entries(last.instances)) this.retire(name, sample);
        const drops = counts(STREAM_MANAGER_KEYS, last.streamManager, container.streamManagerOffsets);
        this.retiredDrops = {
          frames: this.retiredDrops.frames + drops.droppedFrames,
          tuples: this.retiredDrops.tuples + drops.droppedTuples,
        };
      }
      this.series.delete(id);
      this.latestRaw.delete(id);
      this.containers.delete(id);
      changed = true;
    }
    if (changed) this.onTotalsChange(this.totals());
  }

  /** Every instance's error count and last reported error: those running and those gone that had errors. */
  exceptions(now = Date.now()): ExceptionsView {
    const instances: InstanceExceptions[] = [];
    const entry = (name: string, containerId: number, component: string, taskId: number, count: number): InstanceExceptions => {
      const last = this.lastErrors.get(name);
      return { instance: name, component, containerId, taskId, count, ...(last ? { last: { ...last } } : {}) };
    };
    const running = new Set<string>();
    for (const [containerId, raw] of this.latestRaw) {
      for (const [name, sample] of Object.entries(raw.instances)) {
        running.add(name);
        const offset = this.offsets.get(name)?.errors ?? 0;
        instances.push(entry(name, containerId, sample.component, sample.taskId, sample.errors + offset));
      }
    }
    for (const [name, gone] of this.retired) {
      if (running.has(name) || !gone.counts.errors) continue;
      instances.push(entry(name, containerOfInstance(name), gone.component, gone.taskId, gone.counts.errors));
    }
    instances.sort((a, b) => a.component.localeCompare(b.component) || a.containerId - b.containerId || a.taskId - b.taskId);
    return { timestamp: now, instances };
  }

  /**
   * The series as values per interval, oldest first. Containers sample at multiples of the interval,
   * so samples of different containers taken at the same tick share a point; a container's first
   * sample (and the first after a gap the series dropped) has no interval before it and adds nothing.
   */
  timeline(options: { instances: boolean; since?: number }): MetricsTimeline {
    const tick = (timestamp: number) => Math.round(timestamp / this.intervalMs) * this.intervalMs;
    type Parts = Map<string, Array<{ name: string; values: TimelineValues }>>;
    const byTick = new Map<number, Parts>();
    for (const list of this.series.values()) {
      for (let i = 1; i < list.length; i++) {
        const then = list[i - 1]!;
        const now = list[i]!;
        const at = tick(now.timestamp);
        if (options.since !== undefined && at < options.since) continue;
        const seconds = Math.max(0.001, (now.timestamp - then.timestamp) / 1000);
        const parts: Parts = byTick.get(at) ?? new Map();
        byTick.set(at, parts);
        for (const [name, sample] of Object.entries(now.instances)) {
          const before = then.instances[name];
          const metrics = instanceMetrics(sample, before, seconds, completionsOf(sample, before));
          const values: TimelineValues = {
            emitRate: metrics.emitRate,
            executeRate: metrics.executeRate,
            ackRate: metrics.ackRate ?? 0,
            failRate: metrics.failRate ?? 0,
            errorRate: before ? Math.max(0, sample.errors - before.errors) / seconds : 0,
            executeLatencyMs: metrics.executeLatencyMs,
            busyFraction: metrics.busyFraction,
            backpressureMs: metrics.backpressureMs,
            pendingBytes: metrics.pendingBytes,
            instanceCount: 1,
          };
          const group = parts.get(sample.component) ?? [];
          group.push({ name, values });
          parts.set(sample.component, group);
        }
      }
    }
    const points: MetricsTimelinePoint[] = [...byTick.entries()]
      .sort(([a], [b]) => a - b)
      .map(([timestamp, parts]) => ({
        timestamp,
        components: Object.fromEntries(
          [...parts].map(([component, group]) => [
            component,
            {
              ...sumTimelineValues(group.map((g) => g.values)),
              ...(options.instances ? { instances: Object.fromEntries(group.map((g) => [g.name, g.values])) } : {}),
            },
          ]),
        ),
      }));
    return { intervalMs: this.intervalMs, points };
  }

  view(options: { windowMs: number; instances: boolean; now?: number }): MetricsView {
    const now = options.now ?? Date.now();
    const components: MetricsView['components'] = {};
    const streamManagers: MetricsView['streamManagers'] = {};
    const perComponent = new Map<string, Array<{ name: string; metrics: ComponentMetrics; completions: Completions }>>();
    let droppedFrames = this.retiredDrops.frames;
    let droppedTuples = this.retiredDrops.tuples;
    for (const [containerId, list] of this.series) {
      const latest = list[list.length - 1];
      if (!latest) continue;
      const base = baseline(list, latest.timestamp - options.windowMs);
      const seconds = Math.max(0.001, (latest.timestamp - (base?.timestamp ?? latest.timestamp - options.windowMs)) / 1000);
      for (const [name, sample] of Object.entries(latest.instances)) {
        const completions = completionsOf(sample, base?.instances[name]);
        const metrics = instanceMetrics(sample, base?.instances[name], seconds, completions);
        const group = perComponent.get(sample.component) ?? [];
        group.push({ name, metrics, completions });
        perComponent.set(sample.component, group);
      }
      const metrics = streamManagerMetrics(
        latest.streamManager,
        base?.streamManager,
        seconds,
        this.containers.get(containerId)?.restarts ?? 0,
      );
      streamManagers[`stmgr-${containerId}`] = metrics;
      droppedFrames += metrics.droppedFrames;
      droppedTuples += metrics.droppedTuples;
    }
    const retiredOf = (component: string, key: TotalKey) =>
      [...this.retired.values()].filter((gone) => gone.component === component).reduce((acc, gone) => acc + (gone.counts[key] ?? 0), 0);
    const retiredByStream = (component: string) =>
      [...this.retired.values()]
        .filter((gone) => gone.component === component)
        .reduce<Record<string, number> | undefined>((acc, gone) => addByStream(acc, emittedByStreamOf(gone.counts)), undefined);
    for (const [component, group] of perComponent) {
      const sum = (
        key: Exclude<
          keyof ComponentMetrics,
          'backlog' | 'backlogGrowthRate' | 'emittedByStream' | 'emitRateByStream' | 'completeLatencyMs'
        >,
      ) => group.reduce((acc, g) => acc + (g.metrics[key] ?? 0), 0);
      const byStream = (key: 'emittedByStream' | 'emitRateByStream') =>
        group.reduce<Record<string, number> | undefined>((acc, g) => addByStream(acc, g.metrics[key]), undefined);
      const emittedByStream = addByStream(byStream('emittedByStream'), retiredByStream(component));
      const emitRateByStream = byStream('emitRateByStream');
      const total = (key: TotalKey) => sum(key) + retiredOf(component, key);
      const executed = sum('executeRate');
      const completeLatencyMs = latencySummary(group.map((g) => g.completions));
      components[component] = {
        emitted: total('emitted'),
        executed: total('executed'),
        acked: total('acked'),
        failed: total('failed'),
        timedOut: total('timedOut'),
        errors: total('errors'),
        emitRate: sum('emitRate'),
        executeRate: executed,
        ackRate: sum('ackRate'),
        failRate: sum('failRate'),
        ...(completeLatencyMs ? { completeLatencyMs } : {}),
        ...(emittedByStream ? { emittedByStream } : {}),
        ...(emitRateByStream ? { emitRateByStream } : {}),
        backpressureMs: sum('backpressureMs'),
        pendingBytes: sum('pendingBytes'),
        maxPendingBytes: Math.max(...group.map((g) => g.metrics.maxPendingBytes)),
        restarts: total('restarts'),
        hungRestarts: total('hungRestarts'),
        memoryRestarts: total('memoryRestarts'),
        recentHungRestarts: sum('recentHungRestarts'),
        recentMemoryRestarts: sum('recentMemoryRestarts'),
        memoryBytes: sum('memoryBytes'),
        recentRestarts: sum('recentRestarts'),
        ...backlogOf(group.map((g) => g.metrics)),
        executeLatencyMs:
          executed > 0 ? group.reduce((acc, g) => acc + g.metrics.executeLatencyMs * g.metrics.executeRate, 0) / executed : 0,
        busyFraction: sum('busyFraction') / group.length,
        instanceCount: group.length,
        ...(options.instances ? { instances: Object.fromEntries(group.map((g) => [g.name, g.metrics])) } : {}),
      };
    }
    return {
      windowMs: options.windowMs,
      timestamp: now,
      components,
      streamManagers,
      droppedFrames,
      droppedTuples,
      delivery: this.delivery(),
    };
  }
}

/** A component's values from its instances': rates and queues summed, latency weighted by what each executed, busy averaged. */
function sumTimelineValues(parts: readonly TimelineValues[]): TimelineValues {
  const sum = (key: keyof TimelineValues) => parts.reduce((acc, p) => acc + p[key], 0);
  const executeRate = sum('executeRate');
  return {
    emitRate: sum('emitRate'),
    executeRate,
    ackRate: sum('ackRate'),
    failRate: sum('failRate'),
    errorRate: sum('errorRate'),
    executeLatencyMs: executeRate > 0 ? parts.reduce((acc, p) => acc + p.executeLatencyMs * p.executeRate, 0) / executeRate : 0,
    busyFraction: parts.length > 0 ? sum('busyFraction') / parts.length : 0,
    backpressureMs: sum('backpressureMs'),
    pendingBytes: sum('pendingBytes'),
    instanceCount: parts.length,
  };
}

/** The container id in an instance name (`container_<id>_<component>_<task>`). */
function containerOfInstance(name: string): number {
  return Number(/^container_(\d+)_/.exec(name)?.[1] ?? -1);
}

/** The backlog of the instances that report one, summed; absent when none does. */
function backlogOf(metrics: readonly ComponentMetrics[]): Pick<ComponentMetrics, 'backlog' | 'backlogGrowthRate'> {
  const reporting = metrics.filter((m) => m.backlog !== undefined);
  if (reporting.length === 0) return {};
  return {
    backlog: reporting.reduce((acc, m) => acc + m.backlog!, 0),
    backlogGrowthRate: reporting.reduce((acc, m) => acc + (m.backlogGrowthRate ?? 0), 0),
  };
}

/** The newest sample at or before `cutoff`, or the oldest one if the series is shorter than the window. */
function baseline(list: readonly MetricsReport[], cutoff: number): MetricsReport | undefined {
  if (list.length < 2) return undefined;
  let chosen = list[0]!;
  for (const report of list) {
    if (report.timestamp > cutoff) break;
    chosen = report;
  }
  return chosen === list[list.length - 1] ? list[list.length - 2] : chosen;
}

/** Tuple trees a spout instance completed over the window: how many, their summed latency, and its histogram. */
interface Completions {
  readonly completed: number;
  readonly latencyNs: number;
  readonly histogram: readonly number[];
}

function completionsOf(now: InstanceMetricsSample, then: InstanceMetricsSample | undefined): Completions {
  // Without an earlier sample there is no window yet.
  if (!then) return { completed: 0, latencyNs: 0, histogram: [] };
  return {
    completed: Math.max(0, now.completed - then.completed),
    latencyNs: Math.max(0, now.completeLatencyNs - then.completeLatencyNs),
    histogram: Array.from({ length: LATENCY_BUCKETS }, (_, bucket) =>
      Math.max(0, (now.completeLatencyHistogram[bucket] ?? 0) - (then.completeLatencyHistogram[bucket] ?? 0)),
    ),
  };
}

/** Complete latency over the completions of one or more instances (their histograms summed); undefined when none completed. */
function latencySummary(parts: readonly Completions[]): LatencySummary | undefined {
  const completed = parts.reduce((acc, p) => acc + p.completed, 0);
  const histogram = Array.from({ length: LATENCY_BUCKETS }, (_, bucket) => parts.reduce((acc, p) => acc + (p.histogram[bucket] ?? 0), 0));
  const counted = histogram.reduce((acc, n) => acc + n, 0);
  if (completed === 0 || counted === 0) return undefined;
  // The bound of the bucket in which the cumulative count reaches the rank.
  const percentile = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * counted));
    let seen = 0;
    for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
      seen += histogram[bucket]!;
      if (seen >= rank) return Math.min(HIGHEST_BOUND_MS, latencyBucketUpperMs(bucket));
    }
    return HIGHEST_BOUND_MS;
  };
  return {
    mean: parts.reduce((acc, p) => acc + p.latencyNs, 0) / completed / 1e6,
    p50: percentile(0.5),
    p99: percentile(0.99),
  };
}

function instanceMetrics(
  now: InstanceMetricsSample,
  then: InstanceMetricsSample | undefined,
  seconds: number,
  completions: Completions,
): ComponentMetrics {
  // Without an earlier sample there is no window yet: windowed values start at the next report.
  const delta = (key: 'emitted' | 'executed' | 'acked' | 'failed' | 'busyNs' | 'executeNs' | 'backpressureMs') =>
    then ? Math.max(0, now[key] - then[key]) : 0;
  const executedDelta = delta('executed');
  const completeLatencyMs = latencySummary([completions]);
  return {
    emitted: now.emitted,
    executed: now.executed,
    acked: now.acked,
    failed: now.failed,
    timedOut: now.timedOut,
    errors: now.errors,
    emitRate: delta('emitted') / seconds,
    executeRate: executedDelta / seconds,
    ackRate: delta('acked') / seconds,
    failRate: delta('failed') / seconds,
    ...(completeLatencyMs ? { completeLatencyMs } : {}),
    ...(now.emittedByStream
      ? {
          emittedByStream: now.emittedByStream,
          emitRateByStream: Object.fromEntries(
            Object.entries(now.emittedByStream).map(([stream, count]) => [
              stream,
              then?.emittedByStream ? Math.max(0, count - (then.emittedByStream[stream] ?? 0)) / seconds : 0,
            ]),
          ),
        }
      : {}),
    backpressureMs: delta('backpressureMs'),
    pendingBytes: now.pendingBytes,
    maxPendingBytes: now.maxPendingBytes,
    restarts: now.restarts,
    hungRestarts: now.hungRestarts ?? 0,
    memoryRestarts: now.memoryRestarts ?? 0,
    recentHungRestarts: then ? Math.max(0, (now.hungRestarts ?? 0) - (then.hungRestarts ?? 0)) : 0,
    recentMemoryRestarts: then ? Math.max(0, (now.memoryRestarts ?? 0) - (then.memoryRestarts ?? 0)) : 0,
    memoryBytes: now.memoryBytes ?? 0,
    recentRestarts: then ? Math.max(0, now.restarts - then.restarts) : 0,
    ...(now.backlog === undefined
      ? {}
      : { backlog: now.backlog, backlogGrowthRate: then?.backlog === undefined ? 0 : (now.backlog - then.backlog) / seconds }),
    executeLatencyMs: executedDelta > 0 ? delta('executeNs') / executedDelta / 1e6 : 0,
    busyFraction: Math.min(1, delta('busyNs') / 1e9 / seconds),
    instanceCount: 1,
  };
}

function streamManagerMetrics(
  now: StreamManagerMetricsSample,
  then: StreamManagerMetricsSample | undefined,
  seconds: number,
  restarts: number,
): StreamManagerMetrics {
  const cpuUs = now.cpuUserUs + now.cpuSystemUs - (then ? then.cpuUserUs + then.cpuSystemUs : 0);
  return {
    backpressureInitiatedMs: now.backpressureInitiatedMs,
    spoutsPausedMs: now.spoutsPausedMs,
    spoutsPausedFraction: then ? Math.min(1, Math.max(0, now.spoutsPausedMs - then.spoutsPausedMs) / 1000 / seconds) : 0,
    cpuCores: then ? cpuUs / 1e6 / seconds : 0,
    rssBytes: now.rssBytes,
    heapUsedBytes: now.heapUsedBytes,
    restarts,
    droppedFrames: now.droppedFrames,
    droppedTuples: now.droppedTuples,
    ...(now.ramLimitBytes === undefined ? {} : { ramLimitBytes: now.ramLimitBytes }),
  };
}

/** A sample continued from its instance's earlier processes: every cumulative count, per stream and latency bucket too. */
function continuedSample(sample: InstanceMetricsSample, offset: Readonly<Record<string, number>> | undefined): InstanceMetricsSample {
  const continued = instanceCounts(sample, offset);
  const byStream = emittedByStreamOf(continued);
  return {
    ...sample,
    ...counts(CUMULATIVE_KEYS, continued),
    ...(byStream ? { emittedByStream: byStream } : {}),
    completeLatencyHistogram: histogramOf(continued),
  };
}
