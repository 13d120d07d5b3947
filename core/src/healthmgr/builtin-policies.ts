import type { ClusterConfig } from '../config/cluster-config.js';
import type { HealthPolicy, MetricsSource, PolicyContributions, TopologyActuator } from '../spi/health-policy.js';
import { AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema, autoRestartPolicy } from './auto-restart-policy.js';
import { MetricsCacheSensor } from './measurements.js';
import { provisioningPolicy } from './provisioning-policy.js';
import { policySettingsOf, PROVISIONING_POLICY_ID, provisioningSettingsOf } from './settings.js';
import { THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema, throughputSloPolicy } from './throughput-slo-policy.js';

/** Ids of the policies built into the core, as they appear under `healthmgr.policies`. */
export const BUILTIN_POLICY_IDS: readonly string[] = [PROVISIONING_POLICY_ID, AUTO_RESTART_POLICY_ID, THROUGHPUT_SLO_POLICY_ID];

/** The built-in policies the cluster enables, as container 0 runs them. */
export function builtinHealthPolicies(config: ClusterConfig, source: MetricsSource, actuator: TopologyActuator, extra: PolicyContributions = {}): HealthPolicy[] {
  const provisioning = provisioningSettingsOf(config);
  const autoRestart = policySettingsOf(config, AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema);
  const slo = policySettingsOf(config, THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema);
  return [
    ...(provisioning.enabled ? [provisioningPolicy(provisioning, source, actuator, extra)] : []),
    ...(autoRestart.enabled ? [autoRestartPolicy(autoRestart, new MetricsCacheSensor(source), actuator)] : []),
    ...(slo.enabled ? [throughputSloPolicy(slo, new MetricsCacheSensor(source), actuator)] : []),
  ];
}

/** Validates every built-in policy's settings, so that a bad key fails the submit, not container 0. */
export function validateHealthSettings(config: ClusterConfig): void {
  provisioningSettingsOf(config);
  policySettingsOf(config, AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema);
  policySettingsOf(config, THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema);
}
