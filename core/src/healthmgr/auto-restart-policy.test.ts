import { beforeEach, describe, expect, it } from 'vitest';
import type { TopologyDefinition } from '../model/topology.js';
import { toDefinition } from '../simulator/model.js';
import { healthPoliciesForTest, recordedWindow } from '../testing/health-policy-testing.js';
import { AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema, CrashLoopDetector, StalledInstanceDetector } from './auto-restart-policy.js';
import { OverProvisioningDiagnoser, UnderProvisioningDiagnoser } from './diagnosers.js';
import { BackpressureDetector } from './detectors.js';
import { DEFAULT_PROVISIONING_SETTINGS } from './settings.js';

const settings = AutoRestartSettingsSchema.parse({ intervalMs: 1000, windowMs: 10_000 });

const topology: TopologyDefinition = toDefinition(
  {
    topologyName: 'word-count',
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 1, tupleBytes: 1, inputs: [] },
      {
        name: 'split',
        kind: 'bolt',
        parallelism: 3,
        serviceRate: 1,
        tupleBytes: 1,
        inputs: [{ from: 'sentence', grouping: { type: 'shuffle' }, selectivity: 1 }],
      },
    ],
  },
  {},
);

const context = (measurements = recordedWindow({})) => ({ topologyName: 'word-count', topology, now: 0, windowMs: 10_000, measurements });

/** split_11 on container 2 is hung: its queue is over the watermark all window, and it executes nothing. */
const hungWindow = () =>
  recordedWindow(
    {
      container_1_sentence_1: { emitRate: 3, busyFraction: 0.001 },
      container_1_split_10: { executeRate: 1, busyFraction: 0.01 },
      container_2_split_11: { backpressureMs: 10_000, pendingBytes: 2 << 20 },
      container_1_split_12: { executeRate: 1, busyFraction: 0.01 },
    },
    { sentence: 0.99 },
  );

const healthyWindow = () =>
  recordedWindow({
    container_1_sentence_1: { emitRate: 300, busyFraction: 0.01 },
    container_1_split_10: { executeRate: 100, busyFraction: 0.3 },
    container_2_split_11: { executeRate: 100, busyFraction: 0.3 },
    container_1_split_12: { executeRate: 100, busyFraction: 0.3 },
  });

describe('the stalled-instance detector', () => {
  const detector = new StalledInstanceDetector(settings);

  it('finds the instance that is backpressured while it executes nothing', async () => {
    const symptoms = await detector.detect(hungWindow(), context());
    expect(symptoms).toEqual([expect.objectContaining({ type: 'stalled', component: 'split', instances: ['container_2_split_11'] })]);
  });

  it('does not take a slow or overloaded instance for a hung one: those are busy', async () => {
    const window = recordedWindow({ container_2_split_11: { executeRate: 50, busyFraction: 1, backpressureMs: 10_000 } });
    expect(await detector.detect(window, context())).toEqual([]);
  });

  it('does not take an idle instance without backpressure for a hung one', async () => {
    expect(await detector.detect(recordedWindow({ container_2_split_11: {} }), context())).toEqual([]);
  });
});

describe('the crash-loop detector', () => {
  const detector = new CrashLoopDetector(settings);

  it('fires at the configured number of worker restarts in one window, not below', async () => {
    const below = recordedWindow({ container_2_split_11: { restarts: 2, executeRate: 100, busyFraction: 0.3 } });
    const at = recordedWindow({ container_2_split_11: { restarts: 3, executeRate: 100, busyFraction: 0.3 } });
    expect(await detector.detect(below, context())).toEqual([]);
    expect(await detector.detect(at, context())).toEqual([
      expect.objectContaining({ type: 'crash-loop', instances: ['container_2_split_11'], details: { restarts: 3 } }),
    ]);
  });
});

