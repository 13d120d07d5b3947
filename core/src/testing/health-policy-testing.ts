import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { HealthManager } from '../healthmgr/health-manager.js';
import { createHealthContainer } from '../healthmgr/health-module.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { HealthRound } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import {
  type HealthPolicy,
  type Measurement,
  METRIC,
  type Sensor,
  streamEmitRateMetric,
  type TopologyActuator,
} from '../spi/health-policy.js';
import { StateManager } from '../spi/state-manager.js';
import { InMemoryStateManager } from './in-memory-state-manager.js';

/** What an actuator was asked to do, in order. */
export type ActuatorCall =
  | { readonly scale: Readonly<Record<string, number>> }
  | { readonly restart: number }
  | { readonly runtimeConfig: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }> };

/** An actuator that changes nothing and records every call, for policy unit tests. */
export class RecordingActuator implements TopologyActuator {
  readonly calls: ActuatorCall[] = [];

  async scale(parallelism: Readonly<Record<string, number>>): Promise<void> {
    this.calls.push({ scale: { ...parallelism } });
  }

  async restartContainer(containerId: number): Promise<void> {
    this.calls.push({ restart: containerId });
  }

  async setRuntimeConfig(
    changes: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }>,
  ): Promise<void> {
    this.calls.push({ runtimeConfig: changes.map((c) => ({ ...c })) });
  }
}

/** A sensor that returns whatever window the test put in `next`: one recorded window per round. */
export class RecordedSensor implements Sensor {
  readonly name = 'recorded';
  next: Measurement[] = [];

  async fetch(): Promise<Measurement[]> {
    return this.next;
  }
}

/** Per-instance values of a recorded window; what is left out is 0. */
export interface RecordedInstance {
  readonly executeRate?: number;
  readonly emitRate?: number;
  readonly busyFraction?: number;
  /** Milliseconds over the window the instance's queue was above the high watermark. */
  readonly backpressureMs?: number;
  readonly pendingBytes?: number;
  /** Worker restarts over the window. */
  readonly restarts?: number;
  /** Of those, restarts of a hung worker and for memory, over the window. */
  readonly hungRestarts?: number;
  readonly memoryRestarts?: number;
  /** Emit rate per output stream; they add up to `emitRate`. */
  readonly emitRateByStream?: Readonly<Record<string, number>>;
}

/**
 * A metrics window as the built-in sensor reports it. Instances are named as the engine names them,
 * `container_<c>_<component>_<task>`; `pausedFraction` gives each spout component's paused share.
 */
export function recordedWindow(
  instances: Readonly<Record<string, RecordedInstance>>,
  pausedFraction: Readonly<Record<string, number>> = {},
): Measurement[] {
  const measurements: Measurement[] = [];
  for (const [instance, values] of Object.entries(instances)) {
    const parts = instance.split('_');
    if (parts.length !== 4 || parts[0] !== 'container')
      throw new Error(`instance '${instance}' is not named container_<c>_<component>_<task>`);
    const component = parts[2]!;
    for (const metric of [
      METRIC.executeRate,
      METRIC.emitRate,
      METRIC.busyFraction,
      METRIC.backpressureMs,
      METRIC.pendingBytes,
      METRIC.restarts,
      METRIC.hungRestarts,
      METRIC.memoryRestarts,
    ] as const) {
      measurements.push({ component, instance, metric, timestamp: 0, value: values[metric] ?? 0 });
    }
    for (const [stream, value] of Object.entries(values.emitRateByStream ?? {}))
      measurements.push({ component, instance, metric: streamEmitRateMetric(stream), timestamp: 0, value });
  }
  for (const [component, value] of Object.entries(pausedFraction))
    measurements.push({ component, metric: METRIC.pausedFraction, timestamp: 0, value });
  return measurements;
}

export interface HealthPoliciesForTestOptions {
  /**
   * The deployment's container, as container 0 has it: e.g. `createArdeaContainer` of a cluster whose
   * `healthmgr.yaml` names your policy plugin. Default: the built-in `local` cluster with
   * `properties`, an in-memory state manager and a silent logger, and no plugin.
   */
  readonly deployment?: Container;
  /** `--config-property` settings for the default deployment, e.g. `healthmgr.policies.auto-restart.stallRounds=3`. */
  readonly properties?: readonly string[];
  /** The topology as it runs now: each round reads its parallelism and DAG from it. */
  readonly topology: () => TopologyDefinition | undefined;
  /** The rounds' clock, which the test advances between rounds. */
  readonly clock: () => number;
  /** A window shorter than this says nothing yet; default 1000 ms. */
  readonly minWindowMs?: number;
}

export interface HealthPoliciesUnderTest {
  /** What every built-in policy measures with (and a plugin's that injects `MetricsSensor`): set `next` before a round. */
  readonly sensor: RecordedSensor;
  readonly actuator: RecordingActuator;
  /** Container 0's health container, which the manager and every policy resolved from. */
  readonly container: Container;
  readonly manager: HealthManager;
  /** Where the action log is kept. */
  readonly state: StateManager;
  /** The enabled policy with this id; throws, listing the enabled ones, when there is none. */
  policy(id: string): HealthPolicy;
  /** Runs one round of the policy with this id, as the manager's timer would. */
  round(id: string): Promise<HealthRound | undefined>;
  /** The rounds in the action log so far, verdicts included. */
  actionLog(): Promise<readonly HealthRound[]>;
}

/**
 * The health manager and its policies composed as container 0 composes them — the built-in policy
 * module and the deployment's plugins in a health container — but measuring recorded windows and
 * recording what they would change, with the rounds on the test's clock.
 */
export async function healthPoliciesForTest(options: HealthPoliciesForTestOptions): Promise<HealthPoliciesUnderTest> {
  let deployment = options.deployment;
  if (!deployment) {
    const config = loadClusterConfig({
      cluster: 'local',
      home: path.join(os.tmpdir(), 'ardea-health-policy-test'),
      overrides: options.properties ?? [],
    });
    const state = new InMemoryStateManager();
    await state.start();
    deployment = new Container({ defaultScope: 'Singleton' });
    deployment.bind<ClusterConfig>(ClusterConfig).toConstantValue(config);
    deployment.bind<StateManager>(StateManager).toConstantValue(state);
    deployment.bind<Logger>(Logger).toConstantValue(new SilentLogger());
  }
  const sensor = new RecordedSensor();
  const actuator = new RecordingActuator();
  const topologyName = options.topology()?.name ?? 'under-test';
  const container = createHealthContainer(deployment, {
    topologyName,
    sensor,
    actuator,
    minWindowMs: options.minWindowMs ?? 1000,
    readTopology: async () => options.topology(),
    clock: options.clock,
  });
  const manager = container.get<HealthManager>(HealthManager);
  const policy = (id: string): HealthPolicy => {
    const found = manager.policies.find((p) => p.id === id);
    if (!found) throw new Error(`no enabled health policy '${id}'; enabled: ${manager.policies.map((p) => p.id).join(', ') || 'none'}`);
    return found;
  };
  const state = deployment.get<StateManager>(StateManager);
  return {
    sensor,
    actuator,
    container,
    manager,
    state,
    policy,
    round: (id) => manager.runRound(policy(id)),
    actionLog: async () => (await state.get('healthLog', topologyName))?.rounds ?? [],
  };
}
