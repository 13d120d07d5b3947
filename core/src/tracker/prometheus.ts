import { Counter, Gauge, Registry } from 'prom-client';
import type { ComponentMetrics, MetricsView, StreamManagerMetrics } from '../model/metrics.js';

/** One topology's metrics at a scrape. */
export interface ScrapedTopology {
  readonly cluster: string;
  readonly topology: string;
  readonly metrics: MetricsView;
}

type Family = 'component' | 'instance';
const COMPONENT_LABELS = ['cluster', 'topology', 'component'] as const;
const INSTANCE_LABELS = ['cluster', 'topology', 'component', 'instance', 'container'] as const;
const CONTAINER_LABELS = ['cluster', 'topology', 'container'] as const;
const TOPOLOGY_LABELS = ['cluster', 'topology'] as const;

/** Cumulative counts of a component or instance, since it started (a component's include instances that are gone). */
const COUNTERS: ReadonlyArray<readonly [name: string, help: string, value: (m: ComponentMetrics) => number]> = [
  ['emitted_tuples_total', 'Tuples emitted', (m) => m.emitted],
  ['executed_tuples_total', 'Tuples executed', (m) => m.executed],
  ['acked_tuples_total', 'Tuples acked (a spout: tuple trees completed)', (m) => m.acked],
  ['failed_tuples_total', 'Tuples failed (a spout: tuple trees failed or timed out)', (m) => m.failed],
  ['errors_total', 'Errors raised by user code (execute, nextTuple, ack, fail)', (m) => m.errors],
  ['restarts_total', 'Worker restarts (crashed, hung or over memory)', (m) => m.restarts],
];

/** Values over the metrics cache's window, or latest, in base units. */
const GAUGES: ReadonlyArray<readonly [name: string, help: string, value: (m: ComponentMetrics) => number | undefined]> = [
  ['execute_latency_seconds', 'Mean execute time per tuple over the window', (m) => m.executeLatencyMs / 1000],
  ['busy_ratio', 'Fraction of the window spent in user code, averaged over instances', (m) => m.busyFraction],
  ['pending_bytes', 'Bytes queued towards the instances, latest', (m) => m.pendingBytes],
  ['backpressure_seconds', 'Time spent above the high watermark over the window, summed over instances', (m) => m.backpressureMs / 1000],
  ['memory_bytes', "The workers' own memory (V8 heap, Buffers, ArrayBuffers), latest", (m) => m.memoryBytes],
  ['source_backlog', 'Spouts that report one: the backlog at their source, latest', (m) => m.backlog],
];

const CONTAINER_GAUGES: ReadonlyArray<readonly [name: string, help: string, value: (m: StreamManagerMetrics) => number | undefined]> = [
  ['cpu_cores', 'CPU seconds per second used by the container process over the window', (m) => m.cpuCores],
  ['resident_memory_bytes', 'Resident set size of the container process, latest', (m) => m.rssBytes],
  ['heap_used_bytes', 'V8 heap used by the container process, latest', (m) => m.heapUsedBytes],
  ['memory_limit_bytes', "The container's RAM in the packing plan", (m) => m.ramLimitBytes],
  ['backpressure_seconds', 'Time its stream manager was in backpressure over the window', (m) => m.backpressureInitiatedMs / 1000],
];

const CONTAINER_COUNTERS: ReadonlyArray<readonly [name: string, help: string, value: (m: StreamManagerMetrics) => number]> = [
  ['restarts_total', "Times the container's process was replaced since submit", (m) => m.restarts],
  ['dropped_tuples_total', 'Tuples its stream manager could deliver nowhere (an engine bug: always 0)', (m) => m.droppedTuples],
];

/** `container_<container>_<component>_<task>`: the container an instance runs in. */
const INSTANCE_NAME = /^container_(\d+)_/;

/**
 * Renders the topologies' metrics as Prometheus text with its own registry (never prom-client's
 * global one, so that two trackers in a process, or an embedding application, do not mix series).
 * It keeps no values between scrapes: every scrape resets the registry and fills it from the metrics
 * caches' answers, so a topology that is gone has no series left behind.
 */
export class PrometheusExporter {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly scrapeErrors: Counter;
  private readonly scrapeErrorCounts = new Map<string, number>();
  private readonly scrapeDuration: Gauge;
  private rendering?: Promise<string>;

