import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { ComponentMetrics, ExceptionsView, MetricsView } from '../model/metrics.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { Measurement, MetricsSource } from '../spi/health-policy.js';
import { StateManager } from '../spi/state-manager.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { toDefinition } from '../simulator/model.js';
import { RecordingActuator, recordedWindow } from '../testing/health-policy-testing.js';
import { AUTO_RESTART_POLICY_ID } from './auto-restart-policy.js';
import { BackpressureDetector, LowUtilizationDetector } from './detectors.js';
import { OverProvisioningDiagnoser, UnderProvisioningDiagnoser } from './diagnosers.js';
import { ErrorRateDetector, ErrorReportResolver, FailingInstanceDiagnoser, shortException } from './error-rate.js';
import { HealthManager } from './health-manager.js';
import { createHealthContainer } from './health-module.js';
import { FAILURE_METRIC, MetricsCacheSensor } from './measurements.js';
import { DEFAULT_PROVISIONING_SETTINGS } from './settings.js';

const topology: TopologyDefinition = toDefinition(
  {
    topologyName: 'word-count',
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 1, tupleBytes: 1, inputs: [] },
      {
        name: 'split',
        kind: 'bolt',
        parallelism: 2,
        serviceRate: 1,
        tupleBytes: 1,
        inputs: [{ from: 'sentence', grouping: { type: 'shuffle' }, selectivity: 1 }],
      },
    ],
  },
  {},
);

const context = (measurements: Measurement[] = []) => ({ topologyName: 'word-count', topology, now: 0, windowMs: 10_000, measurements });

/** Failure counts over the window, per instance, as the metrics-cache sensor adds them. */
const counts = (instances: Record<string, Partial<Record<keyof typeof FAILURE_METRIC, number>>>): Measurement[] =>
  Object.entries(instances).flatMap(([instance, values]) =>
    Object.entries(FAILURE_METRIC).map(([key, metric]) => ({
      component: instance.split('_')[2]!,
      instance,
      metric,
      timestamp: 0,
      value: values[key as keyof typeof FAILURE_METRIC] ?? 0,
    })),
  );

const STACK = [
  'Error: cannot parse sentence 17',
  '    at Split.execute (file:///topologies/split.mjs:12:11)',
  '    at Instance.run (file:///core/dist/runtime/instance/instance-worker.js:1110:25)',
  '    at Instance.deliver (file:///core/dist/runtime/instance/instance-worker.js:1090:10)',
  '    at Instance.frame (file:///core/dist/runtime/instance/instance-worker.js:1000:10)',
].join('\n');

const reader = (at = 5) => ({
  lastExceptions: () => new Map([['container_2_split_2', { message: 'cannot parse sentence 17', stack: STACK, at }]]),
});

const settings = { errorRate: 0.01, minErrors: 3 };

