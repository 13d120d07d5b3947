#!/usr/bin/env node
/**
 * The executor of one container: `ardea-executor --topology <name> --container <i>`, with the cluster
 * config by value in `ARDEA_CLUSTER_CONFIG` (how pools start it), or `--cluster <cluster>` naming a
 * cluster directory instead (how a user runs it by hand). Container 0 runs the topology master and
 * metrics cache; every other container runs a stream manager and its instances, from the topology
 * package it fetches by URI into its working directory. Pools start it however they start
 * processes; it finds everything else through the cluster's state manager.
 */
import 'reflect-metadata';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusterConfigOfProcess } from '../config/cluster-config.js';
import { createArdeaContainer } from '../app/ardea-container.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { ArdeaError, describeError } from '../errors/index.js';
import { StreamLogger } from '../logging/index.js';
import { LISTEN_HOST_ENV } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';
import { CheckpointStorage } from '../spi/checkpoint-storage.js';
import { PARENT_PID_ENV } from '../runtime/executor-env.js';
import { localPackageUrl } from '../runtime/package-fetch.js';
import { runtimeSettingsOf } from '../runtime/runtime-settings.js';
import type { HealthManager } from '../healthmgr/health-manager.js';
import { startHealthManager } from '../healthmgr/health-module.js';
import { healthModeOf } from '../healthmgr/settings.js';
import { Ardea } from '../app/ardea.js';
import type { TopologyActuator } from '../spi/health-policy.js';
import { StreamManager } from '../runtime/stream-manager.js';
import { TopologyMaster } from '../runtime/topology-master.js';

