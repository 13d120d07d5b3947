import { Container } from 'inversify';
import type { z } from 'zod';
import { httpCheckpointStoragePlugin, localFsCheckpointStoragePlugin } from '../checkpoint/index.js';
import { ClusterConfig } from '../config/cluster-config.js';
import { configErrorFromSchema } from '../config/schema-errors.js';
import { ConfigError, describeError, PluginLoadError } from '../errors/index.js';
import { BUILTIN_POLICY_IDS } from '../healthmgr/builtin-policies.js';
import { Logger, SilentLogger } from '../logging/index.js';
import { builtinPackingModule, selectPackingAlgorithm } from '../packing/index.js';
import { closeServicesOnUnbind } from '../di/container-lifecycle.js';
import { pluginContext } from '../plugin/plugin-context.js';
import type { PluginDescriptor, PluginKind } from '../plugin/plugin-descriptor.js';
import { loadPluginDescriptor } from '../plugin/plugin-loader.js';
import { CheckpointStorage } from '../spi/checkpoint-storage.js';
import { PackingAlgorithm, RepackingAlgorithm } from '../spi/packing.js';
import { Launcher, Scheduler } from '../spi/scheduler.js';
import { LibraryLauncher } from '../scheduler/launchers.js';
import { StateManager } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';
import { localFsStateManagerPlugin } from '../statemgr/index.js';
import { httpUploaderPlugin, localFsUploaderPlugin } from '../uploader/index.js';

/** Plugins that ship inside the core and need no import. */
export const BUILTIN_PLUGINS: readonly PluginDescriptor[] = [
  localFsStateManagerPlugin,
  localFsUploaderPlugin,
  httpUploaderPlugin,
  localFsCheckpointStoragePlugin,
  httpCheckpointStoragePlugin,
];

/** A plugin chosen by config, its descriptor, and its config section after the plugin's own validation. */
export interface ResolvedPlugin {
  readonly name: string;
  readonly kind: PluginKind;
  readonly descriptor: PluginDescriptor;
  readonly config: unknown;
}

export interface ResolvedCluster {
  readonly config: ClusterConfig;
  readonly scheduler: ResolvedPlugin;
  readonly statemgr: ResolvedPlugin;
  readonly uploader: ResolvedPlugin;
  readonly checkpoints: ResolvedPlugin;
  readonly packing: readonly ResolvedPlugin[];
  readonly healthPolicies: readonly ResolvedPlugin[];
}

/**
 * Imports every plugin the cluster names and validates each plugin's config section against the
 * plugin's schema. Nothing is bound yet, so a failure here leaves no container at all.
 */
export async function resolveClusterPlugins(config: ClusterConfig): Promise<ResolvedCluster> {
  const baseDirectory = config.directory ?? process.cwd();
  const resolve = async (
    kind: PluginKind,
    concern: keyof ClusterConfig['sources'],
    name: string,
    sectionOf: (descriptor: PluginDescriptor) => { readonly values: Record<string, unknown>; readonly path: string },
    key: string,
  ) => {
    const source = config.sources[concern];
    const descriptor = await loadPluginDescriptor({ kind, name, baseDirectory, namedBy: `${source}: ${key}` }, BUILTIN_PLUGINS);
    const section = sectionOf(descriptor);
    const result = descriptor.configSchema.safeParse(section.values);
    if (!result.success) {
      throw configErrorFromSchema(
        result.error as z.ZodError,
        { source, section: section.path, overrides: config.overrides },
        section.values,
        descriptor.configSchema,
      );
    }
    return { name, kind, descriptor, config: result.data } satisfies ResolvedPlugin;
  };
  const resolved: ResolvedCluster = {
    config,
    scheduler: await resolve(
      'scheduler',
      'scheduler',
      config.scheduler.plugin,
      () => ({ values: { ...config.scheduler.config }, path: 'scheduler' }),
      'scheduler.plugin',
    ),
    statemgr: await resolve(
      'statemgr',
      'statemgr',
      config.statemgr.plugin,
      () => ({ values: { ...config.statemgr.config }, path: 'statemgr' }),
      'statemgr.plugin',
    ),
    uploader: await resolve(
      'uploader',
      'uploader',
      config.uploader.plugin,
      () => ({ values: { ...config.uploader.config }, path: 'uploader' }),
      'uploader.plugin',
    ),
    checkpoints: await resolve(
      'checkpoints',
      'checkpoints',
      config.checkpoints.plugin,
      () => ({ values: { ...config.checkpoints.config }, path: 'checkpoints' }),
      'checkpoints.plugin',
    ),
    packing: await Promise.all(
      config.packing.plugins.map((name, i) =>
        resolve('packing', 'packing', name, () => ({ values: {}, path: 'packing' }), `packing.plugins[${i}]`),
      ),
    ),
    // A policy plugin's settings sit with the built-in policies' settings, under its own name.
    healthPolicies: await Promise.all(
      config.healthmgr.plugins.map((name, i) =>
        resolve(
          'health-policy',
          'healthmgr',
          name,
          (d) => ({ values: { ...(config.healthmgr.policies[d.name] ?? {}) }, path: `healthmgr.policies.${d.name}` }),
          `healthmgr.plugins[${i}]`,
        ),
      ),
    ),
  };
  const known = [...BUILTIN_POLICY_IDS, ...resolved.healthPolicies.map((p) => p.descriptor.name)];
  for (const id of Object.keys(config.healthmgr.policies)) {
    if (!known.includes(id)) {
      const fromPlugins = resolved.healthPolicies.map((p) => p.descriptor.name).join(', ');
      throw new ConfigError(
        `${config.sources.healthmgr}: healthmgr.policies.${id}: no such policy; ` +
          `built-in: ${BUILTIN_POLICY_IDS.join(', ')}${resolved.healthPolicies.length ? `; from plugins: ${fromPlugins}` : ''} ` +
          `(a plugin's policy needs its package in healthmgr.plugins)`,
        { code: 'config.invalid' },
      );
    }
  }
  return resolved;
}