describe('the error-rate detector', () => {
  it('names the failing instances of a bolt with their share of failed tuples and the last exception', async () => {
    const window = counts({
      container_1_sentence_1: { emitted: 1000 },
      container_1_split_1: { executed: 500 },
      container_2_split_2: { executed: 500, errors: 500, failed: 500 },
    });
    const symptoms = await new ErrorRateDetector(settings, reader()).detect(window, context());
    expect(symptoms).toEqual([
      {
        type: 'error-rate',
        component: 'split',
        instances: ['container_2_split_2'],
        observedAt: 0,
        details: {
          // A tuple that threw under at-least-once is an error and a failed tuple: counted once.
          errorRate: 1,
          failures: 500,
          executed: 500,
          lastException: [
            'Error: cannot parse sentence 17',
            'at Split.execute (file:///topologies/split.mjs:12:11)',
            'at Instance.run (file:///core/dist/runtime/instance/instance-worker.js:1110:25)',
            'at Instance.deliver (file:///core/dist/runtime/instance/instance-worker.js:1090:10)',
          ].join('\n'),
          lastExceptionInstance: 'container_2_split_2',
          lastExceptionAt: 5,
        },
      },
    ]);
  });

  it('counts tuples a bolt failed without throwing, and stays quiet at or below the threshold or under the minimum count', async () => {
    const failedOnly = counts({ container_1_split_1: { executed: 1000, failed: 20 } });
    expect(await new ErrorRateDetector(settings).detect(failedOnly, context())).toEqual([
      expect.objectContaining({
        type: 'error-rate',
        instances: ['container_1_split_1'],
        details: { errorRate: 0.02, failures: 20, executed: 1000 },
      }),
    ]);
    const atThreshold = counts({ container_1_split_1: { executed: 1000, errors: 10 } });
    expect(await new ErrorRateDetector(settings).detect(atThreshold, context())).toEqual([]);
    // Two errors among 20 tuples is 10 %, but two errors say little: below minErrors.
    const few = counts({ container_1_split_1: { executed: 20, errors: 2 } });
    expect(await new ErrorRateDetector(settings).detect(few, context())).toEqual([]);
  });

  it("judges a spout by its own errors per tuple emitted, not by the tree failures downstream's errors cause", async () => {
    const downstream = counts({ container_1_sentence_1: { emitted: 1000, failed: 400 } });
    expect(await new ErrorRateDetector(settings).detect(downstream, context())).toEqual([]);
    const throwing = counts({ container_1_sentence_1: { emitted: 0, errors: 40 } });
    expect(await new ErrorRateDetector(settings).detect(throwing, context())).toEqual([
      expect.objectContaining({ component: 'sentence', details: { errorRate: 1, failures: 40, emitted: 0 } }),
    ]);
  });
});

describe('the short form of an exception', () => {
  it("is the stack's first line, which names the error's class, and the first frames", () => {
    const stack = 'TypeError: x is not a function\n    at f (a.mjs:1:1)\n    at g (a.mjs:2:2)\n    at h (a.mjs:3:3)\n    at i (a.mjs:4:4)';
    expect(shortException({ message: 'x is not a function', stack, at: 0 })).toBe(
      'TypeError: x is not a function\nat f (a.mjs:1:1)\nat g (a.mjs:2:2)\nat h (a.mjs:3:3)',
    );
  });

  it('is the message alone when the error had no stack (a rejected promise with a string)', () => {
    expect(shortException({ message: 'no route to host', at: 0 })).toBe('no route to host');
  });
});

describe('a failing component', () => {
  it('is diagnosed and reported with its exception, and nothing is scaled or restarted', async () => {
    const window = counts({ container_2_split_2: { executed: 300, errors: 300 } });
    const symptoms = await new ErrorRateDetector(settings, reader()).detect(window, context());
    const diagnoses = await new FailingInstanceDiagnoser().diagnose(symptoms);
    expect(diagnoses).toEqual([
      expect.objectContaining({ type: 'failing-instance', component: 'split', instances: ['container_2_split_2'] }),
    ]);
    const [action] = await new ErrorReportResolver().resolve(diagnoses);
    expect(action).toMatchObject({ type: 'report', component: 'split', predictedEffect: {} });
    expect(action!.description).toBe(
      'failing instance(s) container_2_split_2 of split: 100 % of their tuples failed in the window (300); ' +
        'last exception (container_2_split_2): Error: cannot parse sentence 17 at Split.execute (file:///topologies/split.mjs:12:11); ' +
        'scaling or restarting would not help, fix the component or its input',
    );
    expect(action!.parameters.lastException).toContain('at Split.execute');
  });

  it('is not read as under- or over-provisioned by the provisioning policy', async () => {
    // split is busy and backpressured, but every tuple it executes throws.
    const congested = [
      ...recordedWindow({
        container_1_sentence_1: { emitRate: 1000, busyFraction: 0.1 },
        container_1_split_1: { executeRate: 300, busyFraction: 1, backpressureMs: 8000 },
        container_2_split_2: { executeRate: 300, busyFraction: 1, backpressureMs: 8000 },
      }),
      ...counts({ container_1_split_1: { executed: 3000, errors: 3000 }, container_2_split_2: { executed: 3000, errors: 3000 } }),
    ];
    const symptoms = await new BackpressureDetector(DEFAULT_PROVISIONING_SETTINGS).detect(congested, context(congested));
    expect(symptoms.map((s) => s.type)).toContain('backpressure');
    expect(await new UnderProvisioningDiagnoser([]).diagnose(symptoms, context(congested))).toEqual([]);
    // The same window without the failures is under-provisioning: the failures are what rule it out.
    const healthy = congested.filter((m) => !Object.values<string>(FAILURE_METRIC).includes(m.metric));
    expect(await new UnderProvisioningDiagnoser([]).diagnose(symptoms, context(healthy))).not.toEqual([]);

    const idle = [
      ...recordedWindow({
        container_1_split_1: { executeRate: 10, busyFraction: 0.01 },
        container_2_split_2: { executeRate: 10, busyFraction: 0.01 },
      }),
      ...counts({ container_1_split_1: { executed: 100, errors: 100 } }),
    ];
    const low = await new LowUtilizationDetector(DEFAULT_PROVISIONING_SETTINGS).detect(idle, context(idle));
    expect(low.map((s) => s.type)).toEqual(['low-utilization']);
    expect(await new OverProvisioningDiagnoser().diagnose(low, context(idle))).toEqual([]);
  });
});

