import type { InstanceMetricsSample, MetricsReport, StreamManagerMetricsSample } from './control-messages.js';

type CumulativeKey = 'emitted' | 'executed' | 'acked' | 'failed' | 'errors' | 'busyNs' | 'executeNs' | 'backpressureMs';
const CUMULATIVE_KEYS: readonly CumulativeKey[] = ['emitted', 'executed', 'acked', 'failed', 'errors', 'busyNs', 'executeNs', 'backpressureMs'];

/** Restart counts: since the stream manager started, by reason. */
type RestartKey = 'restarts' | 'hungRestarts' | 'memoryRestarts';

type Cumulative = Pick<InstanceMetricsSample, CumulativeKey | 'emittedByStream'>;

function pick(sample: InstanceMetricsSample): Cumulative {
  const picked = Object.fromEntries(CUMULATIVE_KEYS.map((key) => [key, sample[key]])) as Pick<InstanceMetricsSample, CumulativeKey>;
  return sample.emittedByStream ? { ...picked, emittedByStream: sample.emittedByStream } : picked;
}

/** Per-stream counts added key by key; undefined when neither side has any. */
function addByStream(a: Readonly<Record<string, number>> | undefined, b: Readonly<Record<string, number>> | undefined): Record<string, number> | undefined {
  if (!a && !b) return undefined;
  const sum: Record<string, number> = { ...a };
  for (const [stream, count] of Object.entries(b ?? {})) sum[stream] = (sum[stream] ?? 0) + count;
  return sum;
}

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
  /** Since start: workers restarted after they died or their stream manager terminated them (hung, over memory). */
  readonly restarts: number;
  /** Since start, of `restarts`: workers terminated because they made no progress (hung). */
  readonly hungRestarts: number;
  /** Since start, of `restarts`: workers terminated because their container exceeded its RAM. */
  readonly memoryRestarts: number;
  /** Over the window: hung and memory restarts. */
  readonly recentHungRestarts: number;
  readonly recentMemoryRestarts: number;
  /** Latest: the workers' own memory (V8 heap plus Buffers and ArrayBuffers). */
  readonly memoryBytes: number;
  /** Over the window: the same (a crash loop shows here). */
  readonly recentRestarts: number;
  /** Spouts that report one: the backlog at their source, latest. */
  readonly backlog?: number;
  /** Spouts that report a backlog: how fast it grew over the window, per second (negative: it shrank). */
  readonly backlogGrowthRate?: number;
  /** Over the window: mean execute time per tuple. */
  readonly executeLatencyMs: number;
  /** Over the window: fraction of time spent in user code (1 = always busy), averaged over instances. */
  readonly busyFraction: number;
  readonly instanceCount: number;
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
  /** The container's RAM in the packing plan, which its stream manager keeps RSS below. */
  readonly ramLimitBytes?: number;
}

export interface MetricsView {
  readonly windowMs: number;
  readonly timestamp: number;
  readonly components: Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }>;
  readonly streamManagers: Record<string, StreamManagerMetrics>;
}

/**
 * Keeps a bounded series of reports per container (the topology's metrics cache, in container 0)
 * and derives cumulative and windowed values from it.
 */
export class MetricsCache {
  private readonly series = new Map<number, MetricsReport[]>();
  /**
   * Last sample of every instance that is gone (scaled away, or its container removed): cumulative
   * counts of a component must not shrink when its parallelism does.
   */
  private readonly retired = new Map<string, InstanceMetricsSample>();

  constructor(private readonly maxSamples: number) {}

  /** Counts of earlier processes of an instance whose container restarted, added to what it reports now. */
  private readonly offsets = new Map<string, Cumulative>();

