import { describe, expect, it } from 'vitest';
import type { HealthRound } from '../model/runtime-state.js';
import { DS2_ID } from './baselines.js';
import {
  FLINK_AUTOSCALER_ID,
  FlinkAutoscalerSettingsSchema,
  FlinkAutoscalerState,
  flinkDecide,
  flinkTargetCapacity,
} from './flink-autoscaler.js';
import { TopologyModel } from './model.js';
import { defaultPolicyRegistry } from './policies.js';
import { optimumAt, simulate } from './run.js';
import { modelSpecOf, validateScenario } from './scenario.js';
import { METRIC, type Measurement, type PolicyContext } from '../spi/health-policy.js';

const DEFAULTS = FlinkAutoscalerSettingsSchema.parse({});
const STABILIZATION_MS = DEFAULTS.stabilizationMs;
const WINDOW_MS = DEFAULTS.metricsWindowMs;

/** Word count (split μ 1000/s, σ 10; count μ 5000/s) under a load schedule, with Flink settings. */
const wordCount = (options: {
  rate: number;
  steps?: Array<{ at: number; rate: number }>;
  parallelism?: { split: number; count: number };
  duration?: number;
  cv?: number;
  settings?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}) =>
  validateScenario({
    name: 'word-count',
    topology: { builtin: 'word-count', parallelism: options.parallelism ?? { split: 1, count: 2 } },
    load: options.steps ? { type: 'steps', rate: options.rate, steps: options.steps } : { type: 'constant', rate: options.rate },
    duration: options.duration ?? 2400,
    noise: { cv: options.cv ?? 0 },
    policies: { [FLINK_AUTOSCALER_ID]: options.settings ?? {} },
    ...(options.extra ?? {}),
  });

interface Rescale {
  readonly at: number;
  readonly type: string;
  readonly parallelism: Record<string, number>;
  readonly previous: Record<string, number>;
  readonly details: Record<string, Record<string, string | number>>;
}

const rescales = (log: readonly HealthRound[]): Rescale[] =>
  log.flatMap((round) =>
    round.actions
      .filter((a) => a.type === 'scale-up' || a.type === 'scale-down')
      .map((a) => ({
        at: round.at,
        type: a.type,
        parallelism: a.parameters.parallelism as Record<string, number>,
        previous: a.parameters.previous as Record<string, number>,
        details: Object.fromEntries(round.symptoms.filter((s) => s.type === 'rescale').map((s) => [s.component, s.details])),
      })),
  );

const run = (scenario: ReturnType<typeof wordCount>, seed = 1) => simulate(scenario, { policy: FLINK_AUTOSCALER_ID, seed });