async function main(): Promise<void> {
  // Whatever the container creates (logs, state, files of the topology's code) is its owner's alone.
  process.umask(0o077);
  const { values } = parseArgs({
    options: { cluster: { type: 'string' }, topology: { type: 'string' }, container: { type: 'string' } },
    strict: true,
  });
  const containerId = Number(values.container);
  const usage =
    'usage: ardea-executor [--cluster <cluster>] --topology <name> --container <id>, ' +
    'with the cluster config in ARDEA_CLUSTER_CONFIG when --cluster is not given';
  if (!values.topology || values.container === undefined || !Number.isInteger(containerId) || containerId < 0) throw new ArdeaError(usage);
  // Armed before anything can wait (for state, for the topology master), so that no executor
  // outlives its supervisor. Until the container runs there is nothing to stop gracefully.
  let onParentGone: () => void = () => {
    process.stderr.write(`ardea-executor: the supervisor (pid ${process.env[PARENT_PID_ENV]}) is gone; exiting\n`);
    process.exit(1);
  };
  watchParent(() => onParentGone());
  const config = clusterConfigOfProcess({ cluster: values.cluster, usage });
  const bootLogger = new StreamLogger({ level: 'info', format: 'json' }, { topology: values.topology, container: containerId });
  const container = await createArdeaContainer(config, { logger: bootLogger });
  const state = container.get<StateManager>(StateManager);
  await state.start();
  const [definition, packingPlan, execution] = await Promise.all([
    state.get('topology', values.topology),
    state.get('packingPlan', values.topology),
    state.get('executionState', values.topology),
  ]);
  if (!definition || !packingPlan || !execution) {
    throw new ArdeaError(`topology '${values.topology}' has no complete state on cluster ${config.cluster}; was it killed?`);
  }
  const settings = runtimeSettingsOf(definition);
  const effectivelyOnce = settings.reliability === 'effectively-once';
  if (effectivelyOnce && !container.isBound(CheckpointStorage))
    throw new ArdeaError(
      `topology '${definition.name}' is effectively-once, but cluster ${config.cluster} has no checkpoint storage configured`,
    );
  const checkpoints = effectivelyOnce ? container.get<CheckpointStorage>(CheckpointStorage) : undefined;
  const host = process.env[LISTEN_HOST_ENV]?.trim() || settings.listenHost;
  const logger = new StreamLogger({ level: settings.logLevel, format: 'json' }, { topology: definition.name, container: containerId });
  let stop: () => Promise<void>;
  if (containerId === 0) {
    const master = new TopologyMaster({
      definition,
      packingPlan,
      secret: execution.secret,
      host,
      initialState: execution.initialState,
      state,
      logger,
      metricsSamples: settings.metricsSamples,
      metricsIntervalMs: settings.metricsIntervalMs,
      metricsWindowMs: settings.metricsWindowMs,
      ...(checkpoints
        ? { checkpoints: { storage: checkpoints, intervalMs: settings.checkpointIntervalMs, maxParallelism: settings.maxParallelism } }
        : {}),
    });
    await master.start();
    let health: HealthManager | undefined;
    const healthMode = healthModeOf(config, definition);
    if (healthMode !== 'off') {
      const ardea = new Ardea(container);
      const actuator: TopologyActuator = {
        scale: async (parallelism) => {
          await ardea.update(definition.name, { parallelism, lockTimeoutMs: 5000, respectOperatorPins: true });
        },
        restartContainer: (id) => ardea.restart(definition.name, id),
        setRuntimeConfig: (changes) => ardea.updateRuntimeConfig(definition.name, changes),
      };
      health = startHealthManager(container, {
        topologyName: definition.name,
        actuator,
        metrics: {
          view: (windowMs: number) => master.metrics.view({ windowMs, instances: true }),
          physicalPlan: () => master.physicalPlan,
          exceptions: () => master.metrics.exceptions(),
        },
        logger,
        minWindowMs: 2 * settings.metricsIntervalMs,
        mode: healthMode,
      });
    }
    stop = async () => {
      await health?.stop();
      await master.stop();
    };
  } else {
    const plan = packingPlan.containers.find((c) => c.id === containerId);
    if (!plan)
      throw new ArdeaError(
        `container ${containerId} is not in the packing plan of '${definition.name}' ` +
          `(containers: ${packingPlan.containers.map((c) => c.id).join(', ')})`,
      );
    const bundleUrl = await localPackageUrl({
      uri: execution.packageUri,
      sha256: execution.packageSha256,
      cacheDirectory: path.join(process.cwd(), 'package-cache'),
      uploader: container.get<Uploader>(Uploader),
      logger,
    });
    // Runtime config changes accepted since submit: instances start with them, not with the submit-time values.
    const storedPlan = await state.get('physicalPlan', definition.name);
    const streamManager = new StreamManager({
      definition,
      ...(storedPlan?.topologyId === definition.id ? { initialRuntimeConfig: storedPlan.runtimeConfig } : {}),
      container: plan,
      secret: execution.secret,
      bundleUrl,
      host,
      backpressure: {
        highWatermarkBytes: settings.backpressureHighWatermark,
        lowWatermarkBytes: settings.backpressureLowWatermark,
        stallMs: settings.backpressureStallMs,
      },
      metricsIntervalMs: settings.metricsIntervalMs,
      hungInstanceMs: settings.hungInstanceMs,
      enforceContainerRam: settings.enforceContainerRam,
      logger,
      logLevel: settings.logLevel,
      locateTopologyMaster: () => waitForMaster(state, definition.name, definition.id),
      readPackingPlan: () => state.get('packingPlan', definition.name),
      delivery: {
        reliability: settings.reliability,
        messageTimeoutMs: settings.messageTimeoutMs,
        maxSpoutPending: settings.maxSpoutPending,
        maxParallelism: settings.maxParallelism,
      },
      ...(checkpoints ? { checkpoints } : {}),
    });
    await streamManager.start();
    stop = () => streamManager.stop();
  }
  logger.info('container running');
  let stopping = false;
  const shutdown = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('container stopping', { reason });
    const deadline = setTimeout(() => process.exit(1), 5000);
    deadline.unref();
    await stop().catch((error: unknown) => logger.warn('stop failed', { error }));
    await closeArdeaContainer(container).catch((error: unknown) => logger.warn('closing the state manager failed', { error }));
    process.exit(process.exitCode ?? 0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  onParentGone = () => void shutdown('supervisor exited');
}

/** Calls `onGone` (every 500 ms until it exits) once the process named by `ARDEA_PARENT_PID` is gone. */
function watchParent(onGone: () => void): void {
  const parent = Number(process.env[PARENT_PID_ENV]);
  if (!Number.isInteger(parent) || parent <= 0) return;
  // A direct child is re-parented when its parent dies, so a changed ppid says so even after the OS
  // has reused the parent's pid; for an indirect parent, probing the pid is all there is.
  const direct = process.ppid === parent;
  const gone = (): boolean => {
    if (direct) return process.ppid !== parent;
    try {
      process.kill(parent, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  setInterval(() => {
    if (gone()) onGone();
  }, 500).unref();
}

/** Resolves with the master's address, waiting for container 0 to publish it. */
async function waitForMaster(state: StateManager, topology: string, topologyId: string): Promise<{ host: string; port: number }> {
  for (;;) {
    const location = await state.get('topologyMaster', topology);
    if (location && location.topologyId === topologyId) return { host: location.host, port: location.serverPort };
    await new Promise<void>((resolve) => {
      const watch = state.watch('topologyMaster', topology, () => {
        watch.close();
        clearTimeout(timer);
        resolve();
      });
      const timer = setTimeout(() => {
        watch.close();
        resolve();
      }, 1000);
    });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`ardea-executor: ${describeError(error)}\n`);
    process.exit(1);
  });
}
