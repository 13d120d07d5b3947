import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { beforeEach, describe, expect, it } from 'vitest';
import { TopologyBuilder } from '../api/topology-builder.js';
import { healthText } from '../cli/commands/topology-commands.js';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { ConfigError, TopologyError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { HealthLog } from '../model/runtime-state.js';
import { DECLARED_PARALLELISM_KEY, type TopologyDefinition } from '../model/topology.js';
import type { Measurement } from '../spi/health-policy.js';
import { StateManager } from '../spi/state-manager.js';
import { RecordedSensor, RecordingActuator, recordedWindow } from '../testing/health-policy-testing.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { HealthManager } from './health-manager.js';
import { createHealthContainer } from './health-module.js';
import { componentBounds, healthModeOf, operatorSettingsOf, PROVISIONING_POLICY_ID } from './settings.js';

/** sentence → shuffle → count, count with `count` instances and the given component config. */
function topologyWith(count: number, countConfig: Record<string, unknown> = {}): TopologyDefinition {
  return {
    name: 'word-count',
    id: 'word-count-1',
    config: {},
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, config: {}, outputs: [{ id: 'default', fields: ['word'] }], inputs: [] },
      {
        name: 'count',
        kind: 'bolt',
        parallelism: count,
        config: countConfig,
        outputs: [],
        inputs: [{ component: 'sentence', stream: 'default', grouping: { type: 'shuffle' } }],
      },
    ],
  };
}

/** Count instances at `busy` each, executing `rate` words/s each; saturated ones backpressure the spout. */
function countWindow(instances: number, rate: number, busy: number): Measurement[] {
  const saturated = busy >= 0.99;
  const window: Record<string, { executeRate?: number; emitRate?: number; busyFraction?: number; backpressureMs?: number }> = {
    container_1_sentence_1: { emitRate: instances * rate, busyFraction: 0.01 },
  };
  for (let i = 0; i < instances; i++)
    window[`container_2_count_${10 + i}`] = { executeRate: rate, busyFraction: busy, backpressureMs: saturated ? 3000 : 0 };
  // Saturated: the spout is paused half the time, so the offered load is twice what count executes.
  return recordedWindow(window, { sentence: saturated ? 0.5 : 0 });
}

const saturated = (instances: number) => countWindow(instances, 1000, 1);
const idle = (instances: number) => countWindow(instances, 50, 0.05);

let topology: TopologyDefinition;
let clock: number;

beforeEach(() => {
  topology = topologyWith(2);
  clock = 1_000_000;
});

/** Container 0's health manager in `mode`, with a recorded sensor and actuator, rounds every second. */
async function manager(mode: 'advise' | 'act', configure: (config: ClusterConfig) => ClusterConfig = (c) => c) {
  const config = loadClusterConfig({
    cluster: 'local',
    home: path.join(os.tmpdir(), 'ardea-operator-test'),
    overrides: [
      `healthmgr.policies.${PROVISIONING_POLICY_ID}.intervalMs=1000`,
      `healthmgr.policies.${PROVISIONING_POLICY_ID}.windowMs=10000`,
      'healthmgr.policies.auto-restart.enabled=false',
    ],
  });
  const state = new InMemoryStateManager();
  await state.start();
  const deployment = new Container({ defaultScope: 'Singleton' });
  deployment.bind<ClusterConfig>(ClusterConfig).toConstantValue(configure(config));
  deployment.bind<StateManager>(StateManager).toConstantValue(state);
  deployment.bind<Logger>(Logger).toConstantValue(new SilentLogger());
  const sensor = new RecordedSensor();
  const actuator = new RecordingActuator();
  const health = createHealthContainer(deployment, {
    topologyName: 'word-count',
    actuator,
    sensor,
    minWindowMs: 1000,
    readTopology: async () => topology,
    clock: () => clock,
    mode,
  }).get<HealthManager>(HealthManager);
  const [policy] = health.policies;
  const run = async (window: Measurement[]) => {
    sensor.next = window;
    clock += 1000;
    return health.runRound(policy!);
  };
  return { run, actuator, state };
}

