import { z } from 'zod';
import type { ClusterConfig } from '../config/cluster-config.js';
import { configErrorFromSchema } from '../config/schema-errors.js';
import { ConfigError } from '../errors/index.js';
import { AUTOSCALE_KEY, DECLARED_PARALLELISM_KEY, type TopologyDefinition } from '../model/topology.js';

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

/**
 * What the health manager does for a topology: `act` runs its policies and applies their actions,
 * `advise` runs them and records the actions as proposals without applying any, `off` runs nothing.
 */
export type HealthMode = 'off' | 'advise' | 'act';

/** `topology.healthManager`: a mode, or `true`/`false` as before modes (`act`/`off`). */
const HealthModeSchema = z.union([z.enum(['off', 'advise', 'act']), z.boolean()]).optional();

/**
 * The topology's mode: `off` when the cluster turns the health manager off, else its
 * `topology.healthManager` (default `act`). Throws a ConfigError naming the key for any other value.
 */
export function healthModeOf(config: ClusterConfig, topology: Pick<TopologyDefinition, 'config'>): HealthMode {
  const parsed = HealthModeSchema.safeParse(topology.config.healthManager);
  if (!parsed.success) {
    throw new ConfigError(
      `topology.healthManager: expected off, advise or act (or true/false), got ${JSON.stringify(topology.config.healthManager)}`,
      { code: 'config.invalid' },
    );
  }
  if (!config.healthmgr.enabled) return 'off';
  const value = parsed.data ?? 'act';
  return value === true ? 'act' : value === false ? 'off' : value;
}

/** Whether the health manager runs for this topology: enabled for the cluster, not `off` for the topology. */
export function healthManagerEnabled(config: ClusterConfig, topology: Pick<TopologyDefinition, 'config'>): boolean {
  return healthModeOf(config, topology) !== 'off';
}

const BoundsSchema = z
  .object({ min: z.number().int().min(1).optional(), max: z.number().int().min(1).optional() })
  .strict()
  .refine((b) => b.min === undefined || b.max === undefined || b.min <= b.max, { message: 'min must not be above max' });

/** `healthmgr.yaml` keys that concern the operator rather than one policy. */
const OperatorSettingsSchema = z
  .object({
    /** `healthmgr.components.<component>: { min, max }` — bounds that override the topology's `autoscale()`. */
    components: z.record(z.string(), BoundsSchema).default({}),
    /** How long a manual `ardea update` of a component's parallelism keeps the health manager from scaling it. */
    operatorHoldMs: z
      .number()
      .int()
      .min(0)
      .default(30 * 60_000),
  })
  .strip();

export type OperatorSettings = z.output<typeof OperatorSettingsSchema>;

/** The operator's settings from `healthmgr.yaml` (`components`, `operatorHoldMs`), validated with errors that name the key. */
export function operatorSettingsOf(config: ClusterConfig): OperatorSettings {
  const section = config.sections.healthmgr;
  const parsed = OperatorSettingsSchema.safeParse(section);
  if (!parsed.success) {
    throw configErrorFromSchema(
      parsed.error,
      { source: config.sources.healthmgr, section: 'healthmgr', overrides: config.overrides },
      section,
      OperatorSettingsSchema,
    );
  }
  return parsed.data;
}

/** The parallelism range the health manager keeps a component in. */
export interface ComponentBounds {
  readonly min: number;
  readonly max: number;
  /** Where `min` comes from, for the health log: `config`, `autoscale` or `declared`. */
  readonly minFrom: 'config' | 'autoscale' | 'declared';
}

/**
 * Each component's bounds. The cluster's `healthmgr.components.<c>` wins over the topology's
 * `autoscale()` (the operator deploying it overrides the developer who wrote it), key by key;
 * without a `min` the parallelism the component was submitted with is the floor. Throws a
 * ConfigError naming the component for a malformed `autoscale` value.
 */
export function componentBounds(
  topology: Pick<TopologyDefinition, 'components'>,
  settings: OperatorSettings,
): Map<string, ComponentBounds> {
  const bounds = new Map<string, ComponentBounds>();
  for (const component of topology.components) {
    const parsed = BoundsSchema.safeParse(component.config[AUTOSCALE_KEY] ?? {});
    if (!parsed.success) {
      throw new ConfigError(
        `component '${component.name}': ${AUTOSCALE_KEY} ${JSON.stringify(component.config[AUTOSCALE_KEY])} is not ` +
          `{ min?, max? } with whole numbers of at least 1 and min ≤ max: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
        { code: 'config.invalid' },
      );
    }
    const fromConfig = settings.components[component.name] ?? {};
    const declared = component.config[DECLARED_PARALLELISM_KEY];
    const floor = typeof declared === 'number' ? declared : component.parallelism;
    const min = fromConfig.min ?? parsed.data.min ?? floor;
    const minFrom = fromConfig.min !== undefined ? 'config' : parsed.data.min !== undefined ? 'autoscale' : 'declared';
    const max = Math.max(min, fromConfig.max ?? parsed.data.max ?? Number.POSITIVE_INFINITY);
    bounds.set(component.name, { min, max, minFrom });
  }
  return bounds;
}
