import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { MetricsSource } from '../healthmgr/measurements.js';
import { provisioningPolicy } from '../healthmgr/provisioning-policy.js';
import { PROVISIONING_POLICY_ID, ProvisioningSettingsSchema } from '../healthmgr/settings.js';
import { AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema, autoRestartPolicy } from '../healthmgr/auto-restart-policy.js';
import { THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema, throughputSloPolicy } from '../healthmgr/throughput-slo-policy.js';
import type { HealthPolicy, Sensor, TopologyActuator } from '../spi/health-policy.js';
import { ds2Factory, heronDhalionFactory } from './baselines.js';

/** What a policy gets to run on the model: the model's sensor and actuator, and the scenario's settings for it. */
export interface SimulatedPolicyInput {
  readonly sensor: Sensor;
  readonly actuator: TopologyActuator;
  /** The scenario's `policy.settings`, unvalidated: the factory owns its settings schema. */
  readonly settings: Readonly<Record<string, unknown>>;
}

/** A policy built for the simulator, with what the health manager around it needs to know. */
export interface SimulatedPolicy {
  readonly policy: HealthPolicy;
  /** Backpressure at or below this many ms per second counts as none when judging an action. */
  readonly noiseMsPerSec: number;
  /** Utilization the policy sizes for: the default u_target of the analytic optimum. */
  readonly targetUtilization?: number;
}

/**
 * One entry of the registry. A baseline (Heron's Dhalion defaults, DS2, a Flink-like autoscaler) is
 * added by implementing this and registering it; the harness, scenarios and CLI need no change.
 */
export interface SimulatedPolicyFactory {
  readonly id: string;
  readonly description: string;
  /** Throws `ConfigError` naming the key when `settings` are invalid. */
  create(input: SimulatedPolicyInput): SimulatedPolicy;
}

export class SimulatedPolicyRegistry {
  private readonly factories = new Map<string, SimulatedPolicyFactory>();

  register(factory: SimulatedPolicyFactory): this {
    if (this.factories.has(factory.id)) throw new ConfigError(`a simulated policy '${factory.id}' is registered already`);
    this.factories.set(factory.id, factory);
    return this;
  }

  get(id: string): SimulatedPolicyFactory {
    const factory = this.factories.get(id);
    if (!factory) throw new ConfigError(`unknown policy '${id}'; registered: ${this.ids().join(', ')}`);
    return factory;
  }

  ids(): string[] {
    return [...this.factories.keys()].sort();
  }
}

/**
 * The built-in dynamic-resource-provisioning policy, exactly as container 0 builds it, except that
 * its metrics-cache sensor is replaced by the model's sensor.
 */
export const provisioningPolicyFactory: SimulatedPolicyFactory = {
  id: PROVISIONING_POLICY_ID,
  description: 'the built-in policy: DS2-style sizing of every bottleneck in one round, slow-instance route-around, confirmed scale-down',
  create({ sensor, actuator, settings }) {
    const parsed = ProvisioningSettingsSchema.safeParse(settings);
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatIssue(parsed.error)}`);
    const built = provisioningPolicy(parsed.data, NO_METRICS_CACHE, actuator);
    return {
      policy: { ...built, sensors: [sensor] },
      noiseMsPerSec: parsed.data.backpressureNoiseMsPerSec,
      targetUtilization: parsed.data.targetUtilization,
    };
  },
};

/** The built-in auto-restart policy on the model's sensor. */
export const autoRestartPolicyFactory: SimulatedPolicyFactory = {
  id: AUTO_RESTART_POLICY_ID,
  description: 'the built-in policy that restarts the container of a hung (backpressured while idle) or crash-looping instance',
  create({ sensor, actuator, settings }) {
    const parsed = AutoRestartSettingsSchema.safeParse(settings);
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatIssue(parsed.error)}`);
    return { policy: autoRestartPolicy(parsed.data, sensor, actuator), noiseMsPerSec: parsed.data.backpressureNoiseMsPerSec };
  },
};

/** The built-in throughput-SLO policy on the model's sensor; the scenario gives `tuplesPerSec`. */
export const throughputSloPolicyFactory: SimulatedPolicyFactory = {
  id: THROUGHPUT_SLO_POLICY_ID,
  description: 'the built-in policy that sizes spouts and bolts for a throughput goal in one update',
  create({ sensor, actuator, settings }) {
    // Choosing the policy in a scenario is what enables it.
    const parsed = ThroughputSloSettingsSchema.safeParse({ enabled: true, ...settings });
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatIssue(parsed.error)}`);
    return { policy: throughputSloPolicy(parsed.data, sensor, actuator), noiseMsPerSec: parsed.data.backpressureNoiseMsPerSec, targetUtilization: parsed.data.targetUtilization };
  },
};

/** The registry `ardea simulate --policy` picks from. */
export function defaultPolicyRegistry(): SimulatedPolicyRegistry {
  return new SimulatedPolicyRegistry()
    .register(provisioningPolicyFactory)
    .register(autoRestartPolicyFactory)
    .register(throughputSloPolicyFactory)
    .register(heronDhalionFactory)
    .register(ds2Factory);
}

/** The built-in policy wraps this in a sensor that the simulator replaces, so it is never read. */
const NO_METRICS_CACHE: MetricsSource = {
  view() {
    throw new Error('the simulator measures through its own sensor, not a metrics cache');
  },
  physicalPlan() {
    return undefined;
  },
};

export function formatIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return `${[...issue.path.map(String), issue.keys[0]].join('.')}: unknown key`;
  return `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
}
