/**
 * `@ardea/core`: the SPIs every resource pool implements, the domain model, configuration and plugin
 * loading, the built-in packing algorithms, and the local filesystem state manager and uploader.
 *
 * This root entry is the engine's whole surface, for the CLI, Ardea's own tests and platforms that
 * embed Ardea (`createArdea`). Plugins do not import it: they import `@ardea/core/plugin`, which
 * holds what a plugin is written against, and `@ardea/core/testing` in their tests. Every other name
 * here is internal to Ardea and may change without notice to plugins; `test/plugin-imports.test.ts`
 * keeps the plugins of this repository to that rule.
 *
 * @example
 * ```ts
 * import { loadClusterConfig, createArdeaContainer, StateManager } from '@ardea/core';
 * const config = loadClusterConfig({ cluster: 'local' });
 * const container = await createArdeaContainer(config);
 * const state = container.get<StateManager>(StateManager);
 * ```
 * @module
 */
import 'reflect-metadata';

export * from './errors/index.js';
export * from './logging/index.js';
export * from './model/index.js';
export * from './spi/index.js';
export * from './plugin/plugin-descriptor.js';
export * from './statemgr/index.js';
export * from './uploader/index.js';
export * from './checkpoint/index.js';
export * from './packing/index.js';
export * from './config/index.js';
export * from './fs/private-files.js';
export * from './plugin/plugin-loader.js';
export * from './app/ardea-container.js';
export * from './di/container-lifecycle.js';
export { pluginContext } from './plugin/plugin-context.js';
export { runCli, createProgram, ARDEA_VERSION } from './cli/program.js';
export type { CliIo } from './cli/cli-io.js';
export * from './api/index.js';
export * from './runtime/index.js';
export { buildTopologyPackage, type BuiltTopologyPackage } from './scheduler/topology-package.js';
export { createTracker, Tracker, type TrackerOptions } from './tracker/tracker.js';
export type { TrackedCluster } from './tracker/backend.js';
export {
  createArdea,
  Ardea,
  applyTopologyProperties,
  type CreateArdeaOptions,
  type SubmitOptions,
  type SubmitResult,
  type TopologyDescription,
} from './app/ardea.js';
export { HttpSchedulerClient, LibrarySchedulerClient, openSchedulerClient, type SchedulerClient } from './scheduler/scheduler-client.js';
export { clusterConfigEnv, executorSpec } from './scheduler/executor-spec.js';
export {
  awaitSchedulerService,
  LibraryLauncher,
  supervisorCommand,
  type ProcessCommand,
  type SchedulerServiceStart,
} from './scheduler/launchers.js';
export { INSTALLED_EXECUTOR_BIN, localExecutorArgv } from './scheduler/executor-command.js';
export * from './scheduler/pool-kit/index.js';
export * from './http/json-server.js';
export * from './http/json-client.js';
export * from './healthmgr/index.js';
export * from './simulator/index.js';
