import type { ContainerModule } from 'inversify';
import type { z } from 'zod';
import { PluginLoadError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';

export type PluginKind = 'scheduler' | 'statemgr' | 'uploader' | 'packing' | 'health-policy' | 'checkpoints';
export const PLUGIN_KINDS: readonly PluginKind[] = ['scheduler', 'statemgr', 'uploader', 'packing', 'health-policy', 'checkpoints'];

const PLUGIN_BRAND = '@ardea/Plugin';

/** What the core hands a plugin besides its own validated config. */
export interface PluginContext {
  readonly cluster: string;
  /** `$ARDEA_HOME`: where local state, packages and logs live. */
  readonly home: string;
  /** The cluster directory, or undefined for the built-in `local` cluster. */
  readonly clusterDirectory: string | undefined;
  /** The deployment's logger as a child named after the plugin (`plugin`, `kind`): what the plugin logs through. */
  readonly logger: Logger;
}

/**
 * What a plugin package default-exports. The core validates the plugin's section of the cluster
 * config against `configSchema` and only then asks for the module, so `createModule` receives typed,
 * checked values and never re-validates them.
 */
export interface PluginDescriptor<Schema extends z.ZodType = z.ZodType> {
  readonly $$type: typeof PLUGIN_BRAND;
  readonly apiVersion: 1;
  /** Short name used in config, e.g. `slurm`. */
  readonly name: string;
  readonly kind: PluginKind;
  /** Schema of the plugin's config section (the concern's YAML file minus the `plugin` key). */
  readonly configSchema: Schema;
  /** One ContainerModule binding the plugin's implementation(s) to the SPI token(s) of its kind. */
  createModule(config: z.output<Schema>, context: PluginContext): ContainerModule;
}

export function definePlugin<Schema extends z.ZodType>(
  descriptor: Omit<PluginDescriptor<Schema>, '$$type' | 'apiVersion'>,
): PluginDescriptor<Schema> {
  return Object.freeze({ ...descriptor, $$type: PLUGIN_BRAND, apiVersion: 1 as const });
}

/** Throws a {@link PluginLoadError} unless `value` is a descriptor made by {@link definePlugin}. */
export function assertPluginDescriptor(value: unknown, specifier: string): asserts value is PluginDescriptor {
  const candidate = value as Partial<PluginDescriptor> | undefined;
  if (typeof candidate !== 'object' || candidate === null || candidate.$$type !== PLUGIN_BRAND) {
    throw new PluginLoadError(
      `plugin '${specifier}' does not default-export a plugin descriptor; export default definePlugin({ name, ` +
        `kind, configSchema, createModule }) with definePlugin from '@ardea/core/plugin'`,
    );
  }
  if (candidate.apiVersion !== 1) {
    throw new PluginLoadError(
      `plugin '${specifier}' targets plugin API version ${String(candidate.apiVersion)}; this Ardea supports version 1`,
    );
  }
  if (typeof candidate.name !== 'string' || !candidate.name) throw new PluginLoadError(`plugin '${specifier}' has no name`);
  if (!PLUGIN_KINDS.includes(candidate.kind as PluginKind)) {
    throw new PluginLoadError(`plugin '${specifier}' has kind '${String(candidate.kind)}'; expected one of ${PLUGIN_KINDS.join(', ')}`);
  }
  if (typeof candidate.createModule !== 'function' || typeof candidate.configSchema?.safeParse !== 'function') {
    throw new PluginLoadError(`plugin '${specifier}' must provide configSchema (a zod schema) and createModule(config, context)`);
  }
}
