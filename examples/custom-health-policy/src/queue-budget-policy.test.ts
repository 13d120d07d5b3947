import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, SilentLogger } from '@ardea/core/plugin';
import {
  defaultPolicyRegistry,
  healthPoliciesForTest,
  HealthManager,
  InMemoryStateManager,
  loadClusterForTest,
  loadScenario,
  RecordedSensor,
  RecordingActuator,
  recordedWindow,
  simulate,
  toDefinition,
} from '@ardea/core/testing';
import { simulatedPolicies } from './index.js';
import { QueueBudgetSettingsSchema, queueBudgetPolicy } from './queue-budget-policy.js';

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const topology = (count: number) =>
  toDefinition(
    {
      topologyName: 'word-count',
      components: [
        { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 1, tupleBytes: 1, inputs: [] },
        {
          name: 'count',
          kind: 'bolt',
          parallelism: 1,
          serviceRate: 1,
          tupleBytes: 1,
          inputs: [{ from: 'sentence', grouping: { type: 'shuffle' }, selectivity: 1 }],
        },
      ],
    },
    { count },
  );

describe('the queue-budget policy on recorded windows', () => {
  const settings = QueueBudgetSettingsSchema.parse({ intervalMs: 1000, windowMs: 5000, maxQueueBytes: 1000, holdRounds: 2 });

  async function rounds(count: number, windows: Array<ReturnType<typeof recordedWindow>>) {
    const state = new InMemoryStateManager();
    await state.start();
    const sensor = new RecordedSensor();
    const actuator = new RecordingActuator();
    const policy = queueBudgetPolicy(settings, sensor, actuator);
    let clock = 1_000_000;
    const manager = new HealthManager({
      topologyName: 'word-count',
      policies: [policy],
      state,
      readTopology: async () => topology(count),
      logger: new SilentLogger(),
      minWindowMs: 500,
      noiseMsPerSec: 20,
      clock: () => clock,
    });
    for (const window of windows) {
      sensor.next = window;
      clock += 1000;
      await manager.runRound(policy);
    }
    return { actuator, log: (await state.get('healthLog', 'word-count'))! };
  }

  const overBudget = recordedWindow(
    {
      container_1_sentence_1: { emitRate: 500 },
      container_1_count_2: { executeRate: 400, busyFraction: 1, pendingBytes: 5000 },
      container_2_count_3: { executeRate: 400, busyFraction: 1, pendingBytes: 4000 },
    },
    { sentence: 0.2 },
  );

  it('adds one instance once the queues have stayed over budget for its hold, predicting a higher execute rate', async () => {
    const { actuator, log } = await rounds(2, [overBudget, overBudget]);
    expect(actuator.calls).toEqual([{ scale: { count: 3 } }]);
    const action = log.rounds.flatMap((r) => r.actions)[0]!;
    // 800/s on 2 instances, offered 500 ÷ (1 − 0.2) = 625/s: the gain is capped by the load there is.
    expect(action).toMatchObject({
      type: 'scale-up',
      diagnosis: { type: 'queue-budget-exceeded', component: 'count' },
      predictedEffect: { executeRate: 625 },
    });
  });

  it('leaves one instance with a long queue alone: that is not the bolt being late', async () => {
    const oneOfThree = recordedWindow({ container_1_count_2: { pendingBytes: 5000 }, container_2_count_3: {}, container_1_count_4: {} });
    const { actuator } = await rounds(3, [oneOfThree, oneOfThree, oneOfThree]);
    expect(actuator.calls).toEqual([]);
  });
});

describe('the queue-budget policy in the simulator', () => {
  it('works a queue build-up off step by step, every step judged helpful, in every seed', async () => {
    const scenario = await loadScenario(path.join(PACKAGE, 'scenarios', 'queue-buildup.yaml'));
    const registry = defaultPolicyRegistry();
    for (const factory of simulatedPolicies) registry.register(factory);
    for (let seed = 1; seed <= 10; seed++) {
      const result = await simulate(scenario, { seed, registry });
      const actions = result.actionLog.flatMap((r) => r.actions);
      expect(actions.length, `seed ${seed}`).toBeGreaterThanOrEqual(2);
      expect(
        actions.every((a) => a.verdict === 'helped'),
        `seed ${seed}`,
      ).toBe(true);
      const [regime] = result.metrics.regimes;
      expect(regime!.converged, `seed ${seed}`).toBe(true);
      expect(result.metrics.underProvisionedAtEnd).toEqual([]);
      expect(result.metrics.reversals).toBe(0);
    }
  });
});

describe('the plugin', () => {
  it(
    'is loaded by the cluster config, with its settings from healthmgr.policies.queue-budget, ' + 'and runs next to the built-in policies',
    async () => {
      const cluster = await loadClusterForTest(path.join(PACKAGE, 'cluster'));
      try {
        let clock = 1_000_000;
        // Composed as container 0 composes it, with a recorded sensor and actuator in place of the topology's.
        const health = await healthPoliciesForTest({ deployment: cluster.container, topology: () => topology(2), clock: () => clock });
        expect(health.manager.policies.map((p) => [p.id, p.intervalMs, p.windowMs])).toEqual([
          ['dynamic-resource-provisioning', 30_000, 60_000],
          ['auto-restart', 30_000, 60_000],
          ['queue-budget', 10_000, 20_000],
        ]);
        const deepQueues = recordedWindow({
          container_1_count_2: { executeRate: 400, busyFraction: 1, pendingBytes: 300_000 },
          container_2_count_3: { executeRate: 400, busyFraction: 1, pendingBytes: 300_000 },
        });
        for (let round = 0; round < 2; round++) {
          health.sensor.next = deepQueues;
          clock += 10_000;
          await health.round('queue-budget');
        }
        expect(health.actuator.calls).toEqual([{ scale: { count: 3 } }]);
      } finally {
        await cluster.close();
      }
    },
  );

  it('rejects bad settings naming where they came from and the key', async () => {
    const failure = await loadClusterForTest(path.join(PACKAGE, 'cluster'), {
      overrides: ['healthmgr.policies.queue-budget.maxQueueBytes=-1'],
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('healthmgr.policies.queue-budget.maxQueueBytes');
    expect((failure as Error).message).toMatch(
      /^--config-property healthmgr\.policies\.queue-budget\.maxQueueBytes: .*expected number to be >=1/,
    );
  });
});
