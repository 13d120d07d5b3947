import { inject, injectable } from 'inversify';
import type { InstanceExceptions } from '../model/metrics.js';
import { METRIC, MetricsSource, streamEmitRateMetric, type Measurement, type PolicyContext, type Sensor } from '../spi/health-policy.js';

/**
 * Counts over the window, per instance, that the built-in sensor adds to its measurements: the
 * errors the worker reported (what execute, nextTuple, ack or fail threw, and promises they returned
 * that rejected), the tuples it failed, and the tuples it executed (a bolt) or emitted (a spout).
 */
export const FAILURE_METRIC = {
  errors: 'errorCount',
  failed: 'failedCount',
  executed: 'executedCount',
  emitted: 'emittedCount',
} as const;

/** The last error of each instance, by instance name: what a sensor that can read it knows. */
export type LastExceptions = ReadonlyMap<string, NonNullable<InstanceExceptions['last']>>;

/** A sensor that also reads every instance's last error (the metrics cache's `/exceptions`). */
export interface ExceptionReader {
  lastExceptions(): LastExceptions;
}

export function isExceptionReader(sensor: object): sensor is ExceptionReader {
  return typeof (sensor as Partial<ExceptionReader>).lastExceptions === 'function';
}

type Counts = Record<'errors' | 'failed' | 'executed' | 'emitted', number>;
const COUNTS = ['errors', 'failed', 'executed', 'emitted'] as const;

/** At most this many samples of one instance's counts are kept, whatever the windows asked for. */
const HISTORY_LIMIT = 500;

/** Reads the metrics cache of container 0 in-process: no network hop between the cache and the policies. */
@injectable()
export class MetricsCacheSensor implements Sensor, ExceptionReader {
  readonly name = 'metrics-cache';
  /**
   * Per instance, the cumulative counts at each fetch: the cache keeps errors only as a count since
   * the worker started, so the sensor differences its own samples to get them over a window.
   */
  private readonly history = new Map<string, Array<{ readonly at: number; readonly counts: Counts }>>();
  private longestWindowMs = 0;

  constructor(@inject(MetricsSource) private readonly source: MetricsSource) {}

  lastExceptions(): LastExceptions {
    const view = this.source.exceptions?.();
    return new Map((view?.instances ?? []).flatMap((i) => (i.last ? [[i.instance, i.last] as const] : [])));
  }

  /**
   * The counts of one instance over the window ending now. The base is the last sample at or before
   * the window's start; without one (the sensor has watched less than a window) it is the worker's
   * start — at most one window's worth more than asked for, after container 0 itself restarted. A
   * count below the base means the worker restarted: then the counts since its restart are taken.
   */
  private windowCounts(instance: string, now: number, windowMs: number, counts: Counts): Counts {
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    const samples = this.history.get(instance) ?? [];
    const start = now - windowMs;
    const base = samples.filter((s) => s.at <= start).at(-1)?.counts;
    const restarted = base !== undefined && COUNTS.some((k) => counts[k] < base[k]);
    const delta = Object.fromEntries(COUNTS.map((k) => [k, counts[k] - (base && !restarted ? base[k] : 0)])) as Counts;
    samples.push({ at: now, counts });
    // Keep the newest sample old enough to be the base of the longest window, and what follows it.
    let oldest = 0;
    samples.forEach((s, k) => {
      if (s.at <= now - this.longestWindowMs) oldest = k;
    });
    const kept = samples.slice(Math.max(oldest, samples.length - HISTORY_LIMIT));
    this.history.set(instance, kept);
    return delta;
  }

