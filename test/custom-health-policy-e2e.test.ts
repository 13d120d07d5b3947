import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthLog } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
/** The example's cluster: the local pool, with the queue-budget plugin named in its healthmgr.yaml. */
const CLUSTER = path.join(repoRoot, 'examples', 'custom-health-policy', 'cluster');
const POLICY = 'healthmgr.policies.queue-budget';
let home: string;

beforeEach(() => {
  home = freshHome('ardea-custom-policy-');
});

afterEach(async () => {
  await removeHome(home, [CLUSTER]);
}, CLEANUP_TIMEOUT_MS);

async function healthLog(): Promise<HealthLog> {
  const result = await ardea(home, 'health', CLUSTER, 'word-count', '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HealthLog;
}

describe('a health policy from its own package', () => {
  it('is loaded by the cluster config into a running topology and acts on it', async () => {
    // count waits 1 ms per word, so one instance manages under 1,000 words/s of the 1,500 offered:
    // its queue grows past the budget, and only the plugin's policy is there to act.
    const properties = [
      'sentence.rate=150',
      'count.costMicros=1000',
      'count.parallelism=1',
      'topology.metricsIntervalMs=500',
      'healthmgr.policies.dynamic-resource-provisioning.enabled=false',
      `${POLICY}.intervalMs=3000`,
      `${POLICY}.windowMs=6000`,
      `${POLICY}.maxQueueBytes=16384`,
      `${POLICY}.holdRounds=1`,
    ];
    const submitted = await ardea(home, 'submit', CLUSTER, WORD_COUNT, ...properties.flatMap((p) => ['--config-property', p]));
    expect(submitted.code, submitted.stderr).toBe(0);
    await vi.waitFor(
      async () =>
        expect((await healthLog()).rounds.some((r) => r.policy === 'queue-budget' && r.actions.some((a) => a.verdict !== undefined))).toBe(
          true,
        ),
      {
        timeout: 2 * E2E_WAIT_MS,
        interval: 1000,
      },
    );
    const rounds = (await healthLog()).rounds;
    expect(rounds.every((r) => r.policy === 'queue-budget')).toBe(true);
    const first = rounds.flatMap((r) => r.actions)[0]!;
    expect(first).toMatchObject({
      type: 'scale-up',
      diagnosis: { type: 'queue-budget-exceeded', component: 'count' },
      parameters: { parallelism: { count: 2 } },
    });
    const described = JSON.parse((await ardea(home, 'describe', CLUSTER, 'word-count', '--json')).stdout) as {
      topology: { components: Array<{ name: string; parallelism: number }> };
    };
    expect(described.topology.components.find((c) => c.name === 'count')!.parallelism).toBeGreaterThanOrEqual(2);
  }, 400_000);

  it('fails the submit when its settings are wrong, naming the key', async () => {
    const submitted = await ardea(home, 'submit', CLUSTER, WORD_COUNT, '--config-property', `${POLICY}.step=0`);
    expect(submitted.code).not.toBe(0);
    expect(submitted.stderr).toContain(`${POLICY}.step`);
    expect((await ardea(home, 'list', CLUSTER)).stdout).toMatch(/no topologies/);
  }, 300_000);
});