describe('flink-autoscaler baseline', () => {
  it('is registered with the other baselines and is deterministic per seed', async () => {
    expect(defaultPolicyRegistry().ids()).toContain(FLINK_AUTOSCALER_ID);
    const scenario = wordCount({ rate: 500, steps: [{ at: 600, rate: 2000 }], cv: 0.1 });
    const a = await run(scenario, 3);
    const b = await run(scenario, 3);
    expect(rescales(a.actionLog).length).toBeGreaterThan(0);
    expect(JSON.stringify(b.actionLog)).toBe(JSON.stringify(a.actionLog));
    expect(b.metrics).toEqual(a.metrics);
  });

  it('does nothing while every bolt is within utilization 0.7 ± 0.3, and acts once one is above it', async () => {
    // 900 sentences/s: split at 0.9 and count at 0.9 busy. Sized for 0.7 they would get 2 and 3
    // instances, but 0.9 is inside the boundary, so the operator leaves them.
    const within = await run(wordCount({ rate: 900, duration: 3600 }));
    expect(within.metrics.actions).toBe(0);
    expect(within.actionLog).toEqual([]);
    // 1100/s: both above utilization 1 — outside the boundary.
    const above = await run(wordCount({ rate: 1100, duration: 1200 }));
    const [first] = rescales(above.actionLog);
    expect(first).toBeDefined();
    expect(first!.parallelism).toEqual({ split: 2, count: 4 });
  });

  it('sizes for the backlog to work off within the catch-up duration, and for the input piling up during a restart', async () => {
    const result = await run(wordCount({ rate: 500, steps: [{ at: 600, rate: 2000 }], duration: 1200 }));
    const first = rescales(result.actionLog).find((a) => a.at > 600_000)!;
    expect(first.type).toBe('scale-up');
    for (const [component, d] of Object.entries(first.details)) {
      const input = Number(d.inputRate);
      const catchUp = Number(d.catchUpRate);
      // The spouts' backlog reaches every bolt through the selectivities.
      expect(catchUp).toBeGreaterThan(0);
      const expected = catchUp + (input * DEFAULTS.restartTimeMs) / DEFAULTS.catchUpDurationMs + input / DEFAULTS.targetUtilization;
      expect(Number(d.targetCapacity)).toBeCloseTo(expected, -1);
      const p = first.previous[component]!;
      expect(first.parallelism[component]).toBe(Math.ceil((p * Number(d.targetCapacity)) / Number(d.trueProcessingRate)));
    }
    // A shorter catch-up duration asks for more capacity for the same backlog.
    expect(flinkTargetCapacity({ targetDataRate: 1000, catchUpDataRate: 200 }, DEFAULTS, 0.7, true)).toBe(
      Math.round(200 + (1000 * 100) / 600 + 1000 / 0.7),
    );
    expect(
      flinkTargetCapacity({ targetDataRate: 1000, catchUpDataRate: 1200 }, { ...DEFAULTS, catchUpDurationMs: 60_000 }, 0.7, true),
    ).toBeGreaterThan(flinkTargetCapacity({ targetDataRate: 1000, catchUpDataRate: 120 }, DEFAULTS, 0.7, true));
    expect(flinkTargetCapacity({ targetDataRate: 1000, catchUpDataRate: 200 }, DEFAULTS, 1, false)).toBe(1200);
  });

  it('takes no decision until stabilization and a full metrics window have passed after a rescale', async () => {
    // ×8 on word count: the first decision reads a window that is mostly the old load, so a second follows.
    const scenario = (stabilizationMs: number) => wordCount({ rate: 250, steps: [{ at: 600, rate: 2000 }], settings: { stabilizationMs } });
    for (const stabilizationMs of [STABILIZATION_MS, 400_000]) {
      const result = await run(scenario(stabilizationMs));
      const actions = rescales(result.actionLog);
      expect(actions.length).toBeGreaterThanOrEqual(2);
      // Nothing before the topology has run for stabilization + window at all.
      expect(actions[0]!.at).toBeGreaterThanOrEqual(stabilizationMs + WINDOW_MS);
      for (let k = 1; k < actions.length; k++)
        expect(actions[k]!.at - actions[k - 1]!.at).toBeGreaterThanOrEqual(stabilizationMs + WINDOW_MS);
      // Nor is anything evaluated in between: no round is logged inside the wait.
      for (const round of result.actionLog) {
        const previous = actions.filter((a) => a.at < round.at).at(-1);
        if (previous) expect(round.at - previous.at).toBeGreaterThanOrEqual(stabilizationMs + WINDOW_MS);
      }
    }
  });

  it('scales down only after the scale-down interval, by at most 60 % per rescale', async () => {
    const scenario = (scaleDownIntervalMs: number) =>
      wordCount({
        rate: 2000,
        parallelism: { split: 3, count: 6 },
        steps: [{ at: 600, rate: 250 }],
        duration: 3000,
        settings: { scaleDownIntervalMs },
      });
    const lazy = rescales((await run(scenario(DEFAULTS.scaleDownIntervalMs))).actionLog);
    const eager = rescales((await run(scenario(0))).actionLog);
    expect(lazy.every((a) => a.type === 'scale-down')).toBe(true);
    expect(eager[0]!.type).toBe('scale-down');
    // Without the interval the first scale-down comes with the first decision that sees the drop.
    expect(eager[0]!.at).toBeLessThan(600_000 + WINDOW_MS);
    // With it, not before the interval has passed since the load dropped (no scale-down can be
    // recommended before that).
    expect(lazy[0]!.at).toBeGreaterThanOrEqual(600_000 + DEFAULTS.scaleDownIntervalMs);
    for (const a of [...lazy, ...eager]) {
      for (const [component, after] of Object.entries(a.parallelism)) {
        expect(after).toBeLessThan(a.previous[component]!);
        expect(after).toBeGreaterThanOrEqual(Math.ceil(a.previous[component]! * (1 - DEFAULTS.scaleDownMaxFactor)));
      }
    }
  });

  it('scales down to the highest parallelism recommended within the scale-down interval', () => {
    const scenario = wordCount({ rate: 300, parallelism: { split: 6, count: 6 } });
    const topology = new TopologyModel(modelSpecOf(scenario, 1)).topology();
    // One window's measurements: the spout emits 300 sentences/s with no backlog; each split
    // instance is busy `busy`, each count instance 0.6 (its recommendation stays at 6).
    const context = (now: number, busy: number): PolicyContext => {
      const rate = 300;
      const m: Measurement[] = [];
      const put = (component: string, instance: string, metric: string, value: number) =>
        m.push({ component, instance, metric, timestamp: now, value });
      put('sentence', 'container_1_sentence_1', METRIC.emitRate, rate);
      put('sentence', 'container_1_sentence_1', METRIC.backlog, 0);
      put('sentence', 'container_1_sentence_1', METRIC.backlogGrowth, 0);
      m.push({ component: 'sentence', metric: METRIC.pausedFraction, timestamp: now, value: 0 });
      for (let i = 0; i < 6; i++) {
        put('split', `container_1_split_${i + 2}`, METRIC.executeRate, rate / 6);
        put('split', `container_1_split_${i + 2}`, METRIC.emitRate, (rate / 6) * 10);
        put('split', `container_1_split_${i + 2}`, METRIC.busyFraction, busy);
        put('count', `container_1_count_${i + 8}`, METRIC.executeRate, (rate * 10) / 6);
        put('count', `container_1_count_${i + 8}`, METRIC.emitRate, 0);
        put('count', `container_1_count_${i + 8}`, METRIC.busyFraction, 0.6);
      }
      return { topologyName: 'word-count', topology, now, windowMs: WINDOW_MS, measurements: m };
    };
    const settings = { ...DEFAULTS, scaleDownIntervalMs: 300_000 };
    const state = new FlinkAutoscalerState();
    // Target capacity = input × (1/0.7 + 100/600), so split's recommendation is
    // ceil(6 × 1.595 × busy), at least 40 % of 6: busy 0.25 → 3, busy 0.35 → 4 (both below
    // utilization 0.4 as the boundary sees it, i.e. outside).
    expect(flinkDecide(context(0, 0.25), settings, state).changes.size).toBe(0);
    expect(flinkDecide(context(100_000, 0.35), settings, state).changes.size).toBe(0);
    expect(flinkDecide(context(200_000, 0.25), settings, state).changes.size).toBe(0);
    const due = flinkDecide(context(300_000, 0.25), settings, state).changes;
    expect([...due.keys()]).toEqual(['split']);
    expect(due.get('split')).toMatchObject({ current: 6, next: 4, outside: true });
    // The highest recommendation leaves the interval once it is older than the interval.
    expect(flinkDecide(context(450_000, 0.25), settings, state).changes.get('split')).toMatchObject({ current: 6, next: 3 });
    // A recommendation to stay drops the delayed scale-down: the interval starts again.
    expect(flinkDecide(context(500_000, 0.55), settings, state).changes.size).toBe(0);
    expect(flinkDecide(context(600_000, 0.25), settings, state).changes.size).toBe(0);
    expect(flinkDecide(context(900_000, 0.25), settings, state).changes.get('split')).toMatchObject({ current: 6, next: 3 });
  });

  it('does not repeat a scale-up that brought less than the effectiveness threshold of its expected gain', async () => {
    // Two cores: more instances cannot run faster, so the first scale-up gains (almost) nothing.
    const scenario = (effectivenessDetection: boolean) =>
      wordCount({
        rate: 500,
        steps: [{ at: 600, rate: 2000 }],
        duration: 3000,
        settings: { effectivenessDetection },
        extra: { cpu: { cores: 2 } },
      });
    const blocked = await run(scenario(true));
    const reported = blocked.actionLog.filter((r) => r.diagnoses.some((d) => d.type.startsWith('ineffective-scaling')));
    expect(reported.length).toBeGreaterThan(0);
    const ineffective = reported[0]!.diagnoses.find((d) => d.type.startsWith('ineffective-scaling'))!.component;
    const after = rescales(blocked.actionLog).filter((a) => a.at >= reported[0]!.at);
    expect(after.filter((a) => (a.parallelism[ineffective] ?? 0) > (a.previous[ineffective] ?? Infinity))).toEqual([]);
    // With detection off (the operator's shipped default) the same scale-up is repeated.
    const repeated = await run(scenario(false));
    const ups = rescales(repeated.actionLog).filter((a) => (a.parallelism[ineffective] ?? 0) > (a.previous[ineffective] ?? Infinity));
    expect(ups.length).toBeGreaterThan(rescales(blocked.actionLog).filter((a) => ineffective in a.parallelism).length);
  });
});

describe('ds2 baseline headroom', () => {
  it('sizes for utilization 0.7 by default and for utilization 1 with scalingFactor 0', async () => {
    const scenario = (settings: Record<string, unknown>) =>
      validateScenario({
        name: 'word-count-x4',
        topology: { builtin: 'word-count', parallelism: { split: 1, count: 2 } },
        load: { type: 'steps', rate: 500, steps: [{ at: 600, factor: 4 }] },
        duration: 1500,
        policies: { [DS2_ID]: settings },
      });
    const spec = modelSpecOf(scenario({}), 1);
    const sized = async (settings: Record<string, unknown>) => {
      const result = await simulate(scenario(settings), { policy: DS2_ID, seed: 1 });
      return { first: rescales(result.actionLog).find((a) => a.at >= 600_000)!, result };
    };
    const headroom = await sized({});
    expect(headroom.first.parallelism).toEqual(optimumAt(spec, 2000, 0.7).atTarget);
    expect(headroom.result.metrics.targetUtilization).toBeCloseTo(0.7, 10);
    const full = await sized({ scalingFactor: 0 });
    expect(full.first.parallelism.count!).toBeLessThan(headroom.first.parallelism.count!);
    expect(full.result.metrics.targetUtilization).toBe(1);
  });
});
