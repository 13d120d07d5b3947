import { describe, expect, it } from 'vitest';
import type { InstanceMetricsSample, MetricsReport } from './control-messages.js';
import { MetricsCache } from './metrics-cache.js';

function sample(component: string, taskId: number, counts: Partial<InstanceMetricsSample>): InstanceMetricsSample {
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
    pendingBytes: 0,
    maxPendingBytes: 0,
    restarts: 0,
    backpressureMs: 0,
    ...counts,
  };
}

function report(containerId: number, timestamp: number, instances: Record<string, InstanceMetricsSample>): MetricsReport {
  return {
    type: 'metrics',
    containerId,
    timestamp,
    instances,
    streamManager: { backpressureInitiatedMs: 0, spoutsPausedMs: 0, cpuUserUs: timestamp * 100, cpuSystemUs: 0, rssBytes: 1, heapUsedBytes: 1 },
  };
}

describe('the metrics cache', () => {
  it('sums instances per component and derives windowed rates, latency and busy time', () => {
    const cache = new MetricsCache(10);
    cache.add(report(1, 1000, { a: sample('count', 1, { executed: 100, executeNs: 1e6, busyNs: 0 }) }));
    cache.add(report(1, 2000, { a: sample('count', 1, { executed: 1100, executeNs: 11e6, busyNs: 5e8, pendingBytes: 64 }) }));
    cache.add(report(2, 2000, { b: sample('count', 2, { executed: 50 }) }));
    const view = cache.view({ windowMs: 1000, instances: true, now: 2000 });
    expect(view.components.count).toMatchObject({ executed: 1150, executeRate: 1000, executeLatencyMs: 0.01, pendingBytes: 64, instanceCount: 2 });
    expect(view.components.count!.instances!.a!.busyFraction).toBe(0.5);
    expect(view.streamManagers['stmgr-1']!.cpuCores).toBeCloseTo(0.1);
  });

  it('reports a spout backlog and its growth over the window, and restarts in the window, only where there are some', () => {
    const cache = new MetricsCache(10);
    cache.add(report(1, 1000, { s1: sample('source', 1, { backlog: 100 }), s2: sample('source', 2, { backlog: 0 }), b: sample('sink', 3, { restarts: 1 }) }));
    cache.add(report(1, 3000, { s1: sample('source', 1, { backlog: 700 }), s2: sample('source', 2, { backlog: 200 }), b: sample('sink', 3, { restarts: 4 }) }));
    const view = cache.view({ windowMs: 2000, instances: true, now: 3000 });
    expect(view.components.source).toMatchObject({ backlog: 900, backlogGrowthRate: 400 });
    expect(view.components.source!.instances!.s2).toMatchObject({ backlog: 200, backlogGrowthRate: 100 });
    expect(view.components.sink).toMatchObject({ restarts: 4, recentRestarts: 3 });
    expect(view.components.sink!.backlog).toBeUndefined();
    expect(view.components.sink!.backlogGrowthRate).toBeUndefined();
  });

  it('keeps the counts of instances that were scaled away or whose container left', () => {
    const cache = new MetricsCache(10);
    cache.add(report(1, 1000, { a: sample('count', 1, { executed: 10 }), b: sample('count', 2, { executed: 20 }) }));
    cache.add(report(1, 2000, { a: sample('count', 1, { executed: 15 }) }));
    cache.add(report(2, 2000, { c: sample('count', 3, { executed: 40 }) }));
    cache.retain(new Set([1]));
    expect(cache.view({ windowMs: 1000, instances: false, now: 2000 }).components.count).toMatchObject({ executed: 75, instanceCount: 1 });
  });

  it('continues counts across a container restart instead of going backwards', () => {
    const cache = new MetricsCache(10);
    cache.add(report(1, 1000, { a: sample('split', 1, { emitted: 500 }) }));
    cache.add(report(1, 2000, { a: sample('split', 1, { emitted: 20 }) }));
    cache.add(report(1, 3000, { a: sample('split', 1, { emitted: 70 }) }));
    expect(cache.view({ windowMs: 1000, instances: false, now: 3000 }).components.split).toMatchObject({ emitted: 570, emitRate: 50 });
    cache.add(report(1, 4000, { a: sample('split', 1, { emitted: 5 }) }));
    expect(cache.view({ windowMs: 1000, instances: false, now: 4000 }).components.split!.emitted).toBe(575);
  });

  it('counts emits per output stream, per second over the window and cumulatively across a container restart', () => {
    const cache = new MetricsCache(10);
    cache.add(report(1, 1000, { s1: sample('source', 1, { emitted: 0, emittedByStream: { default: 0, side: 0 } }), s2: sample('source', 2, { emitted: 100, emittedByStream: { default: 100, side: 0 } }) }));
    cache.add(report(1, 2000, { s1: sample('source', 1, { emitted: 1076, emittedByStream: { default: 1000, side: 76 } }), s2: sample('source', 2, { emitted: 1100, emittedByStream: { default: 1000, side: 100 } }) }));
    const view = cache.view({ windowMs: 1000, instances: true, now: 2000 });
    expect(view.components.source).toMatchObject({ emitRate: 2076, emitRateByStream: { default: 1900, side: 176 }, emittedByStream: { default: 2000, side: 176 } });
    expect(view.components.source!.instances!.s1!.emitRateByStream).toEqual({ default: 1000, side: 76 });
    // The container restarts: its instances count from zero again, the cumulative counts go on.
    cache.add(report(1, 3000, { s1: sample('source', 1, { emitted: 10, emittedByStream: { default: 9, side: 1 } }), s2: sample('source', 2, { emitted: 0, emittedByStream: { default: 0, side: 0 } }) }));
    expect(cache.view({ windowMs: 1000, instances: false, now: 3000 }).components.source!.emittedByStream).toEqual({ default: 2009, side: 177 });
  });
});