export interface CreateContainerOptions {
  readonly logger?: Logger;
}

/**
 * Builds the dependency-injection container of a deployment: the logger, the cluster config, the
 * built-in packing algorithms and one module per configured plugin (the checkpoint storage included,
 * which executors take from it as the CLI does). Either every plugin binds and the
 * container is returned, or the partial container is torn down and a {@link PluginLoadError} says
 * which plugin failed and why. Close it with `closeArdeaContainer`.
 */
export async function createArdeaContainer(
  cluster: ClusterConfig | ResolvedCluster,
  options: CreateContainerOptions = {},
): Promise<Container> {
  const resolved =
    'scheduler' in cluster && 'descriptor' in cluster.scheduler
      ? (cluster as ResolvedCluster)
      : await resolveClusterPlugins(cluster as ClusterConfig);
  const config = resolved.config;
  const logger = options.logger ?? new SilentLogger();
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<Logger>(Logger).toConstantValue(logger);
  container.bind<ClusterConfig>(ClusterConfig).toConstantValue(config);
  container.load(builtinPackingModule);
  closeServicesOnUnbind(container);
  const plugins = [
    resolved.statemgr,
    resolved.uploader,
    resolved.checkpoints,
    resolved.scheduler,
    ...resolved.packing,
    ...resolved.healthPolicies,
  ];
  for (const plugin of plugins) {
    const context = pluginContext(
      plugin.descriptor,
      { cluster: config.cluster, home: config.home, clusterDirectory: config.directory },
      logger,
    );
    try {
      await container.loadAsync(plugin.descriptor.createModule(plugin.config, context));
    } catch (error) {
      await container.unbindAllAsync().catch(() => undefined);
      throw new PluginLoadError(`${plugin.kind} plugin '${plugin.name}' failed to bind its services: ${describeError(error)}`, {
        cause: error,
        code: 'plugin.bind-failed',
      });
    }
  }
  const required: Array<[symbol, ResolvedPlugin]> = [
    [StateManager, resolved.statemgr],
    [Uploader, resolved.uploader],
    [CheckpointStorage, resolved.checkpoints],
    [Scheduler, resolved.scheduler],
  ];
  for (const [token, plugin] of required) {
    if (!container.isBound(token)) {
      await container.unbindAllAsync().catch(() => undefined);
      throw new PluginLoadError(
        `${plugin.kind} plugin '${plugin.name}' loaded but bound nothing to ${token.description}; its module must bind that token`,
        {
          code: 'plugin.incomplete',
        },
      );
    }
  }
  if (!container.isBound(Launcher)) {
    container
      .bind<Launcher>(Launcher)
      .toDynamicValue((context) => {
        const scheduler = context.get<Scheduler>(Scheduler);
        const state = context.get<StateManager>(StateManager);
        if (scheduler.mode === 'library') return new LibraryLauncher(scheduler, state);
        // Only the pool knows where its service runs (a local process, container 0 of a pod...).
        throw new PluginLoadError(
          `scheduler plugin '${resolved.scheduler.name}' runs in service mode but its module bound ` +
            `no ${Launcher.description}; it must bind one that starts its scheduler service (as @ardea/plugin-local does)`,
          { code: 'plugin.incomplete' },
        );
      })
      .inSingletonScope();
  }
  try {
    selectPackingAlgorithm(container.getAll<PackingAlgorithm>(PackingAlgorithm), config.packing.algorithm);
    selectPackingAlgorithm(container.getAll<RepackingAlgorithm>(RepackingAlgorithm), config.packing.repackingAlgorithm);
  } catch (error) {
    await container.unbindAllAsync().catch(() => undefined);
    throw new PluginLoadError(`${config.sources.packing}: packing.algorithm: ${describeError(error)}`, {
      cause: error,
      code: 'plugin.unknown-packing',
    });
  }
  return container;
}
