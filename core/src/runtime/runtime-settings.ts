import { z } from 'zod';
import { ConfigError, formatSchemaIssue } from '../errors/index.js';
import { ByteAmountSchema } from '../model/resources.js';
import type { ComponentDefinition, TopologyDefinition } from '../model/topology.js';

/**
 * Engine settings a topology carries in its config, under these keys (set them in the topology or
 * with `--config-property topology.<key>=<value>` at submit).
 */
export const RuntimeSettingsSchema = z.object({
  /** How often instances and stream managers report metrics. */
  metricsIntervalMs: z.number().int().min(100).default(10_000),
  /** Reports kept per container in the metrics cache. */
  metricsSamples: z.number().int().min(2).default(360),
  /** Window of windowed metrics when a query names none. */
  metricsWindowMs: z.number().int().min(100).default(60_000),
  /** Queued bytes towards one instance or peer that start backpressure. */
  backpressureHighWatermark: ByteAmountSchema.default(1024 * 1024),
  /** ...and the level below which it stops. */
  backpressureLowWatermark: ByteAmountSchema.default(512 * 1024),
  /**
   * Backpressure also starts when an instance's oldest queued frame has waited this long (and four
   * times its usual batch time): reaction in milliseconds at any rate (10 gives 11-17 ms in the
   * word-count bench). Off (0) by default: a bolt with long batches at high utilization trips it
   * now and then, and those short pauses read as backpressure to the health manager.
   */
  backpressureStallMs: z.number().int().min(0).default(0),
  /**
   * A worker that makes no progress for this long — one call into the component (execute,
   * nextTuple, a tick) that does not return, or tuples queued for it that it does not take — is
   * taken for hung: its stream manager terminates and restarts it, and every stream manager routes
   * shuffle traffic around it until it runs again. 0 turns the check off. A component whose calls
   * legitimately take longer sets its own value in its config (`<component>.hungInstanceMs=...`).
   */
  hungInstanceMs: z.number().int().min(0).default(10_000),
  /**
   * Each stream manager keeps its container's RSS within the container's RAM in the packing plan,
   * restarting the worker furthest over its own RAM (or the container, if the stream manager itself
   * is). Pools that enforce the limit themselves (cgroups) do not need it, but it restarts one worker
   * before the kernel would kill the whole container.
   */
  enforceContainerRam: z.boolean().default(true),
  /** Address the topology's listeners bind to and advertise. Loopback unless a cluster needs more. */
  listenHost: z.string().min(1).default('127.0.0.1'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * Delivery guarantee (docs/delivery.md). `at-most-once`: nothing is tracked or replayed.
   * `at-least-once`: spout tuples emitted with a message id are tracked through every tuple anchored
   * to them, and acked or failed back to the spout, which replays. `effectively-once`: state is saved
   * in consistent checkpoints and the whole topology rolls back to the latest one after a failure.
   */
  reliability: z.enum(['at-most-once', 'at-least-once', 'effectively-once']).default('at-most-once'),
  /** At-least-once: a tuple tree not completed within this time is failed back to its spout. */
  messageTimeoutMs: z.number().int().min(100).default(30_000),
  /** At-least-once: a spout task with this many trees pending is not asked for more; 0: no limit. */
  maxSpoutPending: z.number().int().min(0).default(10_000),
  /** Effectively-once: how often the topology master starts a checkpoint. */
  checkpointIntervalMs: z.number().int().min(100).default(10_000),
  /**
   * The number of key groups fields grouping routes by and keyed state is split into: the most
   * instances a fields-grouped component can usefully have, fixed for the topology's life.
   */
  maxParallelism: z.number().int().min(1).max(32_768).default(128),
});

export type RuntimeSettings = z.output<typeof RuntimeSettingsSchema>;
export const RUNTIME_SETTING_KEYS = Object.keys(RuntimeSettingsSchema.shape) as ReadonlyArray<keyof RuntimeSettings>;

/** Engine settings a component may override in its own config. */
const ComponentSettingsSchema = RuntimeSettingsSchema.pick({ hungInstanceMs: true })
  .extend({
    /** At-least-once: the bolt's emits are anchored to its input, which is acked when execute returns (failed if it throws). */
    autoAck: z.boolean(),
    /** Async components: promises of execute/nextTuple that may be unsettled at once per instance. */
    maxInFlight: z.number().int().min(1).max(100_000),
    /** Async bolts with maxInFlight above 1: release each execute's emits in input order. */
    ordered: z.boolean(),
  })
  .partial();

/** The hung-worker threshold of one component: its own `hungInstanceMs`, else the topology's. */
export function hungInstanceMsOf(topologyValue: number, component: Pick<ComponentDefinition, 'config'>): number {
  const own = component.config.hungInstanceMs;
  return typeof own === 'number' ? own : topologyValue;
}

/** Reads the engine settings from a topology's config; the submitter calls it to reject bad values early. */
export function runtimeSettingsOf(
  definition: Pick<TopologyDefinition, 'config'> & Partial<Pick<TopologyDefinition, 'components'>>,
): RuntimeSettings {
  for (const component of definition.components ?? []) {
    const parsed = ComponentSettingsSchema.safeParse(
      Object.fromEntries(
        Object.keys(ComponentSettingsSchema.shape)
          .filter((key) => key in component.config)
          .map((key) => [key, component.config[key]]),
      ),
    );
    if (!parsed.success)
      throw new ConfigError(`component '${component.name}' config ${formatSchemaIssue(parsed.error)}`, { cause: parsed.error });
  }
  const relevant = Object.fromEntries(
    RUNTIME_SETTING_KEYS.filter((key) => key in definition.config).map((key) => [key, definition.config[key]]),
  );
  const parsed = RuntimeSettingsSchema.safeParse(relevant);
  if (!parsed.success) throw new ConfigError(`topology config ${formatSchemaIssue(parsed.error)}`, { cause: parsed.error });
  if (parsed.data.backpressureLowWatermark >= parsed.data.backpressureHighWatermark) {
    throw new ConfigError(
      `topology config backpressureLowWatermark (${parsed.data.backpressureLowWatermark}) ` +
        `must be below backpressureHighWatermark (${parsed.data.backpressureHighWatermark})`,
    );
  }
  for (const component of definition.components ?? []) checkKeyGroups(component, parsed.data.maxParallelism);
  return parsed.data;
}

/** Whether a component reads a stream with fields grouping, and so routes and keeps state by key group. */
export function isKeyed(component: Pick<ComponentDefinition, 'inputs'>): boolean {
  return component.inputs.some((input) => input.grouping.type === 'fields');
}

/** Fields grouping spreads key groups over instances: an instance beyond their number would get nothing. */
export function checkKeyGroups(component: Pick<ComponentDefinition, 'name' | 'inputs' | 'parallelism'>, maxParallelism: number): void {
  if (isKeyed(component) && component.parallelism > maxParallelism)
    throw new ConfigError(
      `component '${component.name}' has parallelism ${component.parallelism}, above the topology's maxParallelism ` +
        `${maxParallelism} (the number of key groups its fields grouping routes by); lower the parallelism or ` +
        `submit with a higher topology.maxParallelism`,
    );
}
