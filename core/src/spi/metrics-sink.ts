import type { MetricsView } from '../model/metrics.js';

/**
 * Token under which metrics sinks are bound. Any number may be bound (`ardea tracker --sink-module`
 * loads modules that bind them); the tracker lists them with `getAll` on this token.
 */
export const MetricsSink = Symbol.for('ardea.MetricsSink');

/** One topology's metrics as its metrics cache answered them, at one poll of the tracker. */
export interface MetricsSnapshot {
  readonly cluster: string;
  readonly topology: string;
  /** The submission: a topology killed and submitted again under the same name gets a new id. */
  readonly topologyId: string;
  /** When the tracker read the metrics (ms since the epoch); `metrics.timestamp` is when the cache computed them. */
  readonly timestamp: number;
  /** Per component and per instance (`instances` is always filled), over the cache's default window. */
  readonly metrics: MetricsView;
}

/**
 * Where the tracker pushes metrics to: a time-series database, a log, a monitoring agent. Heron calls
 * these metrics sinks. The tracker polls every running topology every sink interval (`ardea tracker
 * --sink-interval`, 10 s by default) and hands each snapshot to every sink; it polls only when a sink
 * is bound. Prometheus is not a sink: it pulls, so the tracker reads the metrics at each scrape.
 *
 * Contract:
 * - `publish` may be called for snapshots of many topologies and clusters concurrently; it should
 *   return once the snapshot is handed on (or buffered). A sink whose publish is still running when
 *   the next poll comes skips that poll's snapshots (the tracker logs it) rather than piling up calls.
 * - A `publish` that throws or rejects is logged; the other sinks, and the next poll, go on.
 * - `close` flushes what is buffered and releases connections; the tracker calls it once, on close.
 */
export interface MetricsSink {
  /** The sink as logs name it (`influxdb`, `file:/var/log/ardea-metrics.jsonl`). */
  readonly name: string;
  publish(snapshot: MetricsSnapshot): Promise<void> | void;
  close(): Promise<void> | void;
}
