import { describe, expect, it } from 'vitest';
import { recordedWindow } from '../testing/health-policy-testing.js';
import { MeasurementIndex } from './measurements.js';
import { METRIC } from '../spi/health-policy.js';
import { validateTopology } from '../model/topology.js';
import { sizeTopology, spoutOfferedRate } from './sizing.js';

describe('the rate data arrives at a spout', () => {
  it('is what it emitted plus what piled up at the source, when the spout reports its backlog', () => {
    const window = recordedWindow({ container_1_source_1: { emitRate: 300 }, container_2_source_2: { emitRate: 300 } }, { source: 0.5 });
    const draining = [
      ...window,
      ...['container_1_source_1', 'container_2_source_2'].map((instance) => ({
        component: 'source',
        instance,
        metric: METRIC.backlogGrowth,
        timestamp: 0,
        value: -100,
      })),
    ];
    // Catching up: 600/s leave the queue, 200/s fewer than that arrive. Paused time does not matter.
    expect(spoutOfferedRate(new MeasurementIndex(draining), 'source')).toBe(400);
  });

  it('is the emit rate over the unpaused time otherwise', () => {
    const window = recordedWindow({ container_1_source_1: { emitRate: 300 } }, { source: 0.5 });
    expect(spoutOfferedRate(new MeasurementIndex(window), 'source')).toBe(600);
  });
});

describe('sizing a topology', () => {
  // source emits 1,000/s on `default` and 76/s on `side`; `audit` reads only `side`, `cache` (three
  // instances) reads `side` with all grouping, `parse` reads `default`.
  const topology = validateTopology({
    name: 'side-streams',
    id: 'side-streams',
    config: {},
    components: [
      {
        name: 'source',
        kind: 'spout',
        parallelism: 1,
        config: {},
        outputs: [
          { id: 'default', fields: ['v'] },
          { id: 'side', fields: ['v'] },
        ],
        inputs: [],
      },
      {
        name: 'parse',
        kind: 'bolt',
        parallelism: 1,
        config: {},
        outputs: [{ id: 'default', fields: ['v'] }],
        inputs: [{ component: 'source', stream: 'default', grouping: { type: 'shuffle' } }],
      },
      {
        name: 'audit',
        kind: 'bolt',
        parallelism: 1,
        config: {},
        outputs: [],
        inputs: [{ component: 'source', stream: 'side', grouping: { type: 'shuffle' } }],
      },
      {
        name: 'cache',
        kind: 'bolt',
        parallelism: 3,
        config: {},
        outputs: [],
        inputs: [{ component: 'source', stream: 'side', grouping: { type: 'all' } }],
      },
      {
        name: 'sink',
        kind: 'bolt',
        parallelism: 1,
        config: {},
        outputs: [],
        inputs: [{ component: 'parse', stream: 'default', grouping: { type: 'shuffle' } }],
      },
    ],
  });
  const window = recordedWindow({
    container_1_source_1: { emitRate: 1076, emitRateByStream: { default: 1000, side: 76 } },
    container_1_parse_2: { executeRate: 1000, emitRate: 1000, emitRateByStream: { default: 1000 }, busyFraction: 0.5 },
    container_1_audit_3: { executeRate: 76, busyFraction: 0.76 },
    container_1_cache_4: { executeRate: 76, busyFraction: 0.1 },
    container_1_cache_5: { executeRate: 76, busyFraction: 0.1 },
    container_1_cache_6: { executeRate: 76, busyFraction: 0.1 },
    container_1_sink_7: { executeRate: 1000, busyFraction: 0.2 },
  });

  it('offers a bolt the rate of the stream it reads, not everything its upstream emits', () => {
    const loads = sizeTopology(topology, new MeasurementIndex(window), 1);
    expect(loads.get('audit')!.offeredRate).toBeCloseTo(76);
    expect(loads.get('parse')!.offeredRate).toBeCloseTo(1000);
    expect(loads.get('sink')!.offeredRate).toBeCloseTo(1000);
    // audit is busy 76% of the time for 76/s: one instance takes it.
    expect(loads.get('audit')!.needed).toBe(1);
  });

  it('offers every instance of an all-grouped bolt the full rate of the stream', () => {
    const load = sizeTopology(topology, new MeasurementIndex(window), 1).get('cache')!;
    expect(load.offeredRate).toBeCloseTo(3 * 76);
    // Each instance gets all 76/s whatever the parallelism: no reason to add instances.
    expect(load.needed).toBe(1);
  });

  it('keeps the parallelism of an all-grouped bolt that one instance cannot keep up with', () => {
    const saturated = window.map((m) => (m.component === 'cache' && m.metric === METRIC.busyFraction ? { ...m, value: 1 } : m));
    // At 70% utilization an instance manages 53/s of the 76/s every instance gets: more instances do not help.
    expect(sizeTopology(topology, new MeasurementIndex(saturated), 0.7).get('cache')!.needed).toBe(3);
  });
});
