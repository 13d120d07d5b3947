import {
  decodeLogChunk,
  denseContainerIds,
  logByteRange,
  planContainerChanges,
  pollUntilDone,
  SchedulerError,
  type ContainerIdentity,
  type ContainerLogChunk,
  type ContainerLogRequest,
  type ContainerPlan,
  type ContainerStatus,
  type Logger,
  type PackingPlan,
  type Scheduler,
  type SchedulerMode,
  type ScheduleRequest,
  type UpdateRequest,
} from '@ardea/core/plugin';
import {
  asResources,
  containerIdOf,
  ENVIRONMENT_ITEM,
  environmentScript,
  EXECUTOR_GROUP,
  executorResources,
  jobDefinition,
  jobIdOf,
  TASK,
  taskScript,
  variablePathOf,
  type NomadResources,
} from './job-spec.js';
import { NomadApi, nomadError, type Allocation, type AllocationFile, type AllocationMetric, type JobView } from './nomad-api.js';

export type { Allocation } from './nomad-api.js';
import type { NomadSchedulerConfig } from './nomad-config.js';

export interface NomadSchedulerOptions {
  readonly config: NomadSchedulerConfig;
  /** The ACL token, resolved from `token`, `tokenFile` or NOMAD_TOKEN. */
  readonly token?: string;
  /** How often waits look at the allocations again. */
  readonly pollIntervalMs?: number;
}

/** Client statuses after which an allocation runs nothing any more. */
const TERMINAL = new Set(['complete', 'failed', 'lost']);

/**
 * A library-mode scheduler for Nomad. A topology is one service job with two task groups: `manager`
 * (allocation index 0 is container 0) and `executors` (index i is container i+1). Nomad fills the
 * lowest free indexes and scales down from the highest, so the pool's container identity is
 * `ordinal`. The executor's environment is a Nomad variable under `nomad/jobs/<job>`, which only the
 * job's tasks (and the token's holder) can read; a template renders it into each task's secrets.
 *
 * Nothing is kept between calls: the CLI and container 0's health manager both drive the same job.
 */
export class NomadScheduler implements Scheduler {
  readonly mode: SchedulerMode = 'library';
  readonly containerIdentity: ContainerIdentity = 'ordinal';

  private readonly config: NomadSchedulerConfig;
  private readonly api: NomadApi;

  constructor(
    private readonly options: NomadSchedulerOptions,
    private readonly logger: Logger,
  ) {
    this.config = options.config;
    this.api = new NomadApi({
      address: this.config.address,
      token: options.token,
      region: this.config.region,
      namespace: this.config.namespace,
      requestTimeoutMs: this.config.requestTimeoutMs,
    });
  }

