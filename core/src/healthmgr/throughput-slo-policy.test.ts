import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { loadClusterConfig } from '../config/cluster-config.js';
import type { TopologyDefinition } from '../model/topology.js';
import { toDefinition } from '../simulator/model.js';
import { healthPoliciesForTest, recordedWindow, type RecordedInstance } from '../testing/health-policy-testing.js';
import { validateHealthSettings } from './builtin-policies.js';
import {
  EmitCountDetector,
  SloViolationDiagnoser,
  THROUGHPUT_SLO_POLICY_ID,
  ThroughputSloSettingsSchema,
} from './throughput-slo-policy.js';

const settings = ThroughputSloSettingsSchema.parse({ enabled: true, tuplesPerSec: 4000, intervalMs: 1000, windowMs: 10_000 });

function wordCount(sentence: number, split: number, count: number): TopologyDefinition {
  return toDefinition(
    {
      topologyName: 'word-count',
      components: [
        { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 1, tupleBytes: 1, inputs: [] },
        {
          name: 'split',
          kind: 'bolt',
          parallelism: 1,
          serviceRate: 1,
          tupleBytes: 1,
          inputs: [{ from: 'sentence', grouping: { type: 'shuffle' }, selectivity: 1 }],
        },
        {
          name: 'count',
          kind: 'bolt',
          parallelism: 1,
          serviceRate: 1,
          tupleBytes: 1,
          inputs: [{ from: 'split', grouping: { type: 'fields', zipfExponent: 0, keys: 1 }, selectivity: 10 }],
        },
      ],
    },
    { sentence, split, count },
  );
}

/**
 * Word count where one sentence instance emits at most `spoutRate`/s, split does 2,000 sentences
 * and count 10,000 words per busy second per instance; the source offers `offered` sentences/s.
 */
function window(options: { offered: number; spoutRate: number; sentence: number; split: number; count: number }) {
  const spoutCapacity = options.sentence * options.spoutRate;
  const boltCapacity = Math.min(options.split * 2000, (options.count * 10_000) / 10);
  const throughput = Math.min(options.offered, spoutCapacity, boltCapacity);
  const paused = throughput < Math.min(options.offered, spoutCapacity) ? 1 - throughput / Math.min(options.offered, spoutCapacity) : 0;
  const instances: Record<string, RecordedInstance> = {};
  for (let k = 0; k < options.sentence; k++)
    instances[`container_1_sentence_${1 + k}`] = { emitRate: throughput / options.sentence, busyFraction: throughput / spoutCapacity };
  for (let k = 0; k < options.split; k++) {
    const executed = throughput / options.split;
    instances[`container_1_split_${10 + k}`] = {
      executeRate: executed,
      emitRate: executed * 10,
      busyFraction: executed / 2000,
      backpressureMs: paused > 0 && boltCapacity === options.split * 2000 ? 5000 : 0,
    };
  }
  for (let k = 0; k < options.count; k++) {
    const executed = (throughput * 10) / options.count;
    instances[`container_2_count_${20 + k}`] = { executeRate: executed, busyFraction: executed / 10_000 };
  }
  return recordedWindow(instances, { sentence: paused });
}

const context = (topology: TopologyDefinition, measurements: ReturnType<typeof window>) => ({
  topologyName: 'word-count',
  topology,
  now: 0,
  windowMs: 10_000,
  measurements,
});

describe('the emit-count detector', () => {
  it('stays quiet while the spouts emit the goal within its tolerance', async () => {
    const detector = new EmitCountDetector(settings);
    const met = window({ offered: 3650, spoutRate: 5000, sentence: 1, split: 4, count: 8 });
    expect(await detector.detect(met, context(wordCount(1, 4, 8), met))).toEqual([]);
    const missed = window({ offered: 3550, spoutRate: 5000, sentence: 1, split: 4, count: 8 });
    expect(await detector.detect(missed, context(wordCount(1, 4, 8), missed))).toEqual([
      expect.objectContaining({
        type: 'throughput-below-slo',
        component: 'sentence',
        details: { throughput: 3550, goal: 4000, emitRate: 3550 },
      }),
    ]);
  });
});