  add(raw: MetricsReport): void {
    const list = this.series.get(raw.containerId) ?? [];
    const previous = list[list.length - 1];
    const report: MetricsReport = { ...raw, instances: Object.fromEntries(Object.entries(raw.instances).map(([name, sample]) => [name, this.continued(name, sample, previous?.instances[name])])) };
    if (previous) {
      for (const [name, sample] of Object.entries(previous.instances)) if (!(name in report.instances)) this.retired.set(name, sample);
    }
    for (const name of Object.keys(report.instances)) this.retired.delete(name);
    list.push(report);
    if (list.length > this.maxSamples) list.splice(0, list.length - this.maxSamples);
    this.series.set(report.containerId, list);
  }

  /**
   * A restarted container reports its instances from zero again; its counts continue from where the
   * previous process left off, so cumulative counts never go backwards.
   */
  private continued(name: string, sample: InstanceMetricsSample, previous: InstanceMetricsSample | undefined): InstanceMetricsSample {
    let offset = this.offsets.get(name);
    if (previous && offset === undefined && CUMULATIVE_KEYS.some((key) => sample[key] < previous[key])) offset = pick(previous);
    else if (previous && offset && CUMULATIVE_KEYS.some((key) => sample[key] + offset![key] < previous[key])) offset = pick(previous);
    if (!offset) return sample;
    this.offsets.set(name, offset);
    const adjusted = { ...sample };
    for (const key of CUMULATIVE_KEYS) adjusted[key] = sample[key] + offset[key];
    const byStream = addByStream(sample.emittedByStream, offset.emittedByStream);
    return byStream ? { ...adjusted, emittedByStream: byStream } : adjusted;
  }

  /** Forgets containers that left the plan (scale-down). */
  retain(containerIds: ReadonlySet<number>): void {
    for (const [id, list] of this.series) {
      if (containerIds.has(id)) continue;
      for (const [name, sample] of Object.entries(list[list.length - 1]?.instances ?? {})) this.retired.set(name, sample);
      this.series.delete(id);
    }
  }

  /** The latest report of every container. */
  latest(): MetricsReport[] {
    return [...this.series.values()].map((list) => list[list.length - 1]!).filter(Boolean);
  }

