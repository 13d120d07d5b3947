import { describe, expect, it } from 'vitest';
import type { InstanceMetricsSample, MetricsReport } from './control-messages.js';
import type { MetricsTotals } from '../model/runtime-state.js';
import { LATENCY_BUCKETS, latencyBucketUpperMs } from './instance/messages.js';
import { MetricsCache } from './metrics-cache.js';

function sample(component: string, taskId: number, counts: Partial<InstanceMetricsSample> = {}): InstanceMetricsSample {
  return {
    component,
    taskId,
    emitted: 0,
    executed: 0,
    acked: 0,
    failed: 0,
    errors: 0,
    busyNs: 0,
    executeNs: 0,
    timedOut: 0,
    completed: 0,
    completeLatencyNs: 0,
    completeLatencyHistogram: new Array<number>(LATENCY_BUCKETS).fill(0),
    pendingBytes: 0,
    maxPendingBytes: 0,
    restarts: 0,
    backpressureMs: 0,
    ...counts,
  };
}

function report(
  containerId: number,
  timestamp: number,
  instances: Record<string, InstanceMetricsSample>,
  options: { incarnation?: string; type?: MetricsReport['type']; droppedTuples?: number } = {},
): MetricsReport {
  return {
    type: options.type ?? 'metrics',
    containerId,
    incarnation: options.incarnation ?? 'first',
    timestamp,
    instances,
    streamManager: {
      backpressureInitiatedMs: 0,
      spoutsPausedMs: 0,
      cpuUserUs: timestamp * 100,
      cpuSystemUs: 0,
      rssBytes: 1,
      heapUsedBytes: 1,
      droppedFrames: options.droppedTuples ? 1 : 0,
      droppedTuples: options.droppedTuples ?? 0,
    },
  };
}

/** A complete-latency histogram with these counts in these buckets, 0 elsewhere. */
function histogram(counts: Record<number, number>): number[] {
  return Array.from({ length: LATENCY_BUCKETS }, (_, bucket) => counts[bucket] ?? 0);
}

const newCache = (onTotalsChange?: (totals: MetricsTotals) => void) =>
  new MetricsCache({ maxSamples: 10, intervalMs: 1000, topologyId: 't-1', ...(onTotalsChange ? { onTotalsChange } : {}) });
const view = (cache: MetricsCache, now: number, windowMs = 1000) => cache.view({ windowMs, instances: true, now });