  constructor() {
    const registers = [this.registry];
    for (const family of ['component', 'instance'] as const) {
      const labelNames = family === 'component' ? COMPONENT_LABELS : INSTANCE_LABELS;
      for (const [name, help] of COUNTERS)
        this.counters.set(
          `${family}_${name}`,
          new Counter({ name: `ardea_${family}_${name}`, help: `${help}, per ${family}`, labelNames, registers }),
        );
      for (const [name, help] of GAUGES)
        this.gauges.set(
          `${family}_${name}`,
          new Gauge({ name: `ardea_${family}_${name}`, help: `${help}, per ${family}`, labelNames, registers }),
        );
    }
    this.gauges.set(
      'component_instances',
      new Gauge({ name: 'ardea_component_instances', help: 'Instances of the component', labelNames: COMPONENT_LABELS, registers }),
    );
    for (const [name, help] of CONTAINER_GAUGES)
      this.gauges.set(`container_${name}`, new Gauge({ name: `ardea_container_${name}`, help, labelNames: CONTAINER_LABELS, registers }));
    for (const [name, help] of CONTAINER_COUNTERS)
      this.counters.set(
        `container_${name}`,
        new Counter({ name: `ardea_container_${name}`, help, labelNames: CONTAINER_LABELS, registers }),
      );
    this.counters.set(
      'topology_dropped_tuples_total',
      new Counter({
        name: 'ardea_topology_dropped_tuples_total',
        help: 'Tuples stream managers could deliver nowhere, over every container including removed ones (always 0)',
        labelNames: TOPOLOGY_LABELS,
        registers,
      }),
    );
    this.counters.set(
      'topology_checkpoints_total',
      new Counter({
        name: 'ardea_topology_checkpoints_total',
        help: 'Checkpoints committed (effectively-once)',
        labelNames: TOPOLOGY_LABELS,
        registers,
      }),
    );
    this.counters.set(
      'topology_restores_total',
      new Counter({
        name: 'ardea_topology_restores_total',
        help: 'Rollbacks of the topology to a checkpoint (effectively-once)',
        labelNames: TOPOLOGY_LABELS,
        registers,
      }),
    );
    this.scrapeErrors = new Counter({
      name: 'ardea_tracker_scrape_errors_total',
      help: 'Scrapes that skipped a topology because its topology master did not answer',
      labelNames: ['cluster'],
      registers,
    });
    this.scrapeDuration = new Gauge({
      name: 'ardea_tracker_scrape_duration_seconds',
      help: 'How long the last scrape took to read every topology',
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The Prometheus text of one scrape. `gather` reads every topology's metrics (and counts, per
   * cluster, the topologies it had to skip). Scrapes that arrive while one runs share its answer:
   * the registry holds one scrape's values at a time.
   */
  scrape(gather: () => Promise<{ topologies: readonly ScrapedTopology[]; skipped: ReadonlyMap<string, number> }>): Promise<string> {
    if (!this.rendering) {
      this.rendering = this.render(gather).finally(() => {
        this.rendering = undefined;
      });
    }
    return this.rendering;
  }

  private async render(
    gather: () => Promise<{ topologies: readonly ScrapedTopology[]; skipped: ReadonlyMap<string, number> }>,
  ): Promise<string> {
    const started = performance.now();
    const { topologies, skipped } = await gather();
    this.registry.resetMetrics();
    for (const [cluster, count] of skipped) this.scrapeErrorCounts.set(cluster, (this.scrapeErrorCounts.get(cluster) ?? 0) + count);
    for (const [cluster, count] of this.scrapeErrorCounts) this.scrapeErrors.inc({ cluster }, count);
    for (const scraped of topologies) this.add(scraped);
    this.scrapeDuration.set((performance.now() - started) / 1000);
    return this.registry.metrics();
  }

  private add({ cluster, topology, metrics }: ScrapedTopology): void {
    for (const [component, values] of Object.entries(metrics.components)) {
      this.addComponent('component', { cluster, topology, component }, values);
      this.gauges.get('component_instances')!.set({ cluster, topology, component }, values.instanceCount);
      for (const [instance, instanceValues] of Object.entries(values.instances ?? {})) {
        const container = INSTANCE_NAME.exec(instance)?.[1] ?? '';
        this.addComponent('instance', { cluster, topology, component, instance, container }, instanceValues);
      }
    }
    for (const [streamManager, values] of Object.entries(metrics.streamManagers)) {
      const labels = { cluster, topology, container: streamManager.replace(/^stmgr-/, '') };
      for (const [name, , value] of CONTAINER_GAUGES) {
        const v = value(values);
        if (v !== undefined) this.gauges.get(`container_${name}`)!.set(labels, v);
      }
      for (const [name, , value] of CONTAINER_COUNTERS) {
        const v = value(values);
        if (Number.isFinite(v) && v >= 0) this.counters.get(`container_${name}`)!.inc(labels, v);
      }
    }
    this.counters.get('topology_dropped_tuples_total')!.inc({ cluster, topology }, metrics.droppedTuples);
    if (metrics.delivery?.reliability === 'effectively-once') {
      this.counters.get('topology_checkpoints_total')!.inc({ cluster, topology }, metrics.delivery.checkpoints);
      this.counters.get('topology_restores_total')!.inc({ cluster, topology }, metrics.delivery.restores);
    }
  }

  private addComponent(family: Family, labels: Record<string, string>, values: ComponentMetrics): void {
    for (const [name, , value] of COUNTERS) {
      const v = value(values);
      if (Number.isFinite(v) && v >= 0) this.counters.get(`${family}_${name}`)!.inc(labels, v);
    }
    for (const [name, , value] of GAUGES) {
      const v = value(values);
      if (v !== undefined && Number.isFinite(v)) this.gauges.get(`${family}_${name}`)!.set(labels, v);
    }
  }
}