  async fetch(context: PolicyContext): Promise<Measurement[]> {
    const view = this.source.view(context.windowMs);
    const plan = this.source.physicalPlan();
    const measurements: Measurement[] = [];
    const timestamp = view.timestamp;
    const seen = new Set<string>();
    for (const [component, metrics] of Object.entries(view.components)) {
      for (const [instance, m] of Object.entries(metrics.instances ?? {})) {
        seen.add(instance);
        const counts = this.windowCounts(instance, timestamp, context.windowMs, {
          errors: m.errors,
          failed: m.failed,
          executed: m.executed,
          emitted: m.emitted,
        });
        for (const key of COUNTS) measurements.push({ component, instance, metric: FAILURE_METRIC[key], timestamp, value: counts[key] });
        for (const metric of [
          METRIC.executeRate,
          METRIC.emitRate,
          METRIC.busyFraction,
          METRIC.backpressureMs,
          METRIC.pendingBytes,
        ] as const) {
          measurements.push({ component, instance, metric, timestamp, value: m[metric] });
        }
        measurements.push({ component, instance, metric: METRIC.restarts, timestamp, value: m.recentRestarts });
        measurements.push({ component, instance, metric: METRIC.hungRestarts, timestamp, value: m.recentHungRestarts });
        measurements.push({ component, instance, metric: METRIC.memoryRestarts, timestamp, value: m.recentMemoryRestarts });
        for (const [stream, rate] of Object.entries(m.emitRateByStream ?? {}))
          measurements.push({ component, instance, metric: streamEmitRateMetric(stream), timestamp, value: rate });
        if (m.backlog !== undefined) {
          measurements.push({ component, instance, metric: METRIC.backlog, timestamp, value: m.backlog });
          measurements.push({ component, instance, metric: METRIC.backlogGrowth, timestamp, value: m.backlogGrowthRate ?? 0 });
        }
      }
    }
    for (const instance of this.history.keys()) if (!seen.has(instance)) this.history.delete(instance);
    if (plan) {
      const spouts = new Set(context.topology.components.filter((c) => c.kind === 'spout').map((c) => c.name));
      const spoutContainers = new Map<string, Set<number>>();
      for (const instance of plan.instances) {
        if (!spouts.has(instance.component)) continue;
        const set = spoutContainers.get(instance.component) ?? new Set<number>();
        set.add(instance.containerId);
        spoutContainers.set(instance.component, set);
      }
      for (const [component, containers] of spoutContainers) {
        const paused = Math.max(0, ...[...containers].map((id) => view.streamManagers[`stmgr-${id}`]?.spoutsPausedFraction ?? 0));
        measurements.push({ component, metric: METRIC.pausedFraction, timestamp, value: paused });
      }
    }
    return measurements;
  }
}

/** Per-component, per-instance access to a round's measurements. */
export class MeasurementIndex {
  private readonly byComponent = new Map<string, Map<string, Map<string, number>>>();
  private readonly componentLevel = new Map<string, Map<string, number>>();

  constructor(measurements: readonly Measurement[]) {
    for (const m of measurements) {
      if (m.instance === undefined) {
        const metrics = this.componentLevel.get(m.component) ?? new Map<string, number>();
        metrics.set(m.metric, m.value);
        this.componentLevel.set(m.component, metrics);
        continue;
      }
      const instances = this.byComponent.get(m.component) ?? new Map<string, Map<string, number>>();
      const metrics = instances.get(m.instance) ?? new Map<string, number>();
      metrics.set(m.metric, m.value);
      instances.set(m.instance, metrics);
      this.byComponent.set(m.component, instances);
    }
  }

  components(): string[] {
    return [...new Set([...this.byComponent.keys(), ...this.componentLevel.keys()])];
  }

  instances(component: string): string[] {
    return [...(this.byComponent.get(component)?.keys() ?? [])].sort();
  }

  value(component: string, instance: string, metric: string): number {
    return this.byComponent.get(component)?.get(instance)?.get(metric) ?? 0;
  }

  /** Whether any instance of the component reported the metric in this window. */
  measured(component: string, metric: string): boolean {
    return [...(this.byComponent.get(component)?.values() ?? [])].some((metrics) => metrics.has(metric));
  }

  componentValue(component: string, metric: string): number | undefined {
    return this.componentLevel.get(component)?.get(metric);
  }

  sum(component: string, metric: string): number {
    return this.instances(component).reduce((acc, instance) => acc + this.value(component, instance, metric), 0);
  }

  /**
   * Tuples per second one instance manages while busy: executed ÷ busy fraction (DS2's true rate).
   * Undefined when the instance was too idle in the window for the estimate to mean anything.
   */
  trueRate(component: string, instance: string, minBusy = 0.05): number | undefined {
    const busy = this.value(component, instance, METRIC.busyFraction);
    const rate = this.value(component, instance, METRIC.executeRate);
    return busy >= minBusy && rate > 0 ? rate / busy : undefined;
  }
}

/** An instance this idle has executed nothing worth counting. */
const IDLE_BUSY = 0.05;

/**
 * Backpressured beyond the noise level while neither executing nor busy: a hung worker. (A worker
 * stuck inside one call reports no busy time until the call returns.)
 */
export function isStalled(
  index: MeasurementIndex,
  component: string,
  instance: string,
  windowSeconds: number,
  noiseMsPerSec: number,
): boolean {
  return (
    index.value(component, instance, METRIC.backpressureMs) / windowSeconds > noiseMsPerSec &&
    index.value(component, instance, METRIC.executeRate) < 1 / windowSeconds &&
    index.value(component, instance, METRIC.busyFraction) < IDLE_BUSY
  );
}
