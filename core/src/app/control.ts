import { ArdeaError, CheckpointError, describeError, SchedulerError } from '../errors/index.js';
import type { DeliveryMetrics, ExceptionsView, MetricsTimeline, MetricsView, ReliabilityMode, RuntimeInfo } from '../model/metrics.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { ExecutionState, PhysicalPlan, SchedulerLocation } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import { displayedPackageUri } from '../runtime/package-fetch.js';
import { runtimeSettingsOf } from '../runtime/runtime-settings.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { CheckpointStorage } from '../spi/checkpoint-storage.js';
import { Launcher, Scheduler, type ContainerLogChunk, type ContainerLogRequest, type ContainerStatus } from '../spi/scheduler.js';
import { TOPOLOGY_REMOVAL_ORDER, type StateOperation } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';
import type { Deployment } from './deployment.js';
import { updateLock } from './update.js';

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
  /** The delivery guarantee, from the topology's config. */
  readonly reliability: ReliabilityMode;
  /**
   * Under effectively-once: the last committed checkpoint and the restores, as the topology master
   * counted them since container 0 started. Absent in the other modes, and when the master did not
   * answer (then `deliveryUnavailable` says why).
   */
  readonly delivery?: DeliveryMetrics;
  readonly deliveryUnavailable?: string;
}

export interface KillOptions {
  /**
   * Whether the pool may run containers of the topology (default true). False only when undoing a
   * submit whose library-mode `schedule` rejected: by the Scheduler contract it removed what it had
   * started, and the pool may be what failed (unreachable, credentials refused), so only state and
   * package are left to remove.
   */
  readonly stopContainers?: boolean;
}

/** `Ardea.kill`, documented there; it also undoes a submit that failed half-way. */
export async function killTopology(
  deployment: Deployment,
  name: string,
  onProgress: (message: string) => void = () => undefined,
  options: KillOptions = {},
): Promise<void> {
  const [topology, execution] = await Promise.all([deployment.state.get('topology', name), deployment.state.get('executionState', name)]);
  const anyState =
    topology ?? execution ?? (await deployment.state.get('packingPlan', name)) ?? (await deployment.state.get('scheduler', name));
  if (!anyState) throw new ArdeaError(`no topology '${name}' on cluster ${deployment.config.cluster}`, { code: 'topology.not-found' });
  if (options.stopContainers !== false) await stopContainers(deployment, name, execution, onProgress);
  await disposeCheckpoints(deployment, name, topology?.id ?? execution?.topologyId);
  onProgress('removing state');
  const operations: StateOperation[] = TOPOLOGY_REMOVAL_ORDER.map((kind) => ({ op: 'delete', kind, topology: name }));
  await deployment.state.transaction(operations);
  if (execution) {
    onProgress(`removing package ${displayedPackageUri(execution.packageUri)}`);
    await deployment.container.get<Uploader>(Uploader).undo(execution.packageUri);
  }
}

/**
 * Removes the checkpoints of the topology's run once nothing runs that could write more, and before
 * the state goes: if the storage cannot be reached, the kill fails with the state still there, so
 * running it again removes both. A run that never took a checkpoint holds nothing, which is no error.
 */
async function disposeCheckpoints(deployment: Deployment, topologyName: string, topologyId: string | undefined): Promise<void> {
  // A container an embedder built by hand may have no checkpoint storage, and so no checkpoints.
  if (topologyId === undefined || !deployment.container.isBound(CheckpointStorage)) return;
  try {
    await deployment.container.get<CheckpointStorage>(CheckpointStorage).dispose({ topologyName, topologyId });
  } catch (error) {
    throw new CheckpointError(
      `cannot kill '${topologyName}' completely: its containers are stopped, but its checkpoints could not be removed ` +
        `(${describeError(error)}); its state is kept, so run 'ardea kill ${deployment.config.cluster} ${topologyName}' again ` +
        `once the checkpoint storage is reachable`,
      { cause: error, ...(error instanceof CheckpointError ? { code: error.code } : {}) },
    );
  }
}