describe('the metrics cache', () => {
  it('sums instances per component and derives windowed rates, latency and busy time', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { a: sample('count', 1, { executed: 100, executeNs: 1e6, busyNs: 0 }) }));
    cache.add(report(1, 2000, { a: sample('count', 1, { executed: 1100, executeNs: 11e6, busyNs: 5e8, pendingBytes: 64 }) }));
    cache.add(report(2, 2000, { b: sample('count', 2, { executed: 50 }) }));
    const view = cache.view({ windowMs: 1000, instances: true, now: 2000 });
    expect(view.components.count).toMatchObject({
      executed: 1150,
      executeRate: 1000,
      executeLatencyMs: 0.01,
      pendingBytes: 64,
      instanceCount: 2,
    });
    expect(view.components.count!.instances!.a!.busyFraction).toBe(0.5);
    expect(view.streamManagers['stmgr-1']!.cpuCores).toBeCloseTo(0.1);
  });

  it('reports a spout backlog and its growth over the window, and restarts in the window, only where there are some', () => {
    const cache = newCache();
    cache.add(
      report(1, 1000, {
        s1: sample('source', 1, { backlog: 100 }),
        s2: sample('source', 2, { backlog: 0 }),
        b: sample('sink', 3, { restarts: 1 }),
      }),
    );
    cache.add(
      report(1, 3000, {
        s1: sample('source', 1, { backlog: 700 }),
        s2: sample('source', 2, { backlog: 200 }),
        b: sample('sink', 3, { restarts: 4 }),
      }),
    );
    const view = cache.view({ windowMs: 2000, instances: true, now: 3000 });
    expect(view.components.source).toMatchObject({ backlog: 900, backlogGrowthRate: 400 });
    expect(view.components.source!.instances!.s2).toMatchObject({ backlog: 200, backlogGrowthRate: 100 });
    expect(view.components.sink).toMatchObject({ restarts: 4, recentRestarts: 3 });
    expect(view.components.sink!.backlog).toBeUndefined();
    expect(view.components.sink!.backlogGrowthRate).toBeUndefined();
  });

  it('keeps the counts of instances that were scaled away or whose container left', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { a: sample('count', 1, { executed: 10 }), b: sample('count', 2, { executed: 20 }) }));
    cache.add(report(1, 2000, { a: sample('count', 1, { executed: 15 }) }));
    cache.add(report(2, 2000, { c: sample('count', 3, { executed: 40 }) }));
    cache.retain(new Set([1]));
    expect(cache.view({ windowMs: 1000, instances: false, now: 2000 }).components.count).toMatchObject({ executed: 75, instanceCount: 1 });
  });

  it('continues the counts of a restarted process from the last ones its predecessor reported, whether it starts lower or higher', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { a: sample('split', 1, { emitted: 500 }) }));
    cache.add(report(1, 2000, { a: sample('split', 1, { emitted: 20 }) }, { incarnation: 'second' }));
    cache.add(report(1, 3000, { a: sample('split', 1, { emitted: 70 }) }, { incarnation: 'second' }));
    expect(view(cache, 3000).components.split).toMatchObject({ emitted: 570, emitRate: 50 });
    // A process that counted more before its first report than the last one did is a new one too.
    cache.add(report(1, 4000, { a: sample('split', 1, { emitted: 900 }) }, { incarnation: 'third' }));
    expect(view(cache, 4000).components.split!.emitted).toBe(1470);
    expect(view(cache, 4000).streamManagers['stmgr-1']!.restarts).toBe(2);
  });

  it('carries what a process counted after its last sample, as far as heartbeats published it', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { s: sample('ids', 1, { emitted: 100 }), k: sample('sink', 2, { executed: 90 }) }));
    cache.heartbeat(
      report(1, 1250, { s: sample('ids', 1, { emitted: 150 }), k: sample('sink', 2, { executed: 140 }) }, { type: 'counters' }),
    );
    cache.heartbeat(
      report(1, 1500, { s: sample('ids', 1, { emitted: 200 }), k: sample('sink', 2, { executed: 185 }) }, { type: 'counters' }),
    );
    // Heartbeats add no sample: the series, and what is windowed over it, stays on the interval.
    expect(view(cache, 1500).components.ids!.emitted).toBe(100);
    // The process dies; its successor's first sample continues from the last heartbeat.
    cache.add(report(1, 2000, { s: sample('ids', 1, { emitted: 30 }), k: sample('sink', 2, { executed: 25 }) }, { incarnation: 'second' }));
    expect(view(cache, 2000).components).toMatchObject({ ids: { emitted: 230, emitRate: 130 }, sink: { executed: 210 } });
  });

  it('keeps restarts cumulative across restarts of the container, and counts those separately', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { b: sample('sink', 3, { restarts: 4 }) }));
    cache.heartbeat(report(1, 1200, { b: sample('sink', 3, { restarts: 6 }) }, { type: 'counters' }));
    cache.add(report(1, 2000, { b: sample('sink', 3, { restarts: 0 }) }, { incarnation: 'second' }));
    expect(view(cache, 2000).components.sink).toMatchObject({ restarts: 6, recentRestarts: 2 });
    cache.add(report(1, 3000, { b: sample('sink', 3, { restarts: 2 }) }, { incarnation: 'second' }));
    expect(view(cache, 3000).components.sink).toMatchObject({ restarts: 8, recentRestarts: 2 });
    expect(view(cache, 3000).streamManagers['stmgr-1']!.restarts).toBe(1);
  });

  it('ignores a late message from a process that was already replaced', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { a: sample('split', 1, { emitted: 500 }) }));
    cache.add(report(1, 2000, { a: sample('split', 1, { emitted: 20 }) }, { incarnation: 'second' }));
    cache.heartbeat(report(1, 1100, { a: sample('split', 1, { emitted: 510 }) }, { type: 'counters' }));
    cache.add(report(1, 3000, { a: sample('split', 1, { emitted: 40 }) }, { incarnation: 'second' }));
    expect(view(cache, 3000).components.split!.emitted).toBe(540);
    expect(view(cache, 3000).streamManagers['stmgr-1']!.restarts).toBe(1);
  });

  it('retires instances scaled away, and the containers that left, with their last counts, restarts and drops', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { a: sample('count', 1, { executed: 10 }), b: sample('count', 2, { executed: 20, restarts: 1 }) }));
    cache.heartbeat(
      report(
        1,
        1200,
        { a: sample('count', 1, { executed: 12 }), b: sample('count', 2, { executed: 25, restarts: 1 }) },
        { type: 'counters' },
      ),
    );
    cache.add(report(1, 2000, { a: sample('count', 1, { executed: 15 }) }));
    cache.add(report(2, 1000, { c: sample('count', 3, { executed: 30 }) }));
    cache.add(report(2, 2000, { c: sample('count', 3, { executed: 35 }) }, { incarnation: 'second', droppedTuples: 4 }));
    cache.retain(new Set([1]));
    expect(view(cache, 2000).components.count).toMatchObject({ executed: 15 + 25 + 65, restarts: 1, instanceCount: 1 });
    expect(view(cache, 2000)).toMatchObject({ droppedTuples: 4, droppedFrames: 1 });
    expect(Object.keys(view(cache, 2000).streamManagers)).toEqual(['stmgr-1']);
  });

  it('continues after a restart of container 0 from the totals it kept, counting a process replaced meanwhile', () => {
    let kept: MetricsTotals | undefined;
    const before = newCache((totals) => (kept = totals));
    before.add(report(1, 1000, { a: sample('split', 1, { emitted: 500, restarts: 3 }) }));
    before.add(report(1, 2000, { a: sample('split', 1, { emitted: 20 }) }, { incarnation: 'second' }));
    before.add(report(2, 2000, { x: sample('split', 5, { emitted: 7 }) }));
    before.add(report(2, 3000, {}));
    const after = newCache();
    after.restore(kept!);
    // Container 1 still runs its second process; container 2's first process was replaced while
    // container 0 was down: what it counted after the totals were kept is lost, nothing more.
    after.add(report(1, 5000, { a: sample('split', 1, { emitted: 60 }) }, { incarnation: 'second' }));
    after.add(report(2, 5000, { y: sample('split', 6, { emitted: 3 }) }, { incarnation: 'other' }));
    expect(view(after, 5000).components.split).toMatchObject({ emitted: 500 + 60 + 7 + 3, restarts: 3 });
    expect(view(after, 5000).streamManagers['stmgr-1']!.restarts).toBe(1);
    expect(view(after, 5000).streamManagers['stmgr-2']!.restarts).toBe(1);
  });

  it('does not take over totals of another submission of the same name', () => {
    const before = newCache();
    before.add(report(1, 1000, { a: sample('split', 1, { emitted: 500 }) }));
    before.add(report(1, 2000, { a: sample('split', 1, { emitted: 20 }) }, { incarnation: 'second' }));
    const after = new MetricsCache({ maxSamples: 10, intervalMs: 1000, topologyId: 't-2' });
    after.restore(before.totals());
    after.add(report(1, 3000, { a: sample('split', 1, { emitted: 5 }) }));
    expect(view(after, 3000).components.split!.emitted).toBe(5);
  });

  it(
    'counts emits per output stream, per second over the window and ' + 'cumulatively across restarts of the container and of the cache',
    () => {
      const cache = newCache();
      cache.add(
        report(1, 1000, {
          s1: sample('source', 1, { emitted: 0, emittedByStream: { default: 0, side: 0 } }),
          s2: sample('source', 2, { emitted: 100, emittedByStream: { default: 100, side: 0 } }),
        }),
      );
      cache.add(
        report(1, 2000, {
          s1: sample('source', 1, { emitted: 1076, emittedByStream: { default: 1000, side: 76 } }),
          s2: sample('source', 2, { emitted: 1100, emittedByStream: { default: 1000, side: 100 } }),
        }),
      );
      const view = cache.view({ windowMs: 1000, instances: true, now: 2000 });
      expect(view.components.source).toMatchObject({
        emitRate: 2076,
        emitRateByStream: { default: 1900, side: 176 },
        emittedByStream: { default: 2000, side: 176 },
      });
      expect(view.components.source!.instances!.s1!.emitRateByStream).toEqual({ default: 1000, side: 76 });
      // The container restarts: its instances count from zero again, the cumulative counts go on.
      cache.add(
        report(
          1,
          3000,
          {
            s1: sample('source', 1, { emitted: 10, emittedByStream: { default: 9, side: 1 } }),
            s2: sample('source', 2, { emitted: 0, emittedByStream: { default: 0, side: 0 } }),
          },
          { incarnation: 'second' },
        ),
      );
      expect(cache.view({ windowMs: 1000, instances: false, now: 3000 }).components.source!.emittedByStream).toEqual({
        default: 2009,
        side: 177,
      });
      // Container 0 restarts: a new cache takes over what the old one carried.
      const next = newCache();
      next.restore(JSON.parse(JSON.stringify(cache.totals())) as MetricsTotals);
      next.add(
        report(
          1,
          4000,
          {
            s1: sample('source', 1, { emitted: 20, emittedByStream: { default: 18, side: 2 } }),
            s2: sample('source', 2, { emitted: 0, emittedByStream: { default: 0, side: 0 } }),
          },
          { incarnation: 'second' },
        ),
      );
      expect(next.view({ windowMs: 1000, instances: false, now: 4000 }).components.source!.emittedByStream).toEqual({
        default: 2018,
        side: 178,
      });
    },
  );

  it('derives ack and fail rates and complete latency over the window, summing the histograms of a component', () => {
    const cache = newCache();
    cache.add(
      report(1, 1000, {
        s1: sample('source', 1),
        s2: sample('source', 2, { acked: 100, completed: 100, completeLatencyNs: 50e6, completeLatencyHistogram: histogram({ 3: 100 }) }),
        b: sample('sink', 3, { executed: 100, acked: 100 }),
      }),
    );
    cache.add(
      report(1, 2000, {
        s1: sample('source', 1, {
          acked: 90,
          failed: 5,
          timedOut: 3,
          completed: 90,
          completeLatencyNs: 180e6,
          completeLatencyHistogram: histogram({ 4: 88, 10: 2 }),
        }),
        s2: sample('source', 2, { acked: 110, completed: 110, completeLatencyNs: 55e6, completeLatencyHistogram: histogram({ 3: 110 }) }),
        b: sample('sink', 3, { executed: 300, acked: 298, failed: 2 }),
      }),
    );
    const components = view(cache, 2000).components;
    // The window holds 10 trees of s2 in bucket 3 and 90 of s1: 88 in bucket 4, 2 in bucket 10.
    expect(components.source).toMatchObject({
      acked: 200,
      failed: 5,
      timedOut: 3,
      ackRate: 100,
      failRate: 5,
      completeLatencyMs: { mean: 1.85, p50: latencyBucketUpperMs(4), p99: latencyBucketUpperMs(10) },
    });
    expect(components.source!.instances!.s1!.completeLatencyMs).toEqual({ mean: 2, p50: 1.024, p99: 65.536 });
    expect(components.source!.instances!.s2!.completeLatencyMs).toEqual({ mean: 0.5, p50: 0.512, p99: 0.512 });
    expect(components.sink).toMatchObject({ ackRate: 198, failRate: 2, timedOut: 0 });
    expect(components.sink!.completeLatencyMs).toBeUndefined();
    // Nothing completes in the next window: no latency, rather than a stale one or 0.
    cache.add(
      report(1, 3000, {
        s1: sample('source', 1, {
          acked: 90,
          completed: 90,
          completeLatencyNs: 180e6,
          completeLatencyHistogram: histogram({ 4: 88, 10: 2 }),
        }),
        s2: sample('source', 2, { acked: 110, completed: 110, completeLatencyNs: 55e6, completeLatencyHistogram: histogram({ 3: 110 }) }),
        b: sample('sink', 3, { executed: 300, acked: 298, failed: 2 }),
      }),
    );
    expect(view(cache, 3000).components.source).toMatchObject({ ackRate: 0, failRate: 0, timedOut: 0 });
    expect(view(cache, 3000).components.source!.completeLatencyMs).toBeUndefined();
    // The window's values exist in JSON as they do here (nothing undefined left in it).
    expect(JSON.parse(JSON.stringify(view(cache, 2000)))).toEqual(view(cache, 2000));
  });

  it('gives a percentile beyond the highest bucket bound as that bound, a finite number', () => {
    const cache = newCache();
    cache.add(report(1, 1000, { s: sample('source', 1) }));
    cache.add(
      report(1, 2000, {
        s: sample('source', 1, {
          completed: 2,
          completeLatencyNs: 40e9,
          completeLatencyHistogram: histogram({ 0: 1, [LATENCY_BUCKETS - 1]: 1 }),
        }),
      }),
    );
    expect(view(cache, 2000).components.source!.completeLatencyMs).toEqual({
      mean: 20_000,
      p50: latencyBucketUpperMs(0),
      p99: latencyBucketUpperMs(LATENCY_BUCKETS - 2),
    });
  });

  it('carries timed-out counts and the latency histogram across restarts of a process, of container 0 and scale-down', () => {
    let kept: MetricsTotals | undefined;
    const cache = newCache((totals) => (kept = totals));
    cache.add(
      report(1, 1000, {
        s: sample('source', 1, {
          failed: 4,
          timedOut: 4,
          completed: 10,
          completeLatencyNs: 2e6,
          completeLatencyHistogram: histogram({ 2: 10 }),
        }),
        t: sample('source', 2, { failed: 1, timedOut: 1 }),
      }),
    );
    // The process is replaced: its successor counts from zero. Carried forward, the window holds
    // the 5 trees it completed, not none (nor a negative count).
    cache.add(
      report(
        1,
        2000,
        {
          s: sample('source', 1, {
            timedOut: 2,
            failed: 2,
            completed: 5,
            completeLatencyNs: 1e6,
            completeLatencyHistogram: histogram({ 2: 5 }),
          }),
        },
        { incarnation: 'second' },
      ),
    );
    expect(view(cache, 2000).components.source).toMatchObject({
      timedOut: 4 + 2 + 1,
      failed: 4 + 2 + 1,
      completeLatencyMs: { mean: 0.2, p50: 0.256, p99: 0.256 },
    });
    // Container 0 restarts: cumulative counts, the retired instance's included, go on from the kept totals.
    const next = newCache();
    next.restore(JSON.parse(JSON.stringify(kept)) as MetricsTotals);
    next.add(
      report(
        1,
        3000,
        {
          s: sample('source', 1, {
            timedOut: 3,
            failed: 3,
            completed: 6,
            completeLatencyNs: 2e6,
            completeLatencyHistogram: histogram({ 2: 6 }),
          }),
        },
        { incarnation: 'second' },
      ),
    );
    next.add(
      report(
        1,
        4000,
        { s: sample('source', 1, { completed: 1, completeLatencyNs: 4e6, completeLatencyHistogram: histogram({ 6: 1 }) }) },
        { incarnation: 'third' },
      ),
    );
    expect(view(next, 4000).components.source).toMatchObject({
      timedOut: 4 + 3 + 1,
      completeLatencyMs: { mean: 4, p50: latencyBucketUpperMs(6), p99: latencyBucketUpperMs(6) },
    });
    expect(kept!.instanceOffsets.s).toMatchObject({ completed: 10, 'completeLatency:2': 10 });
  });

  it('reports the delivery guarantee, the last committed checkpoint and the restores, but does not carry them in the totals', () => {
    const cache = new MetricsCache({ maxSamples: 10, intervalMs: 1000, topologyId: 't-1', reliability: 'effectively-once' });
    expect(view(cache, 1000).delivery).toEqual({ reliability: 'effectively-once', checkpoints: 0, restores: 0 });
    cache.restored({ epoch: 1, checkpointId: undefined, at: 1500, reason: 'container 2 failed' });
    cache.checkpointCommitted({ checkpointId: 7, startedAt: 2000, completedAt: 2040, bytes: 4096 });
    cache.checkpointCommitted({ checkpointId: 8, startedAt: 3000, completedAt: 3120, bytes: 8192 });
    // A commit heard late does not replace the newer one as the last checkpoint.
    cache.checkpointCommitted({ checkpointId: 6, startedAt: 1000, completedAt: 1010, bytes: 1 });
    expect(view(cache, 4000).delivery).toEqual({
      reliability: 'effectively-once',
      lastCheckpoint: { checkpointId: 8, completedAt: 3120, durationMs: 120, bytes: 8192 },
      checkpoints: 3,
      restores: 1,
      lastRestore: { epoch: 1, at: 1500, reason: 'container 2 failed' },
    });
    cache.restored({ epoch: 2, checkpointId: 8, at: 5000, reason: 'rescale' });
    expect(view(cache, 5000).delivery).toMatchObject({
      restores: 2,
      lastRestore: { epoch: 2, checkpointId: 8, at: 5000, reason: 'rescale' },
    });
    expect(Object.keys(cache.totals())).not.toContain('delivery');
    expect(view(newCache(), 1000).delivery).toEqual({ checkpoints: 0, restores: 0 });
  });

  it('gives the series as values per interval, samples of different containers at one tick sharing a point', () => {
    const cache = newCache();
    // Container 1 samples 3 ms late at every tick; its instances and container 2's still meet per tick.
    cache.add(report(1, 1003, { c1: sample('count', 1, { executed: 0, executeNs: 0, busyNs: 0 }) }));
    cache.add(report(2, 1000, { c2: sample('count', 2, { executed: 0 }) }));
    cache.add(report(1, 2003, { c1: sample('count', 1, { executed: 100, executeNs: 100e6, busyNs: 0.5e9, errors: 2 }) }));
    cache.add(report(2, 2000, { c2: sample('count', 2, { executed: 300, executeNs: 100e6, busyNs: 0.25e9, backpressureMs: 40 }) }));
    cache.add(report(1, 3003, { c1: sample('count', 1, { executed: 150, executeNs: 150e6, busyNs: 0.5e9, errors: 2 }) }));
    const timeline = cache.timeline({ instances: true });
    expect(timeline.intervalMs).toBe(1000);
    expect(timeline.points.map((p) => p.timestamp)).toEqual([2000, 3000]);
    const first = timeline.points[0]!.components.count!;
    expect(first).toMatchObject({ executeRate: 400, errorRate: 2, backpressureMs: 40, instanceCount: 2 });
    // Latency weighted by what each executed: (100 × 1 ms + 300 × 1/3 ms) / 400.
    expect(first.executeLatencyMs).toBeCloseTo(0.5);
    expect(first.busyFraction).toBeCloseTo(0.375);
    expect(first.instances?.c1?.executeRate).toBe(100);
    // At 3000 only container 1 sampled: the point holds what it saw.
    expect(timeline.points[1]!.components.count).toMatchObject({ executeRate: 50, errorRate: 0, instanceCount: 1 });
    expect(cache.timeline({ instances: false, since: 3000 }).points.map((p) => p.timestamp)).toEqual([3000]);
    expect(cache.timeline({ instances: false }).points[0]!.components.count!.instances).toBeUndefined();
  });

  it("keeps every instance's error count and last error, across a restart of its container and after it is gone", () => {
    const cache = newCache();
    const boom = { message: 'boom 1', stack: 'Error: boom 1\n    at explode (bolt.ts:3:9)', at: 1500 };
    cache.add(report(1, 1000, { container_1_count_1: sample('count', 1), container_1_split_2: sample('split', 2) }));
    cache.add(
      report(1, 2000, { container_1_count_1: sample('count', 1, { errors: 3, lastError: boom }), container_1_split_2: sample('split', 2) }),
    );
    expect(cache.exceptions(2000)).toEqual({
      timestamp: 2000,
      instances: [
        { instance: 'container_1_count_1', component: 'count', containerId: 1, taskId: 1, count: 3, last: boom },
        { instance: 'container_1_split_2', component: 'split', containerId: 1, taskId: 2, count: 0 },
      ],
    });
    // The container restarts: its new process knows no error yet, and the count carries on from 3.
    cache.add(report(1, 3000, { container_1_count_1: sample('count', 1, { errors: 1 }) }, { incarnation: 'second' }));
    expect(cache.exceptions().instances).toEqual([
      { instance: 'container_1_count_1', component: 'count', containerId: 1, taskId: 1, count: 4, last: boom },
    ]);
    // Scaled away: the instance keeps its errors; split, gone without any, is no longer listed.
    cache.retain(new Set([2]));
    expect(cache.exceptions().instances).toEqual([
      { instance: 'container_1_count_1', component: 'count', containerId: 1, taskId: 1, count: 4, last: boom },
    ]);
  });
});
