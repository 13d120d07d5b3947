import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { createArdeaContainer } from '../app/ardea-container.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { ConfigError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { ComponentMetrics, MetricsView } from '../model/metrics.js';
import { toDefinition } from '../simulator/model.js';
import { StateManager } from '../spi/state-manager.js';
import { healthPoliciesForTest, RecordingActuator, recordedWindow } from '../testing/health-policy-testing.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { AUTO_RESTART_POLICY_ID } from './auto-restart-policy.js';
import { HealthManager } from './health-manager.js';
import { createHealthContainer } from './health-module.js';
import { MetricsCacheSensor } from './measurements.js';
import { PROVISIONING_POLICY_ID } from './settings.js';
import { THROUGHPUT_SLO_POLICY_ID } from './throughput-slo-policy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const STUCK_QUEUE_PLUGIN = path.join(here, 'fixtures', 'stuck-queue-policy.mjs');
const RECORDING_SCHEDULER = path.join(here, '..', 'plugin', 'fixtures', 'recording-scheduler.mjs');

const topology = toDefinition(
  {
    topologyName: 'word-count',
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 1, tupleBytes: 1, inputs: [] },
      {
        name: 'count',
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

let home: string;
let deployment: Container | undefined;

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-health-module-'));
});

afterEach(async () => {
  if (deployment) await closeArdeaContainer(deployment);
  deployment = undefined;
  rmSync(home, { recursive: true, force: true });
});

/** A cluster whose healthmgr.yaml names the stuck-queue plugin (a recording scheduler keeps it off the pools). */
function clusterWithPolicyPlugin(healthPolicies: string): string {
  const directory = path.join(home, 'clusters', 'test');
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, 'scheduler.yaml'), `plugin: ${RECORDING_SCHEDULER}\npool: test\n`);
  writeFileSync(path.join(directory, 'healthmgr.yaml'), `plugins: [${JSON.stringify(STUCK_QUEUE_PLUGIN)}]\npolicies:\n${healthPolicies}`);
  return directory;
}

const loadTestCluster = (overrides: string[] = []) => loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home }, overrides });

describe("container 0's health container", () => {
  it("resolves the built-in policies and a plugin's policy and stages, with the topology's sensor and actuator", async () => {
    clusterWithPolicyPlugin('  stuck-queue: { maxQueueBytes: 1000 }\n  throughput-slo: { enabled: true, tuplesPerSec: 100 }\n');
    deployment = await createArdeaContainer(loadTestCluster());
    await deployment.get<StateManager>(StateManager).start();
    let clock = 1_000_000;
    const health = await healthPoliciesForTest({ deployment, topology: () => topology, clock: () => clock });

    expect(health.manager.policies.map((p) => p.id)).toEqual([
      PROVISIONING_POLICY_ID,
      AUTO_RESTART_POLICY_ID,
      THROUGHPUT_SLO_POLICY_ID,
      'stuck-queue',
    ]);
    // The detector the plugin contributes runs in the built-in provisioning policy, after its own.
    expect(
      health
        .policy(PROVISIONING_POLICY_ID)
        .detectors.map((d) => d.name)
        .at(-1),
    ).toBe('stuck-queue');
    // The plugin's policy measures with the sensor and acts through the actuator of the health container.
    health.sensor.next = recordedWindow({
      container_1_sentence_1: { emitRate: 100 },
      container_2_count_3: { executeRate: 50, pendingBytes: 5000 },
      container_1_count_2: { executeRate: 50 },
    });
    clock += 5000;
    const round = await health.round('stuck-queue');
    expect(round?.actions).toMatchObject([{ type: 'restart', parameters: { containers: [2] } }]);
    expect(health.actuator.calls).toEqual([{ restart: 2 }]);
  });

  it("validates a plugin policy's settings at load, naming the key", async () => {
    clusterWithPolicyPlugin('  stuck-queue: { maxQueueBytes: 1000 }\n');
    const failure = await createArdeaContainer(loadTestCluster(['healthmgr.policies.stuck-queue.maxQueueBytes=0'])).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/^--config-property healthmgr\.policies\.stuck-queue\.maxQueueBytes: .*>=1/);
  });

  it('refuses a healthmgr.policies key that no policy has, listing the built-in and plugin policies', async () => {
    const directory = clusterWithPolicyPlugin('  stuck-queue: { maxQueueBytes: 1000 }\n  stuck-queues: { maxQueueBytes: 1000 }\n');
    const failure = await createArdeaContainer(loadTestCluster()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe(
      `${path.join(directory, 'healthmgr.yaml')}: healthmgr.policies.stuck-queues: ` +
        `no such policy; built-in: dynamic-resource-provisioning, auto-restart, throughput-slo; ` +
        `from plugins: stuck-queue (a plugin's policy needs its package in healthmgr.plugins)`,
    );
  });

  it('binds only the built-in policies the cluster enables', async () => {
    const health = await healthPoliciesForTest({
      properties: [`healthmgr.policies.${PROVISIONING_POLICY_ID}.enabled=false`],
      topology: () => topology,
      clock: () => 0,
    });
    expect(health.manager.policies.map((p) => p.id)).toEqual([AUTO_RESTART_POLICY_ID]);
  });

  it("measures with the topology master's metrics cache when no sensor is given, as the executor runs it", async () => {
    const parent = new Container({ defaultScope: 'Singleton' });
    parent.bind(ClusterConfig).toConstantValue(loadClusterConfig({ cluster: 'local', home }));
    parent.bind(StateManager).toConstantValue(new InMemoryStateManager());
    parent.bind(Logger).toConstantValue(new SilentLogger());
    const idle: ComponentMetrics = {
      ...{
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
      },
      ...{
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
      },
    };
    const counting = { ...idle, executeRate: 7, busyFraction: 0.5 };
    const view: MetricsView = {
      windowMs: 10_000,
      timestamp: 42,
      components: { count: { ...counting, instances: { container_2_count_3: counting } } },
      streamManagers: {},
      droppedFrames: 0,
      droppedTuples: 0,
    };
    const health = createHealthContainer(parent, {
      topologyName: 'word-count',
      actuator: new RecordingActuator(),
      metrics: { view: () => view, physicalPlan: () => undefined },
      minWindowMs: 1000,
    });
    const policies = health.get<HealthManager>(HealthManager).policies;
    expect(policies.map((p) => p.id)).toEqual([PROVISIONING_POLICY_ID, AUTO_RESTART_POLICY_ID]);
    const [sensor] = policies[0]!.sensors;
    expect(sensor).toBeInstanceOf(MetricsCacheSensor);
    expect(policies[1]!.sensors[0]).toBe(sensor);
    const measured = await sensor!.fetch({ topologyName: 'word-count', topology, now: 42, windowMs: 10_000, measurements: [] });
    expect(measured).toContainEqual({
      component: 'count',
      instance: 'container_2_count_3',
      metric: 'executeRate',
      timestamp: 42,
      value: 7,
    });
  });
});
