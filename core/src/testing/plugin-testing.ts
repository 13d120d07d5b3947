import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container } from 'inversify';
import type { z } from 'zod';
import { configErrorFromSchema } from '../config/schema-errors.js';
import { closeArdeaContainer, closeServicesOnUnbind } from '../di/container-lifecycle.js';
import { Logger, SilentLogger } from '../logging/index.js';
import { pluginContext } from '../plugin/plugin-context.js';
import type { PluginContext, PluginDescriptor } from '../plugin/plugin-descriptor.js';

export interface LoadPluginForTestOptions {
  /** Default `test`. */
  readonly cluster?: string;
  /** `$ARDEA_HOME` the plugin sees; default: a fresh temporary directory, removed by `close()`. */
  readonly home?: string;
  /** Default: none, as for the built-in `local` cluster. */
  readonly clusterDirectory?: string;
  /** The deployment's logger; the plugin gets a child of it named after the plugin. Default: silent. */
  readonly logger?: Logger;
}

export interface PluginUnderTest<Schema extends z.ZodType> {
  readonly container: Container;
  /** The config as the plugin's schema returned it, defaults filled in. */
  readonly config: z.output<Schema>;
  readonly context: PluginContext;
  /** What the plugin bound to `token` (created on first use). */
  get<T>(token: symbol): T;
  /** Unbinds everything, which closes what the plugin created, as a deployment does; then removes a temporary home. */
  close(): Promise<void>;
}

/**
 * Loads a plugin the way a deployment does, for a plugin's own tests: `config` (the plugin's YAML
 * section, without `plugin`) goes through the plugin's schema — an invalid one throws the
 * `ConfigError` a user would see — and the plugin's module is loaded into a container that binds the
 * logger and closes the scheduler, state manager and uploader when it is closed.
 */
export async function loadPluginForTest<Schema extends z.ZodType>(
  descriptor: PluginDescriptor<Schema>,
  config: unknown,
  options: LoadPluginForTestOptions = {},
): Promise<PluginUnderTest<Schema>> {
  const parsed = descriptor.configSchema.safeParse(config);
  if (!parsed.success) {
    throw configErrorFromSchema(parsed.error as z.ZodError, { source: `config of ${descriptor.kind} plugin '${descriptor.name}'`, section: descriptor.kind }, config, descriptor.configSchema);
  }
  const temporaryHome = options.home === undefined ? await mkdtemp(join(tmpdir(), 'ardea-plugin-test-')) : undefined;
  const logger = options.logger ?? new SilentLogger();
  const context = pluginContext(descriptor, { cluster: options.cluster ?? 'test', home: options.home ?? temporaryHome!, clusterDirectory: options.clusterDirectory }, logger);
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<Logger>(Logger).toConstantValue(logger);
  closeServicesOnUnbind(container);
  const removeHome = async () => {
    if (temporaryHome) await rm(temporaryHome, { recursive: true, force: true });
  };
  try {
    await container.loadAsync(descriptor.createModule(parsed.data, context));
  } catch (error) {
    await closeArdeaContainer(container).catch(() => undefined);
    await removeHome();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    container,
    config: parsed.data,
    context,
    get: <T>(token: symbol) => container.get<T>(token),
    close: () =>
      (closing ??= (async () => {
        try {
          await closeArdeaContainer(container);
        } finally {
          await removeHome();
        }
      })()),
  };
}
