import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HealthActionRecord } from '../model/runtime-state.js';
import { simulate, type SimulationResult } from './run.js';
import { loadScenario, validateScenario, type Scenario } from './scenario.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/scenarios');
const SEEDS = Array.from({ length: 20 }, (_, k) => k + 1);

const actionsOf = (result: SimulationResult): Array<HealthActionRecord & { at: number }> =>
  result.actionLog.flatMap((r) => r.actions.map((a) => ({ ...a, at: r.at })));
const changes = (result: SimulationResult) => actionsOf(result).filter((a) => a.type !== 'report');

describe('the auto-restart policy in the simulator', () => {
  it('restarts the container of a hung split instance within its stall rounds in every seed, and the topology recovers', async () => {
    const scenario = await loadScenario(path.join(EXAMPLES, 'word-count-hung-instance.yaml'));
    for (const seed of SEEDS) {
      const result = await simulate(scenario, { seed });
      const [restart, ...more] = changes(result);
      expect(more, `seed ${seed}`).toEqual([]);
      expect(restart, `seed ${seed}`).toMatchObject({
        type: 'restart',
        diagnosis: { type: 'stalled-instance', component: 'split' },
        verdict: 'helped',
      });
      // Hung at 300 s; the stall must show in 2 rounds 30 s apart, and the first window to see it
      // needs the queue to have reached the watermark: at most 4 rounds.
      expect(restart!.at / 1000 - 300, `seed ${seed}`).toBeLessThanOrEqual(4 * 30);
      const fault = result.metrics.regimes.find((r) => r.cause === 'hung-instance')!;
      expect(fault.converged, `seed ${seed}`).toBe(true);
      expect(result.metrics.finalLag).toBe(0);
      expect(result.metrics.finalParallelism).toEqual({ sentence: 1, split: 3, count: 4 });
    }
  });

  it('has nothing to restart when the engine restarts the hung worker itself, and reports that it did', async () => {
    const base = await loadScenario(path.join(EXAMPLES, 'word-count-hung-instance.yaml'));
    const scenario = validateScenario({ ...base, hungInstanceMs: 10_000 });
    for (const seed of SEEDS.slice(0, 5)) {
      const result = await simulate(scenario, { seed });
      expect(changes(result), `seed ${seed}`).toEqual([]);
      const diagnoses = result.actionLog.flatMap((r) => r.diagnoses);
      // Every round whose window holds the restart says so.
      const hung = diagnoses.filter((d) => d.type === 'hung-worker');
      expect(hung.length, `seed ${seed}`).toBeGreaterThan(0);
      expect(new Set(hung.map((d) => `${d.component} ${d.instances.join(',')}`)).size, `seed ${seed}`).toBe(1);
      expect(hung[0]!.component).toBe('split');
      expect(
        diagnoses.filter((d) => d.type === 'stalled-instance'),
        `seed ${seed}`,
      ).toEqual([]);
      expect(result.metrics.regimes.find((r) => r.cause === 'hung-instance')!.converged, `seed ${seed}`).toBe(true);
      expect(result.metrics.finalLag).toBe(0);
    }
  });

  it('restarts once, judges it did not help, and does not restart again when the hang survives restarts', async () => {
    const base = await loadScenario(path.join(EXAMPLES, 'word-count-hung-instance.yaml'));
    const scenario = validateScenario({ ...base, hungInstance: { ...base.hungInstance, clearedByRestart: false } });
    const result = await simulate(scenario, { seed: 1 });
    expect(changes(result)).toEqual([expect.objectContaining({ type: 'restart', verdict: 'did-not-help' })]);
    expect(result.actionLog.some((r) => r.blacklisted.some((b) => b.type === 'stalled-instance'))).toBe(true);
  });

  it('leaves a hung instance to the restart: the provisioning policy does not scale it up', async () => {
    const scenario = await loadScenario(path.join(EXAMPLES, 'word-count-hung-instance.yaml'));
    const result = await simulate(scenario, { seed: 1, policy: 'dynamic-resource-provisioning' });
    // A window that still holds the tuples split executed before it hung (at 300 s) cannot tell a
    // hang from a slowdown; every window wholly after it can.
    const afterOnset = result.actionLog.filter((r) => r.at - r.windowMs >= 300_000);
    expect(afterOnset.flatMap((r) => r.diagnoses).filter((d) => d.type === 'under-provisioned')).toEqual([]);
    expect(actionsOf(result).filter((a) => a.type === 'scale-up')).toEqual([]);
  });

  it('stops a crash loop with one container restart in every seed', async () => {
    const scenario = await loadScenario(path.join(EXAMPLES, 'word-count-crash-loop.yaml'));
    for (const seed of SEEDS) {
      const result = await simulate(scenario, { seed });
      expect(changes(result), `seed ${seed}`).toEqual([
        expect.objectContaining({
          type: 'restart',
          diagnosis: { type: 'crash-loop', component: 'count' },
          verdict: 'helped',
          observedEffect: expect.objectContaining({ restarts: 0 }),
        }),
      ]);
    }
  });

  it('takes no action on a healthy topology under noisy Poisson load (CV 20 %)', async () => {
    const scenario = validateScenario({
      name: 'stationary-noisy',
      topology: { builtin: 'word-count', parallelism: { split: 2, count: 3 } },
      load: { type: 'constant', rate: 500 },
      source: { arrivals: 'poisson' },
      noise: { cv: 0.2 },
      duration: 3600,
      policy: 'auto-restart',
    });
    for (const seed of SEEDS) expect(changes(await simulate(scenario, { seed })), `seed ${seed}`).toEqual([]);
  });
});

describe('the throughput-SLO policy in the simulator', () => {
  const scenario = (extra: Record<string, unknown> = {}): Promise<Scenario> =>
    loadScenario(path.join(EXAMPLES, 'word-count-throughput-slo.yaml')).then((s) => validateScenario({ ...s, ...extra }));

  it('without noise, meets the goal with one update that sizes the spout and both bolts', async () => {
    const result = await simulate(await scenario({ noise: { cv: 0 } }), { seed: 1 });
    const [action, ...more] = changes(result);
    expect(more).toEqual([]);
    // 4,000 sentences/s at 85 %: sentence (1,000/s each) 5, split (2,000/s) 3, count (50,000 words/s at 5,000) 10.
    expect(action).toMatchObject({
      type: 'scale-up',
      parameters: { parallelism: { sentence: 5, split: 3, count: 10 } },
      verdict: 'helped',
    });
    expect(action!.observedEffect!.throughput).toBeGreaterThanOrEqual(4000);
  });

  it('with 10 % noise, meets the goal in at most two updates in every seed and never scales down', async () => {
    const noisy = await scenario();
    for (const seed of SEEDS) {
      const result = await simulate(noisy, { seed });
      const ups = changes(result);
      expect(ups.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(ups.length, `seed ${seed}`).toBeLessThanOrEqual(2);
      expect(ups.every((a) => a.type === 'scale-up')).toBe(true);
      expect(result.metrics.finalParallelism.sentence! * 1000, `seed ${seed}`).toBeGreaterThanOrEqual(4000);
    }
  });

  it('reports, and adds nothing, when the source offers less than the goal', async () => {
    const result = await simulate(await scenario({ load: { type: 'constant', rate: 800 }, noise: { cv: 0 } }), { seed: 1 });
    expect(changes(result)).toEqual([]);
    const reports = actionsOf(result).filter((a) => a.type === 'report');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.description).toMatch(/source offers less than the goal/);
  });
});