async function stopContainers(
  deployment: Deployment,
  name: string,
  execution: ExecutionState | undefined,
  onProgress: (message: string) => void,
): Promise<void> {
  const scheduler = deployment.container.get<Scheduler>(Scheduler);
  const serviceMode = (execution?.schedulerMode ?? scheduler.mode) === 'service';
  const client = await deployment.schedulerClient(name);
  if (client) {
    onProgress('stopping containers');
    try {
      await client.kill();
      if (serviceMode) await waitForServiceExit(deployment, name);
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
}

/** A service's location is ephemeral: it disappears once the service process has exited. */
async function waitForServiceExit(deployment: Deployment, name: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await deployment.state.get('scheduler', name)) !== undefined) {
    if (Date.now() > deadline)
      throw new SchedulerError(`the scheduler service of '${name}' stopped its containers but did not exit within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `Ardea.restart`, documented there. */
export async function restartTopology(
  deployment: Deployment,
  name: string,
  containerId?: number,
  options: { readonly timeoutMs?: number; readonly onProgress?: (message: string) => void } = {},
): Promise<void> {
  const client = await deployment.schedulerClient(name);
  if (client) {
    await client.restart(containerId);
    return;
  }
  if ((await deployment.runState(name)) !== 'SUPERVISOR-LOST') await deployment.requireClient(name);
  if (containerId !== undefined) {
    throw new SchedulerError(
      `the supervisor of '${name}' is gone, so container ${containerId} cannot be restarted alone; ` +
        `'ardea restart ${deployment.config.cluster} ${name}' (no container) starts a new supervisor and every container`,
    );
  }
  await relaunch(deployment, name, options.timeoutMs ?? 60_000, options.onProgress ?? (() => undefined));
}

async function relaunch(deployment: Deployment, name: string, timeoutMs: number, progress: (message: string) => void): Promise<void> {
  // The update lock keeps two restarts (or a restart and an update) from starting two supervisors.
  const lock = await updateLock(deployment, name, 0);
  try {
    const [topology, packingPlan, execution, physical, location] = await topologyRecords(deployment, name);
    if (!topology || !packingPlan || !execution)
      throw new ArdeaError(`no topology '${name}' on cluster ${deployment.config.cluster}`, { code: 'topology.not-found' });
    if (location) return;
    progress(`the supervisor of '${name}' is gone; stopping what it left running`);
    await deployment.container.get<Scheduler>(Scheduler).kill(name);
    progress('starting a new supervisor');
    await deployment.container
      .get<Launcher>(Launcher)
      .launch({ topology, packingPlan, packageUri: execution.packageUri, executor: executorSpec(deployment.config, name) });
    const previousVersion = physical?.topologyId === topology.id ? physical.version : 0;
    await deployment.waitUntilRunning(topology, packingPlan, timeoutMs, progress, previousVersion);
  } finally {
    await lock.release();
  }
}

/** `Ardea.updateRuntimeConfig`, documented there. */
export async function updateRuntimeConfig(deployment: Deployment, name: string, changes: readonly RuntimeConfigChange[]): Promise<void> {
  await deployment.callMaster(name, 'POST', '/runtime-config', changes);
}

export async function activateTopology(deployment: Deployment, name: string): Promise<{ state: string; changed: boolean }> {
  return deployment.callMaster(name, 'POST', '/activate');
}

export async function deactivateTopology(deployment: Deployment, name: string): Promise<{ state: string; changed: boolean }> {
  return deployment.callMaster(name, 'POST', '/deactivate');
}

export async function containerStatuses(deployment: Deployment, name: string): Promise<ContainerStatus[]> {
  return (await deployment.requireClient(name)).status();
}

export async function topologyMetrics(
  deployment: Deployment,
  name: string,
  options: { instances?: boolean; windowMs?: number } = {},
): Promise<MetricsView> {
  const query = new URLSearchParams({
    instances: String(options.instances ?? false),
    ...(options.windowMs ? { windowMs: String(options.windowMs) } : {}),
  });
  return deployment.callMaster(name, 'GET', `/metrics?${query}`);
}

/** `Ardea.exceptions`, documented there. */
export function topologyExceptions(deployment: Deployment, name: string): Promise<ExceptionsView> {
  return deployment.callMaster(name, 'GET', '/exceptions');
}

/** `Ardea.metricsTimeline`, documented there. */
export function topologyMetricsTimeline(
  deployment: Deployment,
  name: string,
  options: { instances?: boolean; since?: number } = {},
): Promise<MetricsTimeline> {
  const query = new URLSearchParams({
    instances: String(options.instances ?? false),
    ...(options.since === undefined ? {} : { since: String(options.since) }),
  });
  return deployment.callMaster(name, 'GET', `/metrics/timeline?${query}`);
}

/** `Ardea.runtimeInfo`, documented there. */
export function topologyRuntimeInfo(deployment: Deployment, name: string): Promise<RuntimeInfo> {
  return deployment.callMaster(name, 'GET', '/info');
}

/** `Ardea.containerLog`, documented there. */
export async function containerLog(
  deployment: Deployment,
  name: string,
  containerId: number,
  request: ContainerLogRequest,
): Promise<ContainerLogChunk> {
  return (await deployment.requireClient(name)).log(containerId, request);
}

export async function describeTopology(deployment: Deployment, name: string): Promise<TopologyDescription> {
  const [topology, packingPlan, executionState, physicalPlan, scheduler] = await topologyRecords(deployment, name);
  if (!topology)
    throw new ArdeaError(
      `no topology '${name}' on cluster ${deployment.config.cluster}; 'ardea list ${deployment.config.cluster}' shows the running ones`,
      { code: 'topology.not-found' },
    );
  const { reliability } = runtimeSettingsOf(topology);
  return {
    topology,
    ...(packingPlan ? { packingPlan } : {}),
    ...(executionState ? { executionState } : {}),
    ...(physicalPlan ? { physicalPlan } : {}),
    ...(scheduler ? { scheduler } : {}),
    reliability,
    ...(reliability === 'effectively-once' ? await deliveryOf(deployment, name) : {}),
  };
}

/** The checkpoints and restores the topology master counted; a master that does not answer leaves the rest of a description intact. */
async function deliveryOf(deployment: Deployment, name: string): Promise<Pick<TopologyDescription, 'delivery' | 'deliveryUnavailable'>> {
  try {
    const view = await topologyMetrics(deployment, name);
    return view.delivery
      ? { delivery: view.delivery }
      : { deliveryUnavailable: 'the topology master does not report checkpoints (it runs an older Ardea)' };
  } catch (error) {
    return { deliveryUnavailable: describeError(error) };
  }
}

/** Every record a topology has in the state manager, read at once; any may be missing. */
function topologyRecords(deployment: Deployment, name: string) {
  return Promise.all([
    deployment.state.get('topology', name),
    deployment.state.get('packingPlan', name),
    deployment.state.get('executionState', name),
    deployment.state.get('physicalPlan', name),
    deployment.state.get('scheduler', name),
  ]);
}