function instanceMetrics(values: Partial<ComponentMetrics>): ComponentMetrics {
  return {
    emitted: 0,
    executed: 0,
    acked: 0,
    failed: 0,
    errors: 0,
    emitRate: 0,
    executeRate: 0,
    backpressureMs: 0,
    pendingBytes: 0,
    maxPendingBytes: 0,
    restarts: 0,
    hungRestarts: 0,
    memoryRestarts: 0,
    recentHungRestarts: 0,
    recentMemoryRestarts: 0,
    memoryBytes: 0,
    recentRestarts: 0,
    executeLatencyMs: 0,
    busyFraction: 0,
    instanceCount: 1,
    ...values,
  };
}

/** A metrics cache whose split instance has executed and thrown `executed` and `errors` tuples so far (cumulative, per worker). */
class FakeCache implements MetricsSource {
  timestamp = 0;
  executed = 0;
  errors = 0;
  view(windowMs: number): MetricsView {
    const split = instanceMetrics({ executed: this.executed, errors: this.errors });
    return {
      windowMs,
      timestamp: this.timestamp,
      components: { split: { ...split, instances: { container_2_split_2: split } } },
      streamManagers: {},
      droppedFrames: 0,
      droppedTuples: 0,
    };
  }
  physicalPlan() {
    return undefined;
  }
  exceptions(): ExceptionsView {
    return {
      timestamp: this.timestamp,
      instances: [
        {
          instance: 'container_2_split_2',
          component: 'split',
          containerId: 2,
          taskId: 2,
          count: this.errors,
          ...(this.errors > 0 ? { last: { message: 'cannot parse sentence 17', stack: STACK, at: this.timestamp } } : {}),
        },
      ],
    };
  }
}

