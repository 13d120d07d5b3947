import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthActionRecord, HealthLog } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const POLICY = 'healthmgr.policies.dynamic-resource-provisioning';
const FAST_POLICY = [
  `${POLICY}.intervalMs=3000`,
  `${POLICY}.windowMs=6000`,
  `${POLICY}.scaleDownHoldRounds=1`,
  'topology.metricsIntervalMs=500',
];
let home: string;

beforeEach(() => {
  home = freshHome('ardea-health-operator-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function submit(...properties: string[]): Promise<void> {
  const args = [...FAST_POLICY, ...properties].flatMap((p) => ['--config-property', p]);
  const result = await ardea(home, 'submit', 'local', WORD_COUNT, ...args);
  expect(result.code, result.stderr).toBe(0);
}

async function healthLog(): Promise<HealthLog & { mode: string }> {
  const result = await ardea(home, 'health', 'local', 'word-count', '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HealthLog & { mode: string };
}

async function healthText(): Promise<string> {
  const result = await ardea(home, 'health', 'local', 'word-count');
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

const actions = (log: HealthLog): HealthActionRecord[] => log.rounds.flatMap((r) => r.actions);

async function parallelism(component: string): Promise<number> {
  const described = JSON.parse((await ardea(home, 'describe', 'local', 'word-count', '--json')).stdout) as {
    topology: { components: Array<{ name: string; parallelism: number }> };
  };
  return described.topology.components.find((c) => c.name === component)!.parallelism;
}

describe('operators stay in charge of the health manager', () => {
  it('in advise mode proposes the scale-up a saturated bolt needs, with its prediction, and applies nothing', async () => {
    // count waits 1 ms per word, so one instance does at most ~1,000 words/s; 300 sentences/s offer 3,000.
    await submit('sentence.rate=300', 'count.costMicros=1000', 'count.parallelism=1', 'topology.healthManager=advise');
    await vi.waitFor(
      async () => expect(actions(await healthLog()).some((a) => a.type === 'scale-up' && a.outcome === 'proposed')).toBe(true),
      {
        timeout: 2 * E2E_WAIT_MS,
        interval: 1000,
      },
    );
    const log = await healthLog();
    expect(log.mode).toBe('advise');
    const proposal = actions(log).find((a) => a.type === 'scale-up')!;
    expect(proposal.diagnosis).toEqual({ type: 'under-provisioned', component: 'count' });
    expect((proposal.parameters.parallelism as Record<string, number>).count).toBeGreaterThan(1);
    expect(proposal.predictedEffect.executeRate).toBeGreaterThan(0);
    // Nothing was applied: every action is a proposal, none waits for a verdict, count still has 1 instance.
    expect(actions(log).filter((a) => a.outcome === undefined && a.type !== 'report')).toEqual([]);
    expect(actions(log).some((a) => a.verdict !== undefined)).toBe(false);
    expect(await parallelism('count')).toBe(1);
    const text = await healthText();
    expect(text).toMatch(/^health manager: advise/);
    expect(text).toMatch(/ {2}proposal: scale up: count 1 -> \d+/);
    expect(text).toContain('not applied (advise mode)');
  }, 400_000);

  it('keeps the declared parallelism as the floor, and does not undo a manual update during its hold', async () => {
    // Lightly loaded: split is declared with 2 instances, count with 1; neither needs more than 1.
    await submit('sentence.rate=20', 'split.parallelism=2', 'count.parallelism=1');
    await vi.waitFor(
      async () =>
        expect(
          actions(await healthLog()).some(
            (a) => a.type === 'scale-down' && a.outcome === 'skipped' && /split 1 clamped to 2/.test(a.note ?? ''),
          ),
        ).toBe(true),
      { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
    );
    expect(await parallelism('split')).toBe(2);

    // The operator gives count a second instance: the health manager would take it away, but holds off.
    const update = await ardea(home, 'update', 'local', 'word-count', '--component-parallelism', 'count:2');
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toMatch(/held: the health manager will not scale the components set until \d{4}-\d\d-\d\dT/);
    await vi.waitFor(
      async () => {
        const log = await healthLog();
        const held = actions(log).some(
          (a) => a.type === 'scale-down' && a.outcome === 'skipped' && /count held by the operator until/.test(a.note ?? ''),
        );
        expect(held, `no held scale-down of count yet:\n${await healthText()}`).toBe(true);
      },
      { timeout: 2 * E2E_WAIT_MS, interval: 1000 },
    );
    expect(await parallelism('count')).toBe(2);
    const log = await healthLog();
    expect(log.operatorActions).toEqual([expect.objectContaining({ type: 'update', components: ['count'], parallelism: { count: 2 } })]);
    expect(log.pins?.count?.parallelism).toBe(2);
    const text = await healthText();
    expect(text).toMatch(/held by the operator: count at 2 until \d{4}-/);
    expect(text).toMatch(/operator update by cli.*: set count:2; held until/);

    // Unpinned, count goes back to what its load needs; split stays at its floor.
    const unpin = await ardea(home, 'update', 'local', 'word-count', '--unpin', 'count');
    expect(unpin.code, unpin.stderr).toBe(0);
    expect(unpin.stdout).toContain('count of word-count released');
    await vi.waitFor(async () => expect(await parallelism('count')).toBe(1), { timeout: 2 * E2E_WAIT_MS, interval: 1000 });
    expect(await parallelism('split')).toBe(2);
    expect((await healthLog()).operatorActions?.map((a) => a.type)).toEqual(['update', 'unpin']);
  }, 600_000);
});
