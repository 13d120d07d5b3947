import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Container } from 'inversify';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import type { ConfigProperty } from '../config/config-property.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { createArdeaContainer } from './ardea-container.js';
import { ArdeaError, ConfigError, describeError, LockTimeoutError, SchedulerError, StateConflictError, TopologyError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import { checkPackingPlan, diffPackingPlans, plansEqual, type PackingPlan, type PackingPlanDiff } from '../model/packing-plan.js';
import type { ExecutionState, PhysicalPlan, SchedulerLocation } from '../model/runtime-state.js';
import { MAX_CONTAINERS, validateTopology, withParallelism, type TopologyDefinition } from '../model/topology.js';
import { JsonHttpClient } from '../http/json-client.js';
import { applyPackingHints, selectPackingAlgorithm, selectRepackingAlgorithm } from '../packing/index.js';
import { instanceStartError, type InstanceFailure } from '../runtime/control-messages.js';
import type { MetricsView } from '../model/metrics.js';
import { displayedPackageUri, sha256Of } from '../runtime/package-fetch.js';
import { runtimeSettingsOf } from '../runtime/runtime-settings.js';
import { validateHealthSettings } from '../healthmgr/builtin-policies.js';
import { PackingAlgorithm, RepackingAlgorithm } from '../spi/packing.js';
import { Launcher, Scheduler, type ContainerStatus } from '../spi/scheduler.js';
import { StateManager, TOPOLOGY_REMOVAL_ORDER, type StateOperation } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { planForPool } from '../scheduler/pool-kit/container-identity.js';
import { openSchedulerClient } from '../scheduler/scheduler-client.js';
import { buildTopologyPackage } from '../scheduler/topology-package.js';

const ARDEA_CORE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface CreateArdeaOptions {
  /** `local`, a cluster name under `$ARDEA_HOME/clusters`, or a path to a cluster directory. */
  readonly cluster: string;
  /** Cluster `--config-property` overrides (`packing.algorithm=...`). */
  readonly overrides?: ReadonlyArray<string | ConfigProperty>;
  readonly logger?: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface SubmitOptions {
  /** A topology package directory, or a .tgz of one. */
  readonly packagePath: string;
  /** Run under this name instead of the one the topology declares. */
  readonly name?: string;
  /**
   * Topology properties: `<component>.parallelism=<n>`, `<component>.<key>=<value>` (component
   * config) and `topology.<key>=<value>` (topology config).
   */
  readonly properties?: readonly ConfigProperty[];
  readonly deployDeactivated?: boolean;
  /** Pack and stop: nothing is uploaded, written or started. */
  readonly dryRun?: boolean;
  /** How long to wait for every container to run. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface SubmitResult {
  readonly definition: TopologyDefinition;
  readonly packingPlan: PackingPlan;
  readonly scheduler?: SchedulerLocation;
}

export interface UpdateOptions {
  /** New parallelism per component. */
  readonly parallelism?: Readonly<Record<string, number>>;
  /** Container count, for repacking algorithms that take one. */
  readonly containers?: number;
  /** Print the plan diff and stop. */
  readonly dryRun?: boolean;
  /** How long to wait for the update lock; 0 fails at once when another update runs. */
  readonly lockTimeoutMs?: number;
  /** How long the new plan may take to be running everywhere before the update is rolled back. */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export interface UpdateResult {
  readonly previous: PackingPlan;
  readonly plan: PackingPlan;
  readonly diff: PackingPlanDiff;
  /** Milliseconds from the request until every new instance was running the new plan. */
  readonly elapsedMs: number;
  readonly dryRun: boolean;
}

export interface RuntimeConfigChange {
  /** A component name, or `*` for every component. */
  readonly component: string;
  readonly key: string;
  readonly value: unknown;
}

export interface TopologyDescription {
  readonly topology: TopologyDefinition;
  readonly packingPlan?: PackingPlan;
  readonly executionState?: ExecutionState;
  readonly physicalPlan?: PhysicalPlan;
  readonly scheduler?: SchedulerLocation;
}

/**
 * The programmatic face of Ardea, built on the same container as the CLI: everything the CLI does
 * to a cluster, for platforms that embed the core.
 */
export async function createArdea(options: CreateArdeaOptions): Promise<Ardea> {
  const config = loadClusterConfig({ cluster: options.cluster, overrides: options.overrides ?? [], ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
  const container = await createArdeaContainer(config, { logger: options.logger ?? new SilentLogger() });
  const ardea = new Ardea(container);
  await ardea.state.start();
  return ardea;
}

export class Ardea {
  readonly config: ClusterConfig;
  readonly state: StateManager;
  private readonly logger: Logger;

  constructor(readonly container: Container) {
    this.config = container.get<ClusterConfig>(ClusterConfig);
    this.state = container.get<StateManager>(StateManager);
    this.logger = container.get<Logger>(Logger).child({ component: 'ardea' });
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
  async submit(options: SubmitOptions): Promise<SubmitResult> {
    const progress = options.onProgress ?? (() => undefined);
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ardea-submit-'));
    try {
      progress(`building topology package ${options.packagePath}`);
      const built = await buildTopologyPackage(options.packagePath, scratch);
      const definition = applyTopologyProperties(built.definition, options.name, options.properties ?? []);
      runtimeSettingsOf(definition);
      validateHealthSettings(this.config);
      const settings = applyPackingHints(this.config.packing.settings, definition.packing);
      const algorithm = selectPackingAlgorithm(this.container.getAll<PackingAlgorithm>(PackingAlgorithm), this.config.packing.algorithm);
      const scheduler = this.container.get<Scheduler>(Scheduler);
      const packingPlan = planForPool(scheduler, undefined, algorithm.pack(definition, settings));
      checkPackingPlan(packingPlan);
      progress(`packed ${definition.components.reduce((n, c) => n + c.parallelism, 0)} instances into ${packingPlan.containers.length} container(s) with ${algorithm.name}`);
      if (options.dryRun) return { definition, packingPlan };
      if (await this.state.get('topology', definition.name)) {
        throw new StateConflictError(`topology '${definition.name}' is already running on cluster ${this.config.cluster}; kill it first or submit with --name`);
      }
      const uploader = this.container.get<Uploader>(Uploader);
      const packageSha256 = await sha256Of(built.bundlePath);
      const packageUri = await uploader.upload({ topologyName: definition.name, topologyId: definition.id, packagePath: built.bundlePath });
      progress(`uploaded package to ${displayedPackageUri(packageUri)}`);
      const execution: ExecutionState = {
        topologyName: definition.name,
        topologyId: definition.id,
        cluster: this.config.cluster,
        submittedBy: os.userInfo().username,
        submittedAt: Date.now(),
        ardeaVersion: ARDEA_CORE_VERSION,
        packageUri,
        packageSha256,
        schedulerPlugin: this.config.scheduler.plugin,
        schedulerMode: scheduler.mode,
        secret: randomBytes(24).toString('hex'),
        initialState: options.deployDeactivated ? 'PAUSED' : 'RUNNING',
      };
      try {
        await this.state.transaction([
          { op: 'create', kind: 'topology', topology: definition.name, value: definition },
          { op: 'create', kind: 'packingPlan', topology: definition.name, value: packingPlan },
          { op: 'create', kind: 'executionState', topology: definition.name, value: execution },
        ]);
      } catch (error) {
        await uploader.undo(packageUri).catch(() => undefined);
        throw error;
      }
      try {
        progress(`launching on ${this.config.scheduler.plugin} (${scheduler.mode} mode)`);
        const location = await this.container
          .get<Launcher>(Launcher)
          .launch({ topology: definition, packingPlan, packageUri, executor: executorSpec(this.config, definition.name) });
        await this.waitUntilRunning(definition, packingPlan, options.timeoutMs ?? 60_000, progress);
        return { definition, packingPlan, scheduler: location };
      } catch (error) {
        progress(`submit failed, cleaning up: ${describeError(error)}`);
        await this.kill(definition.name).catch((cleanup: unknown) => this.logger.warn('cleanup after a failed submit failed', { error: describeError(cleanup) }));
        throw error;
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** `afterVersion`: a physical plan of this version or older is an earlier run's, not this one's. */
  private async waitUntilRunning(definition: TopologyDefinition, plan: PackingPlan, timeoutMs: number, progress: (message: string) => void, afterVersion = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = plan.containers.length + 1;
    let last = '';
    for (;;) {
      const client = await this.schedulerClient(definition.name);
      const statuses: ContainerStatus[] = client ? await client.status().catch(() => []) : [];
      const running = statuses.filter((s) => s.state === 'running').length;
      const physical = await this.state.get('physicalPlan', definition.name);
      const live = physical?.topologyId === definition.id && physical.version > afterVersion && physical.streamManagers.length === plan.containers.length;
      const line = `${running}/${expected} containers running${live ? ', physical plan live' : ', waiting for stream managers to register'}`;
      if (line !== last) progress(line);
      last = line;
      if (running === expected && live) return;
      const status = await this.callMaster<PlanStatus>(definition.name, 'GET', '/plan-status').catch(() => undefined);
      const failure = status?.failures?.[0];
      if (failure) throw instanceStartError(failure);
      const failed = statuses.find((s) => s.state === 'failed');
      if (failed) throw new SchedulerError(`container ${failed.containerId} of '${definition.name}' failed: ${failed.message ?? 'no message'}`);
      if (Date.now() > deadline) throw new SchedulerError(`'${definition.name}' did not start within ${timeoutMs} ms: ${line}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Stops every container and removes the topology's state and package. Works on partial state
   * (a submit that failed half-way, a scheduler that is gone), so a topology can always be killed.
   */
  async kill(name: string, onProgress: (message: string) => void = () => undefined): Promise<void> {
    const [topology, execution] = await Promise.all([this.state.get('topology', name), this.state.get('executionState', name)]);
    const anyState = topology ?? execution ?? (await this.state.get('packingPlan', name)) ?? (await this.state.get('scheduler', name));
    if (!anyState) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}`, { code: 'topology.not-found' });
    const scheduler = this.container.get<Scheduler>(Scheduler);
    const serviceMode = (execution?.schedulerMode ?? scheduler.mode) === 'service';
    const client = await this.schedulerClient(name);
    if (client) {
      onProgress('stopping containers');
      try {
        await client.kill();
        if (serviceMode) await this.waitForServiceExit(name);
      } catch (error) {
        // A service that does not answer, or does not go, is stopped from here below.
        if (!serviceMode) throw error;
        onProgress(`the scheduler service did not stop the topology (${describeError(error)}); stopping its processes from here`);
      }
    } else if (serviceMode) {
      onProgress('the scheduler service is gone; stopping what it left running');
    }
    // For a service-mode pool this runs in a process that does not own the containers: it stops
    // whatever the service left running and rejects, naming them, if any process would not stop.
    // State stays until then, so the kill can be repeated.
    if (serviceMode || !client) await scheduler.kill(name);
    onProgress('removing state');
    const operations: StateOperation[] = TOPOLOGY_REMOVAL_ORDER.map((kind) => ({ op: 'delete', kind, topology: name }));
    await this.state.transaction(operations);
    if (execution) {
      onProgress(`removing package ${displayedPackageUri(execution.packageUri)}`);
      await this.container.get<Uploader>(Uploader).undo(execution.packageUri);
    }
  }

  /** A service's location is ephemeral: it disappears once the service process has exited. */
  private async waitForServiceExit(name: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.state.get('scheduler', name)) !== undefined) {
      if (Date.now() > deadline) throw new SchedulerError(`the scheduler service of '${name}' stopped its containers but did not exit within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
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
  async update(name: string, options: UpdateOptions): Promise<UpdateResult> {
    const started = Date.now();
    const progress = options.onProgress ?? (() => undefined);
    const lock = await this.updateLock(name, options.lockTimeoutMs ?? 0);
    try {
      const [topology, current, execution] = await Promise.all([
        this.state.get('topology', name),
        this.state.get('packingPlan', name),
        this.state.get('executionState', name),
      ]);
      if (!topology || !current || !execution) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}`, { code: 'topology.not-found' });
      const parallelism = options.parallelism ?? {};
      for (const [component, n] of Object.entries(parallelism)) {
        if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--component-parallelism ${component}:${n}: parallelism must be a whole number of at least 1`);
      }
      if (options.containers !== undefined && options.containers > MAX_CONTAINERS) {
        throw new ConfigError(`--container-number ${options.containers}: above the limit of ${MAX_CONTAINERS} containers per topology`);
      }
      const proposedTopology = withParallelism(topology, parallelism);
      const repacker = selectRepackingAlgorithm(this.container.getAll<RepackingAlgorithm>(RepackingAlgorithm), this.config.packing.repackingAlgorithm);
      const repacked = repacker.repack(
        { current, topology: proposedTopology, ...(options.containers === undefined ? {} : { containers: options.containers }) },
        this.config.packing.settings,
      );
      // An ordinal pool can only drop its highest containers: the plan it gets, and the one stored, is dense.
      const proposed = planForPool(this.container.get<Scheduler>(Scheduler), current, repacked);
      checkPackingPlan(proposed);
      const diff = diffPackingPlans(current, proposed);
      if (options.dryRun || plansEqual(current, proposed)) return { previous: current, plan: proposed, diff, elapsedMs: Date.now() - started, dryRun: options.dryRun ?? false };

      const scheduler = await this.requireClient(name);
      // Containers leave only after their instances have finished: first add, later remove.
      const leaving = current.containers.filter((c) => !proposed.containers.some((p) => p.id === c.id));
      const withLeaving: PackingPlan = { ...proposed, containers: [...proposed.containers, ...leaving.map((c) => ({ ...c, instances: [] }))] };
      // Every write from here on is conditional on the topology still being this submission: a kill
      // (and a new submit under the name) wins over the update, which stops without writing.
      await this.writeUnlessKilled(name, topology.id, [
        { op: 'set', kind: 'topology', topology: name, value: proposedTopology },
        { op: 'set', kind: 'packingPlan', topology: name, value: proposed },
      ]);
      progress(`stored the new packing plan (${proposed.containers.length} containers)`);
      let added = false;
      try {
        if (diff.addedContainers.length > 0) {
          progress(`starting container(s) ${diff.addedContainers.join(', ')}`);
          await scheduler.update(current, withLeaving);
          added = true;
        }
        await this.waitForPlanApplied(name, topology.id, execution.secret, options.timeoutMs ?? 60_000, progress);
      } catch (error) {
        if (isKilledDuringUpdate(error)) throw error;
        progress(`update failed, returning to the previous plan: ${describeError(error)}`);
        await this.writeUnlessKilled(name, topology.id, [
          { op: 'set', kind: 'topology', topology: name, value: topology },
          { op: 'set', kind: 'packingPlan', topology: name, value: current },
        ]);
        if (added) await scheduler.update(withLeaving, current).catch(() => undefined);
        const detail = error instanceof ArdeaError ? error.detail : undefined;
        throw new SchedulerError(`update of '${name}' failed and was rolled back to the previous plan: ${describeError(error)}`, {
          cause: error,
          ...(detail ? { detail } : {}),
        });
      }
      const elapsedMs = Date.now() - started;
      if (leaving.length > 0) {
        progress(`removing emptied container(s) ${leaving.map((c) => c.id).join(', ')}`);
        await scheduler.update(withLeaving, proposed).catch(async (error: unknown) => {
          await this.assertNotKilled(name, topology.id);
          throw error;
        });
      }
      return { previous: current, plan: proposed, diff, elapsedMs, dryRun: false };
    } finally {
      await lock.release();
    }
  }

  /** Applies `operations` only while the topology is still submission `topologyId`. */
  private async writeUnlessKilled(name: string, topologyId: string, operations: readonly StateOperation[]): Promise<void> {
    try {
      await this.state.transaction([{ op: 'check', kind: 'topology', topology: name, topologyId }, ...operations]);
    } catch (error) {
      // Sets never conflict: only the check can.
      if (error instanceof StateConflictError) throw killedDuringUpdate(name, error);
      throw error;
    }
  }

  private async assertNotKilled(name: string, topologyId: string): Promise<void> {
    if ((await this.state.get('topology', name))?.id !== topologyId) throw killedDuringUpdate(name);
  }

  private updateLock(name: string, timeoutMs: number) {
    return this.state.lock(name, 'update', { timeoutMs }).catch((error: unknown) => {
      if (error instanceof LockTimeoutError) {
        throw new SchedulerError(`update in progress: another update of '${name}' holds its update lock (${describeError(error)}); try again when it is done`, { cause: error });
      }
      throw error;
    });
  }

  /** Waits until the topology master reports the stored packing plan live and applied everywhere. */
  private async waitForPlanApplied(name: string, topologyId: string, secret: string, timeoutMs: number, progress: (message: string) => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      await this.assertNotKilled(name, topologyId);
      const status = await this.callMaster<PlanStatus>(name, 'GET', '/plan-status').catch(() => undefined);
      const failure = status?.failures?.[0];
      if (failure) throw instanceStartError(failure);
      const line = !status ? 'waiting for the topology master' : status.applied ? 'new plan running everywhere' : status.live ? `plan ${status.version} published; waiting for container(s) ${status.pending.join(', ')}` : 'waiting for new containers to register';
      if (line !== last) progress(line);
      last = line;
      if (status?.applied) return;
      if (Date.now() > deadline) throw new SchedulerError(`the new plan of '${name}' was not running everywhere within ${timeoutMs} ms (${line})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Changes config values of running instances without restarting them (their `onConfigChange` runs). */
  async updateRuntimeConfig(name: string, changes: readonly RuntimeConfigChange[]): Promise<void> {
    await this.callMaster(name, 'POST', '/runtime-config', changes);
  }

  async activate(name: string): Promise<{ state: string; changed: boolean }> {
    return this.callMaster(name, 'POST', '/activate');
  }

  async deactivate(name: string): Promise<{ state: string; changed: boolean }> {
    return this.callMaster(name, 'POST', '/deactivate');
  }

  /**
   * Restarts one container, or every container. A service-mode topology whose scheduler service is
   * gone (`SUPERVISOR-LOST`) gets a new service when no container is named: what the old one left
   * running is stopped, the new one starts every container, and this resolves once they run the
   * physical plan again. Runtime config and activation state carry over.
   */
  async restart(name: string, containerId?: number, options: { readonly timeoutMs?: number; readonly onProgress?: (message: string) => void } = {}): Promise<void> {
    const client = await this.schedulerClient(name);
    if (client) {
      await client.restart(containerId);
      return;
    }
    if ((await this.runState(name)) !== 'SUPERVISOR-LOST') await this.requireClient(name);
    if (containerId !== undefined) {
      throw new SchedulerError(
        `the supervisor of '${name}' is gone, so container ${containerId} cannot be restarted alone; 'ardea restart ${this.config.cluster} ${name}' (no container) starts a new supervisor and every container`,
      );
    }
    await this.relaunch(name, options.timeoutMs ?? 60_000, options.onProgress ?? (() => undefined));
  }

  private async relaunch(name: string, timeoutMs: number, progress: (message: string) => void): Promise<void> {
    // The update lock keeps two restarts (or a restart and an update) from starting two supervisors.
    const lock = await this.updateLock(name, 0);
    try {
      const [topology, packingPlan, execution, physical, location] = await Promise.all([
        this.state.get('topology', name),
        this.state.get('packingPlan', name),
        this.state.get('executionState', name),
        this.state.get('physicalPlan', name),
        this.state.get('scheduler', name),
      ]);
      if (!topology || !packingPlan || !execution) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}`, { code: 'topology.not-found' });
      if (location) return;
      progress(`the supervisor of '${name}' is gone; stopping what it left running`);
      await this.container.get<Scheduler>(Scheduler).kill(name);
      progress('starting a new supervisor');
      await this.container.get<Launcher>(Launcher).launch({ topology, packingPlan, packageUri: execution.packageUri, executor: executorSpec(this.config, name) });
      const previousVersion = physical?.topologyId === topology.id ? physical.version : 0;
      await this.waitUntilRunning(topology, packingPlan, timeoutMs, progress, previousVersion);
    } finally {
      await lock.release();
    }
  }

  async status(name: string): Promise<ContainerStatus[]> {
    return (await this.requireClient(name)).status();
  }

  async metrics(name: string, options: { instances?: boolean; windowMs?: number } = {}): Promise<MetricsView> {
    const query = new URLSearchParams({ instances: String(options.instances ?? false), ...(options.windowMs ? { windowMs: String(options.windowMs) } : {}) });
    return this.callMaster(name, 'GET', `/metrics?${query}`);
  }

  async list(): Promise<string[]> {
    return this.state.list('topology');
  }

  /**
   * What a topology is doing, as `list` and `describe` show it: RUNNING or PAUSED from its physical
   * plan, STARTING before it has one, and SUPERVISOR-LOST once it has run under a scheduler service
   * that is gone (its containers stop with it; `restart` without a container starts a new one).
   */
  async runState(name: string): Promise<string> {
    const [execution, physical, scheduler] = await Promise.all([
      this.state.get('executionState', name),
      this.state.get('physicalPlan', name),
      this.state.get('scheduler', name),
    ]);
    if (execution?.schedulerMode === 'service' && !scheduler && physical?.topologyId === execution.topologyId) return 'SUPERVISOR-LOST';
    return physical?.state ?? 'STARTING';
  }

  async describe(name: string): Promise<TopologyDescription> {
    const [topology, packingPlan, executionState, physicalPlan, scheduler] = await Promise.all([
      this.state.get('topology', name),
      this.state.get('packingPlan', name),
      this.state.get('executionState', name),
      this.state.get('physicalPlan', name),
      this.state.get('scheduler', name),
    ]);
    if (!topology) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}; 'ardea list ${this.config.cluster}' shows the running ones`, { code: 'topology.not-found' });
    return {
      topology,
      ...(packingPlan ? { packingPlan } : {}),
      ...(executionState ? { executionState } : {}),
      ...(physicalPlan ? { physicalPlan } : {}),
      ...(scheduler ? { scheduler } : {}),
    };
  }

  /** The client for a topology's scheduler, in-process for library-mode pools; undefined when no service is reachable. */
  private schedulerClient(name: string) {
    return openSchedulerClient(this.state, name, () => this.container.get<Scheduler>(Scheduler), () => executorSpec(this.config, name));
  }

  private async requireClient(name: string) {
    const client = await this.schedulerClient(name);
    if (client) return client;
    if ((await this.runState(name)) === 'SUPERVISOR-LOST') {
      throw new SchedulerError(
        `the supervisor of '${name}' is gone and its containers stopped with it; 'ardea restart ${this.config.cluster} ${name}' starts a new one, 'ardea kill ${this.config.cluster} ${name}' removes the topology`,
      );
    }
    throw new SchedulerError(`topology '${name}' has no reachable scheduler on cluster ${this.config.cluster}; is it running? ('ardea list ${this.config.cluster}')`);
  }

  private async callMaster<T>(name: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const [location, execution] = await Promise.all([this.state.get('topologyMaster', name), this.state.get('executionState', name)]);
    if (!execution) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}`, { code: 'topology.not-found' });
    if (!location) throw new ArdeaError(`the topology master of '${name}' is not running (container 0 may be starting or restarting); try again shortly`);
    const master = new JsonHttpClient({
      baseUrl: `http://${location.host.includes(':') ? `[${location.host}]` : location.host}:${location.controllerPort}`,
      bearer: execution.secret,
      target: `the topology master of '${name}'`,
      error: ArdeaError,
      advice: `container 0 may be stopped, overloaded or restarting: see its log, and if it stays unresponsive restart it with 'ardea restart ${this.config.cluster} ${name} 0'`,
    });
    return master.request<T>(method, route, { body });
  }
}

/** The topology master's `/plan-status`. */
interface PlanStatus {
  readonly version: number;
  readonly live: boolean;
  readonly applied: boolean;
  readonly pending: readonly number[];
  /** Absent from masters older than the CLI. */
  readonly failures?: readonly InstanceFailure[];
}

const KILLED_DURING_UPDATE = 'topology.killed-during-update';

function killedDuringUpdate(name: string, cause?: unknown): SchedulerError {
  return new SchedulerError(`topology '${name}' was killed while it was being updated; the update stopped without writing anything more`, {
    code: KILLED_DURING_UPDATE,
    ...(cause === undefined ? {} : { cause }),
  });
}

function isKilledDuringUpdate(error: unknown): boolean {
  return error instanceof ArdeaError && error.code === KILLED_DURING_UPDATE;
}

/**
 * Applies `<component>.parallelism=n`, `<component>.<key>=v` and `topology.<key>=v` to a definition,
 * renames it if asked, gives it a fresh submission id, and validates the result.
 */
export function applyTopologyProperties(definition: TopologyDefinition, name: string | undefined, properties: readonly ConfigProperty[]): TopologyDefinition {
  let components = definition.components.map((c) => ({ ...c, config: { ...c.config } }));
  const config: Record<string, unknown> = { ...definition.config };
  for (const property of properties) {
    const [head, ...rest] = property.key.split('.');
    const key = rest.join('.');
    if (!head || !key) throw new ConfigError(`--config-property ${property.key}: expected <component>.<key>=<value> or topology.<key>=<value>`);
    if (head === 'topology') {
      config[key] = property.value;
      continue;
    }
    const component = components.find((c) => c.name === head);
    if (!component) {
      throw new ConfigError(
        `--config-property ${property.key}: topology '${definition.name}' has no component '${head}' (components: ${components.map((c) => c.name).join(', ')}; topology-wide keys start with topology.)`,
      );
    }
    if (key === 'parallelism') {
      if (typeof property.value !== 'number' || !Number.isInteger(property.value) || property.value < 1) {
        throw new ConfigError(`--config-property ${property.key}: parallelism must be a whole number of at least 1, got ${JSON.stringify(property.value)}`);
      }
      components = components.map((c) => (c.name === head ? { ...c, parallelism: property.value as number } : c));
    } else {
      component.config[key] = property.value;
    }
  }
  const topologyName = name ?? definition.name;
  try {
    return validateTopology({ ...definition, name: topologyName, id: `${topologyName}-${randomBytes(4).toString('hex')}`, components, config });
  } catch (error) {
    throw error instanceof TopologyError ? error : new TopologyError(describeError(error), { cause: error });
  }
}