describe('the auto-restart policy', () => {
  let clock: number;
  /** The policy as container 0 composes it, on recorded windows, a round every second. */
  const autoRestart = async () => {
    const health = await healthPoliciesForTest({
      properties: [
        `healthmgr.policies.${AUTO_RESTART_POLICY_ID}.intervalMs=1000`,
        `healthmgr.policies.${AUTO_RESTART_POLICY_ID}.windowMs=10000`,
      ],
      topology: () => topology,
      clock: () => clock,
    });
    return { ...health, run: () => health.round(AUTO_RESTART_POLICY_ID) };
  };

  beforeEach(() => {
    clock = 1_000_000;
  });

  it('reports workers the stream managers restarted for memory or because they hung, and restarts no container for them', async () => {
    const { sensor, actuator, run } = await autoRestart();
    sensor.next = recordedWindow({
      container_1_sentence_1: { emitRate: 300, busyFraction: 0.01 },
      container_1_split_10: { executeRate: 100, busyFraction: 0.3, restarts: 1, memoryRestarts: 1 },
      container_2_split_11: { executeRate: 100, busyFraction: 0.3, restarts: 1, hungRestarts: 1 },
      container_1_split_12: { executeRate: 100, busyFraction: 0.3 },
    });
    clock += 1000;
    const round = await run();
    expect(round!.diagnoses).toEqual([
      expect.objectContaining({ type: 'hung-worker', component: 'split', instances: ['container_2_split_11'] }),
      expect.objectContaining({ type: 'over-memory', component: 'split', instances: ['container_1_split_10'] }),
    ]);
    expect(actuator.calls).toEqual([]);
  });

  it('restarts the container of a hung instance once the stall has lasted its rounds, and judges that it helped', async () => {
    const { sensor, actuator, run, actionLog } = await autoRestart();
    sensor.next = hungWindow();
    clock += 1000;
    await run();
    expect(actuator.calls).toEqual([]);
    clock += 1000;
    const round = await run();
    expect(actuator.calls).toEqual([{ restart: 2 }]);
    expect(round!.actions).toEqual([
      expect.objectContaining({
        type: 'restart',
        diagnosis: { type: 'stalled-instance', component: 'split' },
        parameters: { containers: [2] },
      }),
    ]);
    sensor.next = healthyWindow();
    for (let k = 0; k < 3; k++) {
      clock += 5000;
      await run();
    }
    const acted = (await actionLog()).filter((r) => r.actions.length > 0);
    expect(acted).toHaveLength(1);
    expect(acted[0]!.actions[0]).toMatchObject({ verdict: 'helped', observedEffect: { backpressureMsPerSec: 0 } });
    expect(actuator.calls).toEqual([{ restart: 2 }]);
  });

  it(
    'restarts a crash-looping instance at once; when the crashes go on, ' + 'the verdict is did-not-help and it does not restart again',
    async () => {
      const { sensor, actuator, run, actionLog } = await autoRestart();
      const crashing = recordedWindow({
        container_1_sentence_1: { emitRate: 300, busyFraction: 0.01 },
        container_2_split_11: { restarts: 4, executeRate: 100, busyFraction: 0.3 },
      });
      sensor.next = crashing;
      clock += 1000;
      await run();
      expect(actuator.calls).toEqual([{ restart: 2 }]);
      for (let k = 0; k < 6; k++) {
        clock += 5000;
        await run();
      }
      const log = await actionLog();
      expect(log[0]!.actions[0]).toMatchObject({
        verdict: 'did-not-help',
        predictedEffect: { restarts: 0 },
        observedEffect: { restarts: 4 },
      });
      expect(log.at(-1)!.blacklisted).toEqual([{ type: 'crash-loop', component: 'split' }]);
      expect(actuator.calls).toEqual([{ restart: 2 }]);
    },
  );

  it('takes no action on healthy, noisy windows', async () => {
    const { sensor, actuator, run } = await autoRestart();
    for (let k = 0; k < 50; k++) {
      const j = 1 + ((k * 7919) % 41) / 100 - 0.2;
      sensor.next = recordedWindow({
        container_1_sentence_1: { emitRate: 300 * j, busyFraction: 0.01 },
        container_2_split_11: { executeRate: 100 * j, busyFraction: 0.3 * j, restarts: k % 2, backpressureMs: k % 5 === 0 ? 150 : 0 },
      });
      clock += 1000;
      await run();
    }
    expect(actuator.calls).toEqual([]);
  });
});

describe('the provisioning policy with a hung instance', () => {
  it('does not diagnose it as under-provisioning: more instances would not unblock it', async () => {
    const symptoms = await new BackpressureDetector(DEFAULT_PROVISIONING_SETTINGS).detect(hungWindow(), context());
    expect(symptoms.map((s) => s.type)).toEqual(['backpressure']);
    const diagnoses = await new UnderProvisioningDiagnoser([]).diagnose(symptoms, context(hungWindow()));
    expect(diagnoses).toEqual([]);
    expect(await new OverProvisioningDiagnoser().diagnose(symptoms)).toEqual([]);
  });
});
