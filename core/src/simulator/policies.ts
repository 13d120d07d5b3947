import { ConfigError, formatSchemaIssue } from '../errors/index.js';
import { provisioningPolicy } from '../healthmgr/provisioning-policy.js';
import { PROVISIONING_POLICY_ID, ProvisioningSettingsSchema } from '../healthmgr/settings.js';
import { AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema, autoRestartPolicy } from '../healthmgr/auto-restart-policy.js';
import { THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema, throughputSloPolicy } from '../healthmgr/throughput-slo-policy.js';
import { ds2Factory, heronDhalionFactory } from './baselines.js';
import { flinkAutoscalerFactory } from './flink-autoscaler.js';
import { SimulatedPolicyRegistry, type SimulatedPolicyFactory } from './policy-registry.js';

/** The built-in dynamic-resource-provisioning policy, as container 0 builds it, on the model's sensor. */
export const provisioningPolicyFactory: SimulatedPolicyFactory = {
  id: PROVISIONING_POLICY_ID,
  description: 'the built-in policy: DS2-style sizing of every bottleneck in one round, slow-instance route-around, confirmed scale-down',
  create({ sensor, actuator, settings }) {
    const parsed = ProvisioningSettingsSchema.safeParse(settings);
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatSchemaIssue(parsed.error)}`);
    return {
      policy: provisioningPolicy(parsed.data, sensor, actuator),
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
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatSchemaIssue(parsed.error)}`);
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
    if (!parsed.success) throw new ConfigError(`policy.settings: ${formatSchemaIssue(parsed.error)}`);
    return {
      policy: throughputSloPolicy(parsed.data, sensor, actuator),
      noiseMsPerSec: parsed.data.backpressureNoiseMsPerSec,
      targetUtilization: parsed.data.targetUtilization,
    };
  },
};

/** The registry `ardea simulate --policy` picks from. */
export function defaultPolicyRegistry(): SimulatedPolicyRegistry {
  return new SimulatedPolicyRegistry()
    .register(provisioningPolicyFactory)
    .register(autoRestartPolicyFactory)
    .register(throughputSloPolicyFactory)
    .register(heronDhalionFactory)
    .register(ds2Factory)
    .register(flinkAutoscalerFactory);
}