describe('advise mode', () => {
  it('records the scale-up it would make, with its prediction, as a proposal, and never calls the actuator', async () => {
    const { run, actuator, state } = await manager('advise');
    const round = await run(saturated(2));
    expect(round?.actions).toMatchObject([
      { type: 'scale-up', outcome: 'proposed', parameters: { parallelism: { count: 5 } }, predictedEffect: { backpressureMsPerSec: 0 } },
    ]);
    expect(round?.actions[0]?.predictedEffect.executeRate).toBeGreaterThan(0);
    // Proposed once per load regime, not logged again every round; never applied, never judged.
    expect(await run(saturated(2))).toBeUndefined();
    expect((await state.get('healthLog', 'word-count'))?.rounds).toHaveLength(1);
    expect(actuator.calls).toEqual([]);
  });

  it('in act mode the same window is acted on', async () => {
    const { run, actuator } = await manager('act');
    const round = await run(saturated(2));
    expect(actuator.calls).toEqual([{ scale: { count: 5 } }]);
    expect(round?.actions[0]?.outcome).toBeUndefined();
  });
});

describe('bounds', () => {
  it('never scales below the declared parallelism: a scale-down clamped to no change is skipped, with the reason', async () => {
    const { run, actuator } = await manager('act');
    await run(idle(2));
    const round = await run(idle(2));
    expect(round?.actions).toMatchObject([
      {
        type: 'scale-down',
        outcome: 'skipped',
        note: expect.stringContaining('count 1 clamped to 2 by its min 2 (the declared parallelism)'),
      },
    ]);
    expect(actuator.calls).toEqual([]);
  });

  it('keeps the parallelism the topology was submitted with as the floor after updates', async () => {
    const { run, actuator } = await manager('act');
    topology = topologyWith(4, { [DECLARED_PARALLELISM_KEY]: 3 });
    await run(idle(4));
    await run(idle(4));
    expect(actuator.calls).toEqual([{ scale: { count: 3 } }]);
  });

  it("scales within autoscale({ min, max }), and healthmgr.components overrides the topology's bounds", async () => {
    topology = topologyWith(2, { autoscale: { min: 1, max: 3 } });
    const act = await manager('act');
    const up = await act.run(saturated(2));
    expect(act.actuator.calls).toEqual([{ scale: { count: 3 } }]);
    expect(up?.actions[0]?.note).toContain('count 5 clamped to 3 by its max 3');

    topology = topologyWith(2, { autoscale: { min: 1 } });
    const configured = await manager('act', (config) => ({
      ...config,
      sections: { ...config.sections, healthmgr: { ...config.sections.healthmgr, components: { count: { max: 4 } } } },
    }));
    await configured.run(saturated(2));
    expect(configured.actuator.calls).toEqual([{ scale: { count: 4 } }]);

    const down = await manager('act');
    await down.run(idle(2));
    await down.run(idle(2));
    expect(down.actuator.calls).toEqual([{ scale: { count: 1 } }]);
  });

  it('validates the bounds, naming the component or the key', () => {
    const config = loadClusterConfig({ cluster: 'local', home: os.tmpdir() });
    const settings = operatorSettingsOf(config);
    expect(settings.operatorHoldMs).toBe(30 * 60_000);
    expect(() => componentBounds(topologyWith(2, { autoscale: { min: 3, max: 2 } }), settings)).toThrow(
      /component 'count': autoscale .* min must not be above max/,
    );
    const bad = { ...config, sections: { ...config.sections, healthmgr: { components: { count: { min: 0 } } } } };
    expect(() => operatorSettingsOf(bad)).toThrow(ConfigError);
    expect(() => operatorSettingsOf(bad)).toThrow(/healthmgr\.components\.count\.min/);
    expect(
      componentBounds(topologyWith(2, { autoscale: { min: 1 } }), { components: { count: { min: 2 } }, operatorHoldMs: 0 }).get('count'),
    ).toEqual({
      min: 2,
      max: Number.POSITIVE_INFINITY,
      minFrom: 'config',
    });
  });

  it('autoscale() on a declarer stores the bounds and refuses bad ones', () => {
    const builder = new TopologyBuilder('t');
    const declarer = builder.setSpout('s', class {} as never, 1);
    expect(() => declarer.autoscale({ min: 0 })).toThrow(TopologyError);
    expect(() => declarer.autoscale({ min: 4, max: 2 })).toThrow(/autoscale min 4 is above max 2/);
    declarer.outputFields('word').autoscale({ min: 1, max: 8 });
    expect(builder.build().definition.components[0]?.config).toEqual({ autoscale: { min: 1, max: 8 } });
  });
});