describe('the metrics-cache sensor', () => {
  const value = (measurements: Measurement[], metric: string) => measurements.find((m) => m.metric === metric)?.value;

  it('turns the cumulative counts into counts over the window, and reads the last exceptions', async () => {
    const cache = new FakeCache();
    const sensor = new MetricsCacheSensor(cache);
    const fetch = (now: number, windowMs = 10_000) => {
      cache.timestamp = now;
      return sensor.fetch({ ...context(), now, windowMs });
    };
    cache.executed = 100;
    cache.errors = 4;
    // The first look has nothing to difference against: counts since the worker started.
    let measured = await fetch(1000);
    expect([value(measured, FAILURE_METRIC.executed), value(measured, FAILURE_METRIC.errors)]).toEqual([100, 4]);
    cache.executed = 600;
    cache.errors = 10;
    measured = await fetch(12_000);
    // The sample at 1000 is the last at or before the window's start (2000).
    expect([value(measured, FAILURE_METRIC.executed), value(measured, FAILURE_METRIC.errors)]).toEqual([500, 6]);
    cache.executed = 900;
    cache.errors = 10;
    measured = await fetch(23_000);
    expect([value(measured, FAILURE_METRIC.executed), value(measured, FAILURE_METRIC.errors)]).toEqual([300, 0]);
    // A window that restarted after an action is shorter: its base is the round's sample at its start.
    cache.executed = 1000;
    measured = await fetch(26_000, 3000);
    expect(value(measured, FAILURE_METRIC.executed)).toBe(100);
    // The worker restarted: its counts start again, and are taken from its restart.
    cache.executed = 50;
    cache.errors = 1;
    measured = await fetch(36_000);
    expect([value(measured, FAILURE_METRIC.executed), value(measured, FAILURE_METRIC.errors)]).toEqual([50, 1]);

    expect(sensor.lastExceptions().get('container_2_split_2')).toEqual({
      message: 'cannot parse sentence 17',
      stack: STACK,
      at: 36_000,
    });
  });

  it('knows no exceptions when its source serves none', () => {
    const source: MetricsSource = { view: (w) => new FakeCache().view(w), physicalPlan: () => undefined };
    expect(new MetricsCacheSensor(source).lastExceptions().size).toBe(0);
  });
});

describe('the auto-restart policy on a throwing bolt, composed as container 0 composes it', () => {
  it('reports the failing instance with its last exception, and changes nothing', async () => {
    const parent = new Container({ defaultScope: 'Singleton' });
    parent
      .bind(ClusterConfig)
      .toConstantValue(loadClusterConfig({ cluster: 'local', home: path.join(os.tmpdir(), 'ardea-error-rate-test') }));
    const state = new InMemoryStateManager();
    await state.start();
    parent.bind(StateManager).toConstantValue(state);
    parent.bind(Logger).toConstantValue(new SilentLogger());
    const cache = new FakeCache();
    const actuator = new RecordingActuator();
    let clock = 1_000_000;
    const health = createHealthContainer(parent, {
      topologyName: 'word-count',
      actuator,
      metrics: cache,
      minWindowMs: 1000,
      readTopology: async () => topology,
      clock: () => clock,
    });
    const manager = health.get<HealthManager>(HealthManager);
    const policy = manager.policies.find((p) => p.id === AUTO_RESTART_POLICY_ID)!;
    for (let k = 1; k <= 3; k++) {
      clock += 30_000;
      cache.timestamp = clock;
      cache.executed = 1000 * k;
      cache.errors = 1000 * k;
      await manager.runRound(policy);
    }
    const rounds = (await state.get('healthLog', 'word-count'))!.rounds;
    expect(rounds.map((r) => r.diagnoses)).toEqual(
      Array.from({ length: 3 }, () => [{ type: 'failing-instance', component: 'split', instances: ['container_2_split_2'] }]),
    );
    // Reported once in the regime, then skipped: a report does not change, so it is not repeated.
    expect(rounds.flatMap((r) => r.actions).map((a) => a.type)).toEqual(['report']);
    expect(rounds[0]!.actions[0]!.description).toContain(
      'last exception (container_2_split_2): Error: cannot parse sentence 17 at Split.execute',
    );
    expect(rounds[0]!.symptoms[0]!.details.lastException).toBe(
      [
        'Error: cannot parse sentence 17',
        'at Split.execute (file:///topologies/split.mjs:12:11)',
        'at Instance.run (file:///core/dist/runtime/instance/instance-worker.js:1110:25)',
        'at Instance.deliver (file:///core/dist/runtime/instance/instance-worker.js:1090:10)',
      ].join('\n'),
    );
    expect(actuator.calls).toEqual([]);
  });
});
