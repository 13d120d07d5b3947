import { describe, expect, it } from 'vitest';
import { DS2_ID, HERON_DHALION_ID, heronScaleUp } from './baselines.js';
import { FLINK_AUTOSCALER_ID } from './flink-autoscaler.js';
import { defaultPolicyRegistry } from './policies.js';
import { optimumAt, simulate } from './run.js';
import { modelSpecOf, validateScenario } from './scenario.js';

/** Word count at 500 sentences/s sized for it; ×4 at 600 s and, optionally, back at `downAt`. */
const wordCount = (options: { cv?: number; downAt?: number; duration?: number } = {}) =>
  validateScenario({
    name: 'word-count-x4',
    topology: { builtin: 'word-count', parallelism: { split: 1, count: 2 } },
    load: {
      type: 'steps',
      rate: 500,
      steps: [{ at: 600, factor: 4 }, ...(options.downAt !== undefined ? [{ at: options.downAt, rate: 500 }] : [])],
    },
    duration: options.duration ?? 1500,
    noise: { cv: options.cv ?? 0.1 },
  });

const scaleActions = (log: Awaited<ReturnType<typeof simulate>>['actionLog']) =>
  log.flatMap((round) =>
    round.actions
      .filter((a) => a.type === 'scale-up' || a.type === 'scale-down')
      .map((a) => ({
        at: round.at,
        type: a.type,
        parallelism: a.parameters.parallelism as Record<string, number>,
        previous: a.parameters.previous as Record<string, number>,
      })),
  );

describe('baseline policies', () => {
  it('are registered next to the built-in policy', () => {
    expect(defaultPolicyRegistry().ids()).toEqual([
      'auto-restart',
      DS2_ID,
      'dynamic-resource-provisioning',
      FLINK_AUTOSCALER_ID,
      HERON_DHALION_ID,
      'throughput-slo',
    ]);
  });

  it.each([HERON_DHALION_ID, DS2_ID, FLINK_AUTOSCALER_ID])('%s gives the same action log and metrics for the same seed', async (policy) => {
    const scenario = wordCount();
    const a = await simulate(scenario, { policy, seed: 7 });
    const b = await simulate(scenario, { policy, seed: 7 });
    expect(a.actionLog.length).toBeGreaterThan(0);
    expect(JSON.stringify(b.actionLog)).toBe(JSON.stringify(a.actionLog));
    expect(b.metrics).toEqual(a.metrics);
  });

  it("computes Heron's scale-up factor as ScaleUpResolverTest does, capped at ×5", () => {
    expect(heronScaleUp(2, 500)).toBe(4);
    expect(heronScaleUp(2, 750)).toBe(8);
    expect(heronScaleUp(2, 1000)).toBe(10);
    expect(heronScaleUp(3, 10)).toBe(4);
  });

  it('heron-dhalion scales one component per round and never scales down, through ×4 and back', async () => {
    const result = await simulate(wordCount({ downAt: 2400, duration: 3600 }), { policy: HERON_DHALION_ID, seed: 1 });
    const actions = scaleActions(result.actionLog);
    expect(actions.length).toBeGreaterThanOrEqual(2);
    for (const action of actions) {
      expect(action.type).toBe('scale-up');
      expect(Object.keys(action.parallelism)).toHaveLength(1);
      const [component, after] = Object.entries(action.parallelism)[0]!;
      expect(after).toBeGreaterThan(action.previous[component]!);
      expect(after).toBeLessThanOrEqual(5 * action.previous[component]!);
    }
    // One action per round, and none within the 180 s post-action wait of the previous one.
    for (let k = 1; k < actions.length; k++) expect(actions[k]!.at - actions[k - 1]!.at).toBeGreaterThanOrEqual(180_000);
    const peak = actions.reduce<Record<string, number>>((acc, a) => ({ ...acc, ...a.parallelism }), {});
    for (const [component, n] of Object.entries(peak)) expect(result.metrics.finalParallelism[component]).toBe(n);
  });

  it('ds2 sizes every operator in one action on a ×4 step', async () => {
    const scenario = wordCount({ cv: 0 });
    const result = await simulate(scenario, { policy: DS2_ID, seed: 1 });
    const first = scaleActions(result.actionLog).find((a) => a.at >= 600_000)!;
    expect(first.type).toBe('scale-up');
    expect(Object.keys(first.parallelism).sort()).toEqual(['count', 'split']);
    const needed = optimumAt(modelSpecOf(scenario, 1), 2000, 1).atFullUtilization;
    expect(first.parallelism.split).toBeGreaterThanOrEqual(needed.split!);
    expect(first.parallelism.count).toBeGreaterThanOrEqual(needed.count!);
    // Nothing is left under-provisioned once the step is absorbed.
    expect(result.metrics.underProvisionedAtEnd).toEqual([]);
  });
});
