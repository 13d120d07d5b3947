import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container } from 'inversify';
import type { z } from 'zod';
import { loadClusterConfig } from '../config/cluster-config.js';
import { configErrorFromSchema } from '../config/schema-errors.js';
import { createArdeaContainer } from '../app/ardea-container.js';
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
    throw configErrorFromSchema(
      parsed.error as z.ZodError,
      { source: `config of ${descriptor.kind} plugin '${descriptor.name}'`, section: descriptor.kind },
      config,
      descriptor.configSchema,
    );
  }
  const { home, removeHome } = await testHome(options.home);
  const logger = options.logger ?? new SilentLogger();
  const context = pluginContext(
    descriptor,
    { cluster: options.cluster ?? 'test', home, clusterDirectory: options.clusterDirectory },
    logger,
  );
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<Logger>(Logger).toConstantValue(logger);
  closeServicesOnUnbind(container);
  try {
    await container.loadAsync(descriptor.createModule(parsed.data, context));
  } catch (error) {
    await closeArdeaContainer(container).catch(() => undefined);
    await removeHome();
    throw error;
  }
  return {
    container,
    config: parsed.data,
    context,
    get: <T>(token: symbol) => container.get<T>(token),
    close: closeOnce(container, removeHome),
  };
}

export interface LoadClusterForTestOptions {
  /** `$ARDEA_HOME`; default: a fresh temporary directory, removed by `close()`. */
  readonly home?: string;
  /** `--config-property` values, e.g. `healthmgr.policies.queue-budget.step=2`. */
  readonly overrides?: readonly string[];
  /** The deployment's logger. Default: silent. */
  readonly logger?: Logger;
}

export interface ClusterUnderTest {
  /** The deployment's container, every plugin of the cluster loaded. */
  readonly container: Container;
  /** Closes the container as a deployment does; then removes a temporary home. */
  close(): Promise<void>;
}

/**
 * Loads a cluster directory the way `ardea submit <cluster>` does — its YAML files, the overrides,
 * and every plugin they name, each configured from its section — for tests that check a plugin is
 * found and configured from a cluster's files. A bad section rejects with the `ConfigError` a user
 * would see; nothing is left open then.
 */
export async function loadClusterForTest(cluster: string, options: LoadClusterForTestOptions = {}): Promise<ClusterUnderTest> {
  const { home, removeHome } = await testHome(options.home);
  let container: Container;
  try {
    container = await createArdeaContainer(loadClusterConfig({ cluster, home, overrides: options.overrides }), { logger: options.logger });
  } catch (error) {
    await removeHome();
    throw error;
  }
  return { container, close: closeOnce(container, removeHome) };
}

async function testHome(home: string | undefined): Promise<{ home: string; removeHome: () => Promise<void> }> {
  if (home !== undefined) return { home, removeHome: async () => undefined };
  const temporary = await mkdtemp(join(tmpdir(), 'ardea-plugin-test-'));
  return { home: temporary, removeHome: () => rm(temporary, { recursive: true, force: true }) };
}

function closeOnce(container: Container, removeHome: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      try {
        await closeArdeaContainer(container);
      } finally {
        await removeHome();
      }
    })());
}
