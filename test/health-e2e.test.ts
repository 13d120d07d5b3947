import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthLog, HealthRound } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, metrics, removeHome, repoRoot } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const POLICY = 'healthmgr.policies.dynamic-resource-provisioning';
const FAST_POLICY = [`${POLICY}.intervalMs=3000`, `${POLICY}.windowMs=6000`, 'topology.metricsIntervalMs=500'];
let home: string;

beforeEach(() => {
  home = freshHome('ardea-health-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function submit(...properties: string[]): Promise<void> {
  const args = [...FAST_POLICY, ...properties].flatMap((p) => ['--config-property', p]);
  const result = await ardea(home, 'submit', 'local', WORD_COUNT, ...args);
  expect(result.code, result.stderr).toBe(0);
}

async function healthLog(): Promise<HealthLog> {
  const result = await ardea(home, 'health', 'local', 'word-count', '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HealthLog;
}

const actionsOf = (log: HealthLog, type: string) => log.rounds.flatMap((r: HealthRound) => r.actions.filter((a) => a.type === type));

async function parallelism(component: string): Promise<number> {
  const described = JSON.parse((await ardea(home, 'describe', 'local', 'word-count', '--json')).stdout) as {
    topology: { components: Array<{ name: string; parallelism: number }> };
  };
  return described.topology.components.find((c) => c.name === component)!.parallelism;
}

describe('the health manager', () => {
  it('scales an under-provisioned bolt up to what the load needs, then back down when the load drops', async () => {
    // count waits 1 ms per word (no CPU), so one instance does at most ~1,000 words/s; 300 sentences/s offer 3,000.
    await submit('sentence.rate=300', 'count.costMicros=1000', 'count.parallelism=1', 'split.parallelism=1');
    await vi.waitFor(async () => expect(actionsOf(await healthLog(), 'scale-up').some((a) => a.verdict === 'helped')).toBe(true), {
      timeout: 2 * E2E_WAIT_MS,
      interval: 1000,
    });
    const log = await healthLog();
    const ups = actionsOf(log, 'scale-up');
    expect(ups.length).toBeLessThanOrEqual(2);
    const first = log.rounds.find((r) => r.actions.some((a) => a.type === 'scale-up'))!;
    expect(first.diagnoses.some((d) => d.type === 'under-provisioned' && d.component === 'count')).toBe(true);
    expect(ups[0]).toMatchObject({
      diagnosis: { type: 'under-provisioned', component: 'count' },
      predictedEffect: { backpressureMsPerSec: 0 },
    });

    // The analytic need: offered words/s ÷ what one count instance did per second of busy time, as
    // measured in the round that decided the last scale-up. On a starved machine an instance's true
    // rate drifts (its 1 ms waits end late by however long it waits for a CPU), so a rate measured
    // at another time would judge the policy by the machine's load rather than by its sizing.
    const count = await parallelism('count');
    const last = log.rounds.filter((r) => r.actions.some((a) => a.type === 'scale-up')).at(-1)!;
    const story = log.rounds
      .map(
        (r) =>
          `round ${r.round}: ${r.symptoms.map((s) => `${s.type}@${s.component} ${JSON.stringify(s.details)}`).join('; ')} ` +
          `=> ${r.actions.map((a) => a.description).join('; ')}`,
      )
      .join('\n');
    const saturation = last.symptoms.find((s) => s.type === 'saturation' && s.component === 'count');
    expect(saturation, `the last scale-up was decided without a saturation of count\n${story}`).toBeDefined();
    const seen = saturation!.details as { offeredRate: number; executeRate: number; busy: number };
    const before = ups.length > 1 ? (ups.at(-2)!.parameters.parallelism as Record<string, number>).count! : 1;
    const trueRate = seen.executeRate / (seen.busy * before);
    const needed = Math.ceil(seen.offeredRate / trueRate);
    expect(
      Math.abs(count - needed),
      `count has ${count} instances, analytic need ${needed} (true rate ${Math.round(trueRate)}/s)\n${story}`,
    ).toBeLessThanOrEqual(1);
    const afterUp = await metrics(home, 'word-count');
    expect(afterUp.count!.backpressureMs).toBe(0);

    expect((await ardea(home, 'update', 'local', 'word-count', '--runtime-config', 'sentence:rate=60')).code).toBe(0);
    await vi.waitFor(
      async () =>
        expect(
          actionsOf(await healthLog(), 'scale-down').some(
            (a) => a.verdict !== undefined && (a.parameters.parallelism as Record<string, number>).count !== undefined,
          ),
        ).toBe(true),
      {
        timeout: 2 * E2E_WAIT_MS,
        interval: 1000,
      },
    );
    const downs = actionsOf(await healthLog(), 'scale-down');
    for (const down of downs) expect(down.verdict).toBe('helped');
    expect(await parallelism('count')).toBeLessThan(count);
    expect((await metrics(home, 'word-count')).count!.backpressureMs).toBe(0);
  }, 600_000);

  it('diagnoses one 10x slower instance as a slow instance and handles it without adding instances', async () => {
    await submit(
      'sentence.rate=400',
      'split.costMicros=1000',
      'split.parallelism=3',
      'split.slowInstance=1',
      'split.slowFactor=10',
      `${POLICY}.scaleDownHoldRounds=1000`,
    );
    await vi.waitFor(async () => expect(actionsOf(await healthLog(), 'route-around').some((a) => a.verdict === 'helped')).toBe(true), {
      timeout: 2 * E2E_WAIT_MS,
      interval: 1000,
    });
    const log = await healthLog();
    expect(log.rounds.flatMap((r) => r.diagnoses).some((d) => d.type === 'slow-instance' && d.component === 'split')).toBe(true);
    expect(log.rounds.flatMap((r) => r.diagnoses).some((d) => d.type === 'under-provisioned')).toBe(false);
    expect(actionsOf(log, 'scale-up')).toEqual([]);
    expect(await parallelism('split')).toBe(3);
  }, 400_000);

  it('can be switched off per topology', async () => {
    await submit('sentence.rate=300', 'count.costMicros=1000', 'count.parallelism=1', 'topology.healthManager=false');
    // Long enough for several rounds of an enabled manager (every 3 s), with count saturated throughout.
    await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count!.executed).toBeGreaterThan(14_000), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    expect((await metrics(home, 'word-count')).count!.busyFraction).toBeGreaterThan(0.8);
    expect((await healthLog()).rounds).toEqual([]);
    expect(await parallelism('count')).toBe(1);
  }, 400_000);
});