describe("the operator's hold", () => {
  const pinned = (until: number): HealthLog => ({
    rounds: [],
    pins: { count: { parallelism: 2, at: 0, until, by: 'cli' } },
  });

  it('leaves a pinned component alone until the hold ends, saying so, then acts again', async () => {
    const { run, actuator, state } = await manager('act');
    await state.set('healthLog', 'word-count', pinned(clock + 2500));
    const held = await run(saturated(2));
    expect(held?.actions).toMatchObject([
      { type: 'scale-up', outcome: 'skipped', note: expect.stringMatching(/^count held by the operator until .* \(wanted 5\)$/) },
    ]);
    expect(actuator.calls).toEqual([]);
    // Not logged again every round while the hold lasts.
    expect(await run(saturated(2))).toBeUndefined();
    expect(actuator.calls).toEqual([]);
    // The hold ends: at the same load, the diagnosis is acted on again.
    await run(saturated(2));
    expect(actuator.calls).toEqual([{ scale: { count: 5 } }]);
    // The manager's log writes keep the operator's pins.
    expect((await state.get('healthLog', 'word-count'))?.pins?.count?.by).toBe('cli');
  });

  it('acts again as soon as the operator unpins the component', async () => {
    const { run, actuator, state } = await manager('act');
    await state.set('healthLog', 'word-count', pinned(clock + 60 * 60_000));
    await run(saturated(2));
    await run(saturated(2));
    expect(actuator.calls).toEqual([]);
    const log = (await state.get('healthLog', 'word-count'))!;
    await state.set('healthLog', 'word-count', { ...log, pins: {} });
    await run(saturated(2));
    expect(actuator.calls).toEqual([{ scale: { count: 5 } }]);
  });

  it('in advise mode still proposes for a pinned component, with the hold in the note', async () => {
    const { run, actuator, state } = await manager('advise');
    await state.set('healthLog', 'word-count', pinned(clock + 60_000));
    const round = await run(saturated(2));
    expect(round?.actions[0]).toMatchObject({ outcome: 'skipped', note: expect.stringContaining('held by the operator until') });
    expect(actuator.calls).toEqual([]);
  });
});

describe('the mode setting', () => {
  const config = loadClusterConfig({ cluster: 'local', home: os.tmpdir() });

  it('reads off, advise and act, and true/false as act/off', () => {
    expect(healthModeOf(config, { config: {} })).toBe('act');
    expect(healthModeOf(config, { config: { healthManager: true } })).toBe('act');
    expect(healthModeOf(config, { config: { healthManager: false } })).toBe('off');
    expect(healthModeOf(config, { config: { healthManager: 'advise' } })).toBe('advise');
    expect(healthModeOf({ ...config, healthmgr: { ...config.healthmgr, enabled: false } }, { config: { healthManager: 'act' } })).toBe(
      'off',
    );
    expect(() => healthModeOf(config, { config: { healthManager: 'adivse' } })).toThrow(
      'topology.healthManager: expected off, advise or act (or true/false), got "adivse"',
    );
  });
});

describe('ardea health', () => {
  it('shows the mode, the holds in force, operator actions and proposals in time order', () => {
    const log: HealthLog = {
      pins: {
        count: { parallelism: 2, at: 1000, until: 10_000, by: 'cli (ana)' },
        split: { parallelism: 1, at: 0, until: 500, by: 'cli' },
      },
      operatorActions: [{ type: 'update', at: 1000, by: 'cli (ana)', description: 'set count:2; held until …', components: ['count'] }],
      rounds: [
        {
          policy: PROVISIONING_POLICY_ID,
          round: 1,
          at: 2000,
          windowMs: 10_000,
          symptoms: [],
          diagnoses: [{ type: 'under-provisioned', component: 'count', instances: [] }],
          actions: [
            {
              type: 'scale-up',
              description: 'scale up: count 2 -> 5',
              parameters: {},
              predictedEffect: { executeRate: 4000 },
              diagnosis: { type: 'under-provisioned', component: 'count' },
              outcome: 'proposed',
            },
          ],
          blacklisted: [],
        },
      ],
    };
    const text = healthText('word-count', log, 'advise', 5000);
    const lines = text.split('\n');
    expect(lines[0]).toBe('health manager: advise — it diagnoses and proposes; nothing is applied');
    expect(lines[1]).toBe('held by the operator: count at 2 until 1970-01-01T00:00:10.000Z (cli (ana))');
    expect(text).not.toContain('split at 1');
    expect(lines[2]).toBe('1970-01-01T00:00:01.000Z  operator update by cli (ana): set count:2; held until …');
    expect(text).toContain('  proposal: scale up: count 2 -> 5\n    predicted {"executeRate":4000}; not applied (advise mode)');
    expect(healthText('word-count', { rounds: [] })).toBe('no health actions for word-count yet: nothing has needed attention\n');
  });
});