  async schedule(request: ScheduleRequest): Promise<void> {
    const topologyName = request.topology.name;
    const jobId = jobIdOf(topologyName);
    const action = `cannot schedule topology '${topologyName}' on Nomad (job ${jobId} in namespace ${this.config.namespace})`;
    const ids = denseContainerIds(request.packingPlan, action);
    const call = <T>(operation: () => Promise<T>) => this.call(action, operation);
    const existing = await call(() => this.api.job(jobId));
    if (existing && !existing.Stop) {
      throw new SchedulerError(
        `${action}: Nomad already runs a job ${jobId} (status ${existing.Status ?? 'unknown'}); ` +
          `kill the topology first ('ardea kill ${topologyName}'), or stop the job with 'nomad job stop -purge ${jobId}'`,
        { code: 'nomad.exists' },
      );
    }
    const job = jobDefinition({
      jobId,
      topologyName,
      topologyId: request.topology.id,
      config: this.config,
      executors: ids.length,
      executorSize: executorResources(request.packingPlan, this.config.cpuMhzPerCore),
      executor: request.executor,
    });
    const environment = environmentScript(request.executor, this.config, this.options.token);
    let registered = false;
    try {
      await call(() => this.api.putVariable(variablePathOf(jobId), { [ENVIRONMENT_ITEM]: environment }));
      const { EvalID } = await call(() => this.api.register(job));
      registered = true;
      await this.waitPlaced(action, jobId, EvalID, [0, ...ids]);
    } catch (error) {
      await this.undo(jobId, registered, error);
      throw error;
    }
    this.logger.info('topology scheduled', { topology: topologyName, job: jobId, containers: ids.length + 1 });
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    const jobId = jobIdOf(topologyName);
    const action = `cannot get the status of topology '${topologyName}' on Nomad (job ${jobId})`;
    const job = await this.readJob(action, topologyName, jobId);
    const allocations = await this.call(action, () => this.api.allocations(jobId));
    return Array.from({ length: executorCount(job) + 1 }, (_, containerId) => containerStatus(jobId, containerId, allocations));
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const jobId = jobIdOf(topologyName);
    const action =
      `cannot restart ${containerId === undefined ? 'the containers' : `container ${containerId}`} ` +
      `of topology '${topologyName}' on Nomad (job ${jobId})`;
    const job = await this.readJob(action, topologyName, jobId);
    const count = executorCount(job);
    if (containerId !== undefined && (!Number.isInteger(containerId) || containerId < 0 || containerId > count)) {
      throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are 0..${count}`);
    }
    const current = currentAllocations(jobId, await this.call(action, () => this.api.allocations(jobId)));
    const targets = [...current.entries()].filter(([id]) => containerId === undefined || id === containerId);
    // Nomad places a replacement under the same name and index: only these containers move.
    for (const [, allocation] of targets) await this.call(action, () => this.api.stopAllocation(allocation.ID));
    this.logger.info(containerId === undefined ? 'containers restarted' : 'container restarted', {
      topology: topologyName,
      job: jobId,
      allocations: targets.map(([, allocation]) => allocation.Name),
    });
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const topologyName = request.topologyName;
    const jobId = jobIdOf(topologyName);
    const action = `cannot update topology '${topologyName}' on Nomad (job ${jobId})`;
    const job = await this.readJob(action, topologyName, jobId);
    const count = executorCount(job);
    const changes = planContainerChanges(
      request,
      Array.from({ length: count + 1 }, (_, id) => id),
      { ordinal: true },
    );
    const size = groupResources(job) ?? executorResources(request.current, this.config.cpuMhzPerCore);
    const wanted = request.proposed.containers.length;
    const call = <T>(operation: () => Promise<T>) => this.call(action, operation);

    if (changes.added.length > 0) {
      const needed = executorResources({ containers: changes.added }, this.config.cpuMhzPerCore);
      if (needed.cpuMhz > size.cpuMhz || needed.memoryMb > size.memoryMb) {
        throw new SchedulerError(
          `${action}: the added containers need ${needed.cpuMhz} MHz and ${needed.memoryMb} MB, but every allocation of group ` +
            `${EXECUTOR_GROUP} has ${size.cpuMhz} MHz and ${size.memoryMb} MB, and a new size would replace every running ` +
            'allocation; scale with containers of the size the topology started with, or resubmit it',
          { code: 'nomad.resize' },
        );
      }
      const running = groupScript(job);
      if (running !== undefined && running !== taskScript(request.executor, 1)) {
        throw new SchedulerError(
          `${action}: the executor command changed since the topology was submitted, and changing it would replace every ` +
            'running allocation; resubmit the topology to change it',
          { code: 'nomad.command-changed' },
        );
      }
      // Added allocations render the environment from the variable when they start; running ones keep theirs.
      const environment = environmentScript(request.executor, this.config, this.options.token);
      await call(() => this.api.putVariable(variablePathOf(jobId), { [ENVIRONMENT_ITEM]: environment }));
      try {
        const { EvalID } = await call(() =>
          this.api.scale(jobId, EXECUTOR_GROUP, wanted, `ardea: scale ${topologyName} to ${wanted} executors`),
        );
        await this.waitPlaced(
          action,
          jobId,
          EvalID,
          changes.added.map((container) => container.id),
        );
      } catch (error) {
        await call(() => this.api.scale(jobId, EXECUTOR_GROUP, count, `ardea: undo a failed scale of ${topologyName}`)).catch(
          (undo: unknown) =>
            this.logger.warn('could not scale back after a failed update', { topology: topologyName, error: String(undo) }),
        );
        throw error;
      }
    } else if (changes.removed.length > 0) {
      const gone = new Set(changes.removed);
      const leaving = [...currentAllocations(jobId, await call(() => this.api.allocations(jobId))).entries()]
        .filter(([id]) => gone.has(id))
        .map(([, allocation]) => allocation.ID);
      await call(() => this.api.scale(jobId, EXECUTOR_GROUP, wanted, `ardea: scale ${topologyName} to ${wanted} executors`));
      await this.waitUntil(action, jobId, 'the removed allocations to stop', 'kill', async () => {
        const allocations = await call(() => this.api.allocations(jobId));
        return allocations
          .filter((allocation) => leaving.includes(allocation.ID) && !TERMINAL.has(allocation.ClientStatus))
          .map((allocation) => `${allocation.Name} (${allocation.ClientStatus})`);
      });
    }
    this.logger.info('topology updated', {
      topology: topologyName,
      job: jobId,
      added: changes.added.map((container) => container.id),
      removed: changes.removed,
      executors: wanted,
    });
    const granted = asResources(size, this.config.cpuMhzPerCore);
    return {
      ...request.proposed,
      containers: request.proposed.containers.map((container): ContainerPlan => ({ ...container, scheduled: granted })),
    };
  }

  async kill(topologyName: string): Promise<void> {
    const jobId = jobIdOf(topologyName);
    const action = `cannot kill topology '${topologyName}' on Nomad (job ${jobId} in namespace ${this.config.namespace})`;
    await this.destroy(action, jobId);
    this.logger.info('topology killed', { topology: topologyName, job: jobId });
  }

  async jobLinks(topologyName: string): Promise<string[]> {
    const ui = (this.config.uiAddress ?? this.config.address).replace(/\/+$/, '');
    const jobId = jobIdOf(topologyName);
    return [
      `${ui}/ui/jobs/${encodeURIComponent(jobId)}@${encodeURIComponent(this.config.namespace)}`,
      `${this.api.baseUrl}/v1/job/${encodeURIComponent(jobId)}?namespace=${encodeURIComponent(this.config.namespace)}`,
    ];
  }

  /**
   * Reads the container's log from its current allocation's directory through Nomad's allocation
   * file system API (`/v1/client/fs`, which needs the `read-fs` capability): the task's stdout, which
   * has its stderr too (see `taskScript`). Nomad rotates that file (`executor.stdout.0`, `.1`, …, by
   * the task's `logs` settings) and only the newest is read, so offsets count from the start of the
   * newest file: after a rotation, or in the new allocation of a restarted container, the log is
   * shorter than a follower's offset and is read from its start again.
   */
  async containerLog(topologyName: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    const jobId = jobIdOf(topologyName);
    const action = `cannot read the log of container ${containerId} of topology '${topologyName}' on Nomad (job ${jobId})`;
    const job = await this.readJob(action, topologyName, jobId);
    const count = executorCount(job);
    if (!Number.isInteger(containerId) || containerId < 0 || containerId > count) {
      throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are 0..${count}`);
    }
    const allocation = currentAllocations(jobId, await this.call(action, () => this.api.allocations(jobId))).get(containerId);
    const empty = (source: string) => decodeLogChunk(containerId, new Uint8Array(0), 0, request, source);
    if (!allocation) return empty(`container ${containerId} has no allocation yet`);
    const files = await this.call(action, () => this.api.allocationFiles(allocation.ID, LOG_DIRECTORY)).catch((error: unknown) => {
      // An allocation whose task has not started yet has no log directory.
      if (error instanceof SchedulerError && error.code === 'nomad.http-404') return [];
      throw error;
    });
    const newest = newestLogFile(files);
    const where = (file: string) => `allocation ${allocation.ID} (${allocation.Name}): ${LOG_DIRECTORY}/${file}`;
    if (!newest) return empty(where(`${TASK}.stdout.0`));
    const path = `${LOG_DIRECTORY}/${newest.Name}`;
    const { start, length } = logByteRange(newest.Size, request);
    const bytes =
      length > 0 ? await this.call(action, () => this.api.readAllocationFile(allocation.ID, path, start, length)) : Buffer.alloc(0);
    return decodeLogChunk(containerId, bytes, start, request, where(newest.Name));
  }

  /** No connections or timers outlive a call; the job keeps running, as a library-mode pool's must. */
  async close(): Promise<void> {}

  private async call<T>(action: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw nomadError(error, action, this.config.address);
    }
  }

  private async readJob(action: string, topologyName: string, jobId: string): Promise<JobView> {
    const job = await this.call(action, () => this.api.job(jobId));
    if (!job || job.Stop) {
      throw new SchedulerError(
        `${action}: it is not scheduled there (Nomad has no running job ${jobId} in namespace ${this.config.namespace}); ` +
          `'ardea submit' starts it`,
        { code: 'nomad.not-scheduled' },
      );
    }
    return job;
  }

  /**
   * Waits until Nomad has placed an allocation for each of `containerIds`. A placement Nomad could
   * not make (no node in the datacenters, not enough CPU or memory, a driver no node has) fails the
   * wait at once with what the evaluation says, instead of leaving the topology queued.
   */
  private async waitPlaced(action: string, jobId: string, evalId: string, containerIds: readonly number[]): Promise<void> {
    await this.waitUntil(action, jobId, 'every container to be placed', 'submit', async () => {
      const evaluation = evalId ? await this.call(action, () => this.api.evaluation(evalId)) : undefined;
      const failed = Object.entries(evaluation?.FailedTGAllocs ?? {});
      if (failed.length > 0) {
        throw new SchedulerError(
          `${action}: Nomad could not place ` +
            failed.map(([group, metric]) => `group ${group}: ${describePlacementFailure(metric)}`).join('; ') +
            '; ' +
            'give the containers fewer resources (packing.yaml, or container0 in scheduler.yaml), check datacenters and driver in ' +
            'scheduler.yaml, or add client nodes that fit',
          { code: 'nomad.placement-failed' },
        );
      }
      if (evaluation?.Status === 'failed' || evaluation?.Status === 'canceled') {
        throw new SchedulerError(`${action}: evaluation ${evalId} ${evaluation.Status}: ${evaluation.StatusDescription ?? ''}`, {
          code: 'nomad.evaluation-failed',
        });
      }
      const current = currentAllocations(jobId, await this.call(action, () => this.api.allocations(jobId)));
      return containerIds.filter((id) => !current.has(id)).map((id) => `container ${id}`);
    });
  }

  /** Purges the job and its variable, then waits until none of its allocations runs. */
  private async destroy(action: string, jobId: string): Promise<void> {
    const allocations = await this.call(action, () => this.api.allocations(jobId));
    await this.call(action, () => this.api.deregister(jobId));
    await this.call(action, () => this.api.deleteVariable(variablePathOf(jobId)));
    // After a purge the job's allocations can no longer be listed by job; each is read by its id.
    const live = allocations.filter((allocation) => !TERMINAL.has(allocation.ClientStatus)).map((allocation) => allocation.ID);
    await this.waitUntil(action, jobId, 'its allocations to stop', 'kill', async () => {
      const left: string[] = [];
      for (const id of live) {
        const status = await this.call(action, () => this.api.allocation(id));
        if (status && !TERMINAL.has(status.ClientStatus)) left.push(`${status.Name} (${status.ClientStatus})`);
      }
      return left;
    });
  }

  private async undo(jobId: string, registered: boolean, failure: unknown): Promise<void> {
    try {
      if (registered) await this.destroy(`cannot remove job ${jobId} after a failed schedule`, jobId);
      else await this.api.deleteVariable(variablePathOf(jobId));
    } catch (error) {
      this.logger.warn('could not remove what a failed schedule created', {
        job: jobId,
        error: (error as Error).message,
        failure: String(failure),
      });
    }
  }

  private async waitUntil(action: string, jobId: string, what: string, timeout: 'submit' | 'kill', pending: () => Promise<string[]>) {
    const timeoutMs = timeout === 'submit' ? this.config.submitTimeoutMs : this.config.killTimeoutMs;
    await pollUntilDone(pending, {
      timeoutMs,
      intervalMs: this.options.pollIntervalMs ?? 250,
      timedOut: (left) =>
        new SchedulerError(
          `${action}: gave up waiting ${timeoutMs} ms for ${what}: ${left.join(', ')}; ` +
            `'nomad job status -namespace ${this.config.namespace} ${jobId}' says why; ` +
            `raise scheduler.${timeout === 'submit' ? 'submitTimeoutMs' : 'killTimeoutMs'} if the cluster is only busy`,
          { code: 'nomad.timeout' },
        ),
    });
  }
}

