import type { ClusterConfig } from '../config/cluster-config.js';
import { AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema } from './auto-restart-policy.js';
import { policySettingsOf, PROVISIONING_POLICY_ID, provisioningSettingsOf } from './settings.js';
import { THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema } from './throughput-slo-policy.js';

/** Ids of the policies built into the core, as they appear under `healthmgr.policies`. */
export const BUILTIN_POLICY_IDS: readonly string[] = [PROVISIONING_POLICY_ID, AUTO_RESTART_POLICY_ID, THROUGHPUT_SLO_POLICY_ID];

/** The built-in policies' settings from the cluster config, each validated with errors that name the key. */
export function builtinPolicySettings(config: ClusterConfig) {
  return {
    provisioning: provisioningSettingsOf(config),
    autoRestart: policySettingsOf(config, AUTO_RESTART_POLICY_ID, AutoRestartSettingsSchema),
    throughputSlo: policySettingsOf(config, THROUGHPUT_SLO_POLICY_ID, ThroughputSloSettingsSchema),
  };
}

/** Validates every built-in policy's settings, so that a bad key fails the submit, not container 0. */
export function validateHealthSettings(config: ClusterConfig): void {
  builtinPolicySettings(config);
}
