import { z } from 'zod';
import type { ClusterConfig } from '../config/cluster-config.js';
import { configErrorFromSchema } from '../config/schema-errors.js';
import type { TopologyDefinition } from '../model/topology.js';

/**
 * Settings of the dynamic-resource-provisioning policy (`healthmgr.yaml`: `policies:
 * dynamic-resource-provisioning: {...}`).
 */
export const ProvisioningSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** How often the policy runs a round. */
    intervalMs: z.number().int().min(100).default(30_000),
    /** The longest metrics window a round looks at; after an action the window restarts from it. */
    windowMs: z.number().int().min(100).default(60_000),
    /** Backpressure below this many ms per second of window is noise. */
    backpressureNoiseMsPerSec: z.number().min(0).default(20),
    /** A queue above this many bytes counts as large. */
    largeQueueBytes: z
      .number()
      .int()
      .min(1)
      .default(512 * 1024),
    /** Instances of one component whose input rates differ more than this ratio are skewed. */
    rateSkewRatio: z.number().min(1).default(1.5),
    /** An instance whose true rate is below this fraction of its siblings' median is slow. */
    slowInstanceRatio: z.number().gt(0).max(1).default(0.5),
    /** Utilization the scale-up sizes for: needed = load / (true rate × this). */
    targetUtilization: z.number().gt(0).max(1).default(0.85),
    /** Scale-down sizes for this (lower) utilization, so that it cannot cause backpressure. */
    scaleDownUtilization: z.number().gt(0).max(1).default(0.6),
    /** Rounds a component must stay over-provisioned before it is scaled down. */
    scaleDownHoldRounds: z.number().int().min(1).default(2),
    maxParallelism: z.number().int().min(1).default(32),
    /** No component grows by more than this factor in one round. */
    maxScaleFactor: z.number().min(1).default(8),
  })
  .strict();

export type ProvisioningSettings = z.output<typeof ProvisioningSettingsSchema>;
export const DEFAULT_PROVISIONING_SETTINGS: ProvisioningSettings = ProvisioningSettingsSchema.parse({});
export const PROVISIONING_POLICY_ID = 'dynamic-resource-provisioning';

/**
 * One built-in policy's settings from the cluster's `healthmgr.yaml` (`policies.<id>`, and
 * `--config-property healthmgr.policies.<id>.<key>=…`), validated with errors that name the file.
 */
export function policySettingsOf<S extends z.ZodType>(config: ClusterConfig, id: string, schema: S): z.output<S> {
  const section = config.healthmgr.policies[id] ?? {};
  const parsed = schema.safeParse(section);
  if (!parsed.success) {
    throw configErrorFromSchema(
      parsed.error,
      { source: config.sources.healthmgr, section: `healthmgr.policies.${id}`, overrides: config.overrides },
      section,
      schema,
    );
  }
  return parsed.data;
}

export function provisioningSettingsOf(config: ClusterConfig): ProvisioningSettings {
  return policySettingsOf(config, PROVISIONING_POLICY_ID, ProvisioningSettingsSchema);
}

/** Whether the health manager runs for this topology: enabled for the cluster, not opted out by the topology. */
export function healthManagerEnabled(config: ClusterConfig, topology: Pick<TopologyDefinition, 'config'>): boolean {
  return config.healthmgr.enabled && topology.config.healthManager !== false;
}
