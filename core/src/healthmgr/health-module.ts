import { Container, ContainerModule, type ResolutionContext } from 'inversify';
import { ClusterConfig } from '../config/cluster-config.js';
import { Logger } from '../logging/index.js';
import type { TopologyDefinition } from '../model/topology.js';
import { Detector, Diagnoser, HealthPolicy, MetricsSensor, MetricsSource, Resolver, TopologyActuator } from '../spi/health-policy.js';
import { StateManager } from '../spi/state-manager.js';
import { autoRestartPolicy } from './auto-restart-policy.js';
import { builtinPolicySettings } from './builtin-policies.js';
import { HealthManager, OperatorGuard } from './health-manager.js';
import { MetricsCacheSensor } from './measurements.js';
import { provisioningPolicy } from './provisioning-policy.js';
import { componentBounds, operatorSettingsOf, provisioningSettingsOf } from './settings.js';
import { throughputSloPolicy } from './throughput-slo-policy.js';

/**
 * Contributions are read through the whole container chain: plugins bind theirs in the deployment's
 * container, the built-in policies sit in container 0's child, and `getAll` without `chained` would
 * return only the child's.
 */
const CONTRIBUTIONS = { chained: true, optional: true } as const;

/**
 * The built-in policies the cluster enables, bound under {@link HealthPolicy} like a plugin's, so that
 * the health manager gathers built-in and plugin policies with one `getAll`. Each policy takes its
 * sensor ({@link MetricsSensor}) and actuator ({@link TopologyActuator}) from the container it is
 * resolved from, and the provisioning policy the stages plugins contribute under the Detector,
 * Diagnoser and Resolver tokens. Settings are read (and validated) when the module is made.
 */
export function builtinHealthPolicyModule(config: ClusterConfig): ContainerModule {
  const { provisioning, autoRestart, throughputSlo: slo } = builtinPolicySettings(config);
  return new ContainerModule(({ bind }) => {
    const sensorOf = (context: ResolutionContext) => context.get<MetricsSensor>(MetricsSensor);
    const actuatorOf = (context: ResolutionContext) => context.get<TopologyActuator>(TopologyActuator);
    if (provisioning.enabled) {
      bind<HealthPolicy>(HealthPolicy).toDynamicValue((context) =>
        provisioningPolicy(provisioning, sensorOf(context), actuatorOf(context), {
          detectors: context.getAll<Detector>(Detector, CONTRIBUTIONS),
          diagnosers: context.getAll<Diagnoser>(Diagnoser, CONTRIBUTIONS),
          resolvers: context.getAll<Resolver>(Resolver, CONTRIBUTIONS),
        }),
      );
    }
    if (autoRestart.enabled)
      bind<HealthPolicy>(HealthPolicy).toDynamicValue((context) => autoRestartPolicy(autoRestart, sensorOf(context), actuatorOf(context)));
    if (slo.enabled)
      bind<HealthPolicy>(HealthPolicy).toDynamicValue((context) => throughputSloPolicy(slo, sensorOf(context), actuatorOf(context)));
  });
}

/** What container 0 knows about the one topology whose health it manages. */
export type HealthTopology = {
  readonly topologyName: string;
  /** Changes the running topology: in container 0, the same update and restart path as the CLI. */
  readonly actuator: TopologyActuator;
  /** A window shorter than this says nothing yet (a couple of metrics intervals). */
  readonly minWindowMs: number;
  /** The health manager's logger; default: the deployment's. */
  readonly logger?: Logger;
  /** The topology as it runs now; default: read from the state manager each round. */
  readonly readTopology?: () => Promise<TopologyDefinition | undefined>;
  readonly clock?: () => number;
  /** `advise`: the policies run and their actions are recorded as proposals, never applied. Default `act`. */
  readonly mode?: 'advise' | 'act';
} & (
  | {
      /** The topology master's metrics cache and physical plan; the sensor reads it unless one is given. */
      readonly metrics: MetricsSource;
      readonly sensor?: MetricsSensor;
    }
  | {
      readonly metrics?: MetricsSource;
      /** What every built-in policy measures with, in place of the metrics cache (a recorded window in tests). */
      readonly sensor: MetricsSensor;
    }
);

/**
 * Container 0's health container: a child of the deployment's container (which holds the cluster
 * config, the state manager and the plugins' policies and stages) that binds what belongs to this
 * topology — its actuator, its metrics source and sensor — and the built-in policies. The health
 * manager and every policy, built-in or from a plugin, resolve from it.
 */
export function createHealthContainer(deployment: Container, topology: HealthTopology): Container {
  const config = deployment.get<ClusterConfig>(ClusterConfig);
  const health = new Container({ parent: deployment, defaultScope: 'Singleton' });
  // Every policy, built-in or a plugin's, acts through the guard, which holds it to the operator's mode, bounds and pins.
  const guard = new OperatorGuard(topology.actuator);
  health.bind<TopologyActuator>(TopologyActuator).toConstantValue(guard);
  if (topology.metrics) health.bind<MetricsSource>(MetricsSource).toConstantValue(topology.metrics);
  if (topology.sensor) health.bind<MetricsSensor>(MetricsSensor).toConstantValue(topology.sensor);
  else health.bind<MetricsSensor>(MetricsSensor).to(MetricsCacheSensor);
  health.load(builtinHealthPolicyModule(config));
  const noiseMsPerSec = provisioningSettingsOf(config).backpressureNoiseMsPerSec;
  const operator = operatorSettingsOf(config);
  health.bind(HealthManager).toDynamicValue((context) => {
    const state = context.get<StateManager>(StateManager);
    return new HealthManager({
      topologyName: topology.topologyName,
      policies: context.getAll<HealthPolicy>(HealthPolicy, CONTRIBUTIONS),
      state,
      readTopology: topology.readTopology ?? (() => state.get('topology', topology.topologyName)),
      logger: topology.logger ?? context.get<Logger>(Logger),
      minWindowMs: topology.minWindowMs,
      noiseMsPerSec,
      guard,
      lockLog: true,
      mode: topology.mode ?? 'act',
      bounds: (running) => componentBounds(running, operator),
      ...(topology.clock ? { clock: topology.clock } : {}),
    });
  });
  return health;
}

/** Starts container 0's health manager for `topology`, resolved from its {@link createHealthContainer}. */
export function startHealthManager(deployment: Container, topology: HealthTopology): HealthManager {
  const manager = createHealthContainer(deployment, topology).get<HealthManager>(HealthManager);
  manager.start();
  return manager;
}