function executorCount(job: JobView): number {
  return job.TaskGroups?.find((group) => group.Name === EXECUTOR_GROUP)?.Count ?? 0;
}

function executorTask(job: JobView): { Config?: { args?: string[] }; Resources?: { CPU?: number; MemoryMB?: number } } | undefined {
  const group = job.TaskGroups?.find((candidate) => candidate.Name === EXECUTOR_GROUP) as { Tasks?: unknown[] } | undefined;
  return (group?.Tasks as Array<{ Name?: string }> | undefined)?.find((task) => task.Name === TASK) as ReturnType<typeof executorTask>;
}

function groupResources(job: JobView): NomadResources | undefined {
  const resources = executorTask(job)?.Resources;
  if (resources?.CPU === undefined || resources.MemoryMB === undefined) return undefined;
  return { cpuMhz: resources.CPU, memoryMb: resources.MemoryMB };
}

function groupScript(job: JobView): string | undefined {
  return executorTask(job)?.Config?.args?.[1];
}

/** The allocation Nomad means to run for each container: the newest one whose desired status is `run`. */
/** Where Nomad keeps the logs of an allocation's tasks, relative to its directory. */
const LOG_DIRECTORY = 'alloc/logs';

/** The file Nomad writes the executor task's stdout to now: the highest of `<task>.stdout.<n>`. */
export function newestLogFile(files: readonly AllocationFile[]): AllocationFile | undefined {
  let newest: { file: AllocationFile; index: number } | undefined;
  for (const file of files) {
    const match = /^(.+)\.stdout\.(\d+)$/.exec(file.Name);
    if (file.IsDir || match?.[1] !== TASK) continue;
    const index = Number(match[2]);
    if (!newest || index > newest.index) newest = { file, index };
  }
  return newest?.file;
}

