import type { Container } from 'inversify';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import type { ConfigProperty } from '../config/config-property.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { ExceptionsView, MetricsTimeline, MetricsView, RuntimeInfo } from '../model/metrics.js';
import type { ContainerLogChunk, ContainerLogRequest, ContainerStatus } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { createArdeaContainer } from './ardea-container.js';
import {
  activateTopology,
  containerLog,
  containerStatuses,
  deactivateTopology,
  describeTopology,
  killTopology,
  restartTopology,
  topologyExceptions,
  topologyMetrics,
  topologyMetricsTimeline,
  topologyRuntimeInfo,
  updateRuntimeConfig,
  type RuntimeConfigChange,
  type TopologyDescription,
} from './control.js';
import { Deployment } from './deployment.js';
import { submitTopology, type SubmitOptions, type SubmitResult } from './submit.js';
import { updateTopology, type UpdateOptions, type UpdateResult } from './update.js';

export { applyTopologyProperties, type SubmitOptions, type SubmitResult } from './submit.js';
export type { UpdateOptions, UpdateResult } from './update.js';
export type { RuntimeConfigChange, TopologyDescription } from './control.js';

export interface CreateArdeaOptions {
  /** `local`, a cluster name under `$ARDEA_HOME/clusters`, or a path to a cluster directory. */
  readonly cluster: string;
  /** Cluster `--config-property` overrides (`packing.algorithm=...`). */
  readonly overrides?: ReadonlyArray<string | ConfigProperty>;
  readonly logger?: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * The programmatic face of Ardea, built on the same container as the CLI: everything the CLI does
 * to a cluster, for platforms that embed the core.
 */
export async function createArdea(options: CreateArdeaOptions): Promise<Ardea> {
  const config = loadClusterConfig({
    cluster: options.cluster,
    overrides: options.overrides ?? [],
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const container = await createArdeaContainer(config, { logger: options.logger ?? new SilentLogger() });
  const ardea = new Ardea(container);
  await ardea.state.start();
  return ardea;
}

/**
 * Everything the CLI does to a cluster's topologies, for platforms that embed the core. Each
 * operation lives in its own module (submit, update, control); this class holds the deployment
 * they share.
 */
export class Ardea {
  readonly config: ClusterConfig;
  readonly state: StateManager;
  private readonly deployment: Deployment;

  constructor(readonly container: Container) {
    this.deployment = new Deployment(container);
    this.config = this.deployment.config;
    this.state = this.deployment.state;
  }

  /** Closes the container it was made with: the state manager, scheduler and uploader it created. */
  async close(): Promise<void> {
    await closeArdeaContainer(this.container);
  }

  /**
   * Builds the package, applies properties, packs, uploads, writes the topology's state in one
   * transaction and launches it, then waits until every container runs and the physical plan is
   * live. Any failure undoes what was done: no state, package or process is left behind.
   */
  submit(options: SubmitOptions): Promise<SubmitResult> {
    return submitTopology(this.deployment, options);
  }

  /**
   * Stops every container and removes the topology's state and package. Works on partial state
   * (a submit that failed half-way, a scheduler that is gone), so a topology can always be killed.
   */
  kill(name: string, onProgress: (message: string) => void = () => undefined): Promise<void> {
    return killTopology(this.deployment, name, onProgress);
  }

  /**
   * Changes parallelism (and with it containers) of a running topology. Under the update lock it
   * repacks the stored plan with the cluster's repacking algorithm, stores the new plan, has the
   * pool add containers, waits until every container runs exactly the new plan (instances that move
   * or go away finish their queues first), and then has the pool remove emptied containers. Only
   * what changes is touched. If a step fails, the previous plan is restored and the error says why.
   * For a pool with `ordinal` container identity the repacked plan is compacted first (see the
   * Scheduler docs), so that the pool only ever adds or removes its highest containers.
   */
  update(name: string, options: UpdateOptions): Promise<UpdateResult> {
    return updateTopology(this.deployment, name, options);
  }

  /** Changes config values of running instances without restarting them (their `onConfigChange` runs). */
  updateRuntimeConfig(name: string, changes: readonly RuntimeConfigChange[]): Promise<void> {
    return updateRuntimeConfig(this.deployment, name, changes);
  }

  activate(name: string): Promise<{ state: string; changed: boolean }> {
    return activateTopology(this.deployment, name);
  }

  deactivate(name: string): Promise<{ state: string; changed: boolean }> {
    return deactivateTopology(this.deployment, name);
  }

  /**
   * Restarts one container, or every container. A service-mode topology whose scheduler service is
   * gone (`SUPERVISOR-LOST`) gets a new service when no container is named: what the old one left
   * running is stopped, the new one starts every container, and this resolves once they run the
   * physical plan again. Runtime config and activation state carry over.
   */
  restart(
    name: string,
    containerId?: number,
    options: { readonly timeoutMs?: number; readonly onProgress?: (message: string) => void } = {},
  ): Promise<void> {
    return restartTopology(this.deployment, name, containerId, options);
  }

  status(name: string): Promise<ContainerStatus[]> {
    return containerStatuses(this.deployment, name);
  }

  metrics(name: string, options: { instances?: boolean; windowMs?: number } = {}): Promise<MetricsView> {
    return topologyMetrics(this.deployment, name, options);
  }

  /**
   * The metrics cache's series as rates per interval, oldest first: the last hour at the default
   * `topology.metricsIntervalMs` (10 s) and `topology.metricsSamples` (360). `since` (ms since the
   * epoch) leaves out earlier points.
   */
  metricsTimeline(name: string, options: { instances?: boolean; since?: number } = {}): Promise<MetricsTimeline> {
    return topologyMetricsTimeline(this.deployment, name, options);
  }

  /** Every instance's error count and last reported error with its stack, from the metrics cache. */
  exceptions(name: string): Promise<ExceptionsView> {
    return topologyExceptions(this.deployment, name);
  }

  /** What container 0 runs: its Ardea and Node versions, its host and when it started. */
  runtimeInfo(name: string): Promise<RuntimeInfo> {
    return topologyRuntimeInfo(this.deployment, name);
  }

  /**
   * Part of a container's log, from the pool. Rejects with a `SchedulerError` (code
   * `scheduler.logs-unsupported`) when the pool does not serve logs, saying where they are instead.
   */
  containerLog(name: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    return containerLog(this.deployment, name, containerId, request);
  }

  list(): Promise<string[]> {
    return this.state.list('topology');
  }

  /**
   * What a topology is doing, as `list` and `describe` show it: RUNNING or PAUSED from its physical
   * plan, STARTING before it has one, and SUPERVISOR-LOST once it has run under a scheduler service
   * that is gone (its containers stop with it; `restart` without a container starts a new one).
   */
  runState(name: string): Promise<string> {
    return this.deployment.runState(name);
  }

  describe(name: string): Promise<TopologyDescription> {
    return describeTopology(this.deployment, name);
  }
}