  view(options: { windowMs: number; instances: boolean; now?: number }): MetricsView {
    const now = options.now ?? Date.now();
    const components: MetricsView['components'] = {};
    const streamManagers: MetricsView['streamManagers'] = {};
    const perComponent = new Map<string, Array<{ name: string; metrics: ComponentMetrics }>>();
    for (const [containerId, list] of this.series) {
      const latest = list[list.length - 1];
      if (!latest) continue;
      const base = baseline(list, latest.timestamp - options.windowMs);
      const seconds = Math.max(0.001, (latest.timestamp - (base?.timestamp ?? latest.timestamp - options.windowMs)) / 1000);
      for (const [name, sample] of Object.entries(latest.instances)) {
        const metrics = instanceMetrics(sample, base?.instances[name], seconds);
        const group = perComponent.get(sample.component) ?? [];
        group.push({ name, metrics });
        perComponent.set(sample.component, group);
      }
      streamManagers[`stmgr-${containerId}`] = streamManagerMetrics(latest.streamManager, base?.streamManager, seconds);
    }
    const retiredOf = (component: string, key: RestartKey | 'emitted' | 'executed' | 'acked' | 'failed' | 'errors') =>
      [...this.retired.values()].filter((sample) => sample.component === component).reduce((acc, sample) => acc + (sample[key] ?? 0), 0);
    const retiredByStream = (component: string) =>
      [...this.retired.values()].filter((sample) => sample.component === component).reduce<Record<string, number> | undefined>((acc, sample) => addByStream(acc, sample.emittedByStream), undefined);
    for (const [component, group] of perComponent) {
      const sum = (key: Exclude<keyof ComponentMetrics, 'backlog' | 'backlogGrowthRate' | 'emittedByStream' | 'emitRateByStream'>) => group.reduce((acc, g) => acc + g.metrics[key], 0);
      const byStream = (key: 'emittedByStream' | 'emitRateByStream') => group.reduce<Record<string, number> | undefined>((acc, g) => addByStream(acc, g.metrics[key]), undefined);
      const emittedByStream = addByStream(byStream('emittedByStream'), retiredByStream(component));
      const emitRateByStream = byStream('emitRateByStream');
      const total = (key: RestartKey | 'emitted' | 'executed' | 'acked' | 'failed' | 'errors') => sum(key) + retiredOf(component, key);
      const executed = sum('executeRate');
      components[component] = {
        emitted: total('emitted'),
        executed: total('executed'),
        acked: total('acked'),
        failed: total('failed'),
        errors: total('errors'),
        emitRate: sum('emitRate'),
        executeRate: executed,
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
    return { windowMs: options.windowMs, timestamp: now, components, streamManagers };
  }
}

/** The backlog of the instances that report one, summed; absent when none does. */
function backlogOf(metrics: readonly ComponentMetrics[]): Pick<ComponentMetrics, 'backlog' | 'backlogGrowthRate'> {
  const reporting = metrics.filter((m) => m.backlog !== undefined);
  if (reporting.length === 0) return {};
  return { backlog: reporting.reduce((acc, m) => acc + m.backlog!, 0), backlogGrowthRate: reporting.reduce((acc, m) => acc + (m.backlogGrowthRate ?? 0), 0) };
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

function instanceMetrics(now: InstanceMetricsSample, then: InstanceMetricsSample | undefined, seconds: number): ComponentMetrics {
  // Without an earlier sample there is no window yet: windowed values start at the next report.
  const delta = (key: 'emitted' | 'executed' | 'busyNs' | 'executeNs' | 'backpressureMs') => (then ? Math.max(0, now[key] - then[key]) : 0);
  const executedDelta = delta('executed');
  return {
    emitted: now.emitted,
    executed: now.executed,
    acked: now.acked,
    failed: now.failed,
    errors: now.errors,
    emitRate: delta('emitted') / seconds,
    executeRate: executedDelta / seconds,
    ...(now.emittedByStream
      ? {
          emittedByStream: now.emittedByStream,
          emitRateByStream: Object.fromEntries(Object.entries(now.emittedByStream).map(([stream, count]) => [stream, then?.emittedByStream ? Math.max(0, count - (then.emittedByStream[stream] ?? 0)) / seconds : 0])),
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
    // A restarted container counts from zero again: nothing restarted in its window yet.
    recentRestarts: then ? Math.max(0, now.restarts - then.restarts) : 0,
    ...(now.backlog === undefined ? {} : { backlog: now.backlog, backlogGrowthRate: then?.backlog === undefined ? 0 : (now.backlog - then.backlog) / seconds }),
    executeLatencyMs: executedDelta > 0 ? delta('executeNs') / executedDelta / 1e6 : 0,
    busyFraction: Math.min(1, delta('busyNs') / 1e9 / seconds),
    instanceCount: 1,
  };
}

function streamManagerMetrics(now: StreamManagerMetricsSample, then: StreamManagerMetricsSample | undefined, seconds: number): StreamManagerMetrics {
  const cpuUs = now.cpuUserUs + now.cpuSystemUs - (then ? then.cpuUserUs + then.cpuSystemUs : 0);
  return {
    backpressureInitiatedMs: now.backpressureInitiatedMs,
    spoutsPausedMs: now.spoutsPausedMs,
    spoutsPausedFraction: then ? Math.min(1, Math.max(0, now.spoutsPausedMs - then.spoutsPausedMs) / 1000 / seconds) : 0,
    cpuCores: then ? cpuUs / 1e6 / seconds : 0,
    rssBytes: now.rssBytes,
    heapUsedBytes: now.heapUsedBytes,
    ...(now.ramLimitBytes === undefined ? {} : { ramLimitBytes: now.ramLimitBytes }),
  };
}