describe('the SLO-violation diagnoser', () => {
  const causeOf = async (options: Parameters<typeof window>[0]) => {
    const measurements = window(options);
    const topology = wordCount(options.sentence, options.split, options.count);
    const symptoms = await new EmitCountDetector(settings).detect(measurements, context(topology, measurements));
    const [diagnosis] = await new SloViolationDiagnoser(settings).diagnose(symptoms, context(topology, measurements));
    return diagnosis?.details.cause;
  };

  it('tells spouts that run flat out, bolts that hold them back, and a source that has no more to give apart', async () => {
    expect(await causeOf({ offered: 9000, spoutRate: 1000, sentence: 1, split: 4, count: 8 })).toBe('spout-capacity');
    expect(await causeOf({ offered: 9000, spoutRate: 9000, sentence: 1, split: 1, count: 8 })).toBe('backpressure');
    expect(await causeOf({ offered: 2500, spoutRate: 9000, sentence: 1, split: 4, count: 8 })).toBe('source');
  });
});

describe('the throughput-SLO policy', () => {
  let clock: number;
  let topology: TopologyDefinition;

  beforeEach(() => {
    clock = 1_000_000;
  });

  /** Rounds 5 s apart of the policy as container 0 composes it, for a goal of 4,000 tuples/s. */
  const run = async (windows: Array<() => ReturnType<typeof window>>) => {
    const slo = `healthmgr.policies.${THROUGHPUT_SLO_POLICY_ID}`;
    const health = await healthPoliciesForTest({
      properties: [`${slo}.enabled=true`, `${slo}.tuplesPerSec=4000`, `${slo}.intervalMs=1000`, `${slo}.windowMs=10000`],
      topology: () => topology,
      clock: () => clock,
    });
    for (const next of windows) {
      health.sensor.next = next();
      clock += 5000;
      await health.round(THROUGHPUT_SLO_POLICY_ID);
    }
    return { actuator: health.actuator, log: await health.actionLog() };
  };

  it('scales the spout for the goal and re-sizes both bolts for the load it brings, in one update', async () => {
    topology = wordCount(1, 1, 2);
    const { actuator, log } = await run([
      () => window({ offered: 9000, spoutRate: 1000, sentence: 1, split: 1, count: 2 }),
      () => window({ offered: 9000, spoutRate: 1000, sentence: 5, split: 3, count: 5 }),
      () => window({ offered: 9000, spoutRate: 1000, sentence: 5, split: 3, count: 5 }),
    ]);
    // 4,000/s at 85 %: sentence ⌈4000/850⌉ = 5; split (1,000 sentences at 50 % busy) ⌈0.5·4/0.85⌉ = 3;
    // count (10,000 words at 50 % busy over 2 instances) ⌈1·4/0.85⌉ = 5.
    expect(actuator.calls).toEqual([{ scale: { sentence: 5, split: 3, count: 5 } }]);
    const action = log.flatMap((r) => r.actions)[0]!;
    expect(action).toMatchObject({
      type: 'scale-up',
      diagnosis: { type: 'slo-violation', component: 'sentence' },
      predictedEffect: { throughput: 4000 },
    });
    expect(action.verdict).toBe('helped');
    expect(action.observedEffect!.throughput).toBe(5000);
  });

  it('scales only the bolts when they hold the spouts back', async () => {
    topology = wordCount(1, 1, 8);
    const { actuator } = await run([() => window({ offered: 9000, spoutRate: 9000, sentence: 1, split: 1, count: 8 })]);
    expect(actuator.calls).toEqual([{ scale: { split: 3 } }]);
  });

  it('reports once, and scales nothing, when the source offers less than the goal', async () => {
    topology = wordCount(1, 4, 8);
    const low = () => window({ offered: 2500, spoutRate: 9000, sentence: 1, split: 4, count: 8 });
    const { actuator, log } = await run([low, low, low]);
    expect(actuator.calls).toEqual([]);
    const reports = log.flatMap((r) => r.actions);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.description).toMatch(/source offers less than the goal/);
  });
});

describe('throughput-slo settings', () => {
  it('need a goal when the policy is enabled, and say so naming the key', () => {
    const config = loadClusterConfig({
      cluster: 'local',
      home: '/tmp/ardea-slo-settings',
      overrides: ['healthmgr.policies.throughput-slo.enabled=true'],
    });
    expect(() => validateHealthSettings(config)).toThrow(ConfigError);
    expect(() => validateHealthSettings(config)).toThrow(/tuplesPerSec/);
  });
});