export function currentAllocations(jobId: string, allocations: readonly Allocation[]): Map<number, Allocation> {
  const current = new Map<number, Allocation>();
  for (const allocation of allocations) {
    const id = containerIdOf(jobId, allocation.Name);
    if (id === undefined || allocation.DesiredStatus !== 'run') continue;
    const seen = current.get(id);
    if (!seen || allocation.CreateIndex > seen.CreateIndex) current.set(id, allocation);
  }
  return current;
}

/** A container's state as the Scheduler SPI reports it, from its allocations. */
export function containerStatus(jobId: string, containerId: number, allocations: readonly Allocation[]): ContainerStatus {
  const current = currentAllocations(jobId, allocations).get(containerId);
  // Allocations Nomad replaced on its own (failed or lost, not stopped by a restart) count as restarts too.
  const replaced = allocations.filter(
    (allocation) =>
      containerIdOf(jobId, allocation.Name) === containerId &&
      allocation !== current &&
      (allocation.ClientStatus === 'failed' || allocation.ClientStatus === 'lost'),
  ).length;
  if (!current) return { containerId, state: 'pending', restarts: replaced, message: 'no allocation is placed yet' };
  const task = current.TaskStates?.[TASK];
  const base = {
    containerId,
    handle: current.ID,
    restarts: replaced + (task?.Restarts ?? 0),
    ...(current.NodeName ? { host: current.NodeName } : {}),
  };
  if (current.ClientStatus === 'running' && task?.State === 'running') return { ...base, state: 'running' };
  if (current.ClientStatus === 'failed' || current.ClientStatus === 'lost') {
    return { ...base, state: 'restarting', message: `allocation ${current.Name} is ${current.ClientStatus}; Nomad places it again` };
  }
  if (task?.State === 'dead' || (task?.Restarts ?? 0) > 0) {
    const last = task?.Events?.at(-1);
    return {
      ...base,
      state: 'restarting',
      message: `allocation ${current.Name}: ${last ? [last.Type, last.DisplayMessage].filter(Boolean).join(': ') : 'restarting'}`,
    };
  }
  return { ...base, state: 'pending', message: `allocation ${current.Name} is ${current.ClientStatus}` };
}

function describePlacementFailure(metric: AllocationMetric): string {
  const parts: string[] = [];
  if (metric.NodesEvaluated === 0) parts.push("no client node is in the job's datacenters");
  for (const [dimension, nodes] of Object.entries(metric.DimensionExhausted ?? {}))
    parts.push(`${dimension} exhausted on ${nodes} node(s)`);
  for (const [constraint, nodes] of Object.entries(metric.ConstraintFiltered ?? {})) parts.push(`${constraint} on ${nodes} node(s)`);
  for (const [nodeClass, nodes] of Object.entries(metric.ClassFiltered ?? {})) parts.push(`class ${nodeClass} filtered ${nodes} node(s)`);
  return parts.join(', ') || `${metric.NodesEvaluated ?? 0} node(s) evaluated, ${metric.NodesExhausted ?? 0} exhausted`;
}
