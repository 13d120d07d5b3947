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
  environmentFile,
  EXECUTOR_COMPONENT,
  executorResource,
  instanceNameOf,
  launchScript,
  MANAGER_COMPONENT,
  serviceDefinition,
  serviceNameOf,
  type YarnResource,
} from './service-spec.js';
import { TopologyStaging } from './staging.js';
import type { YarnSchedulerConfig } from './yarn-config.js';
import { isServiceNotFound, YarnResponseError, YarnRest, yarnError, type ContainerView, type ServiceView } from './yarn-rest.js';

export interface YarnSchedulerOptions {
  readonly config: YarnSchedulerConfig;
  /** How often waits look at the service again. */
  readonly pollIntervalMs?: number;
}

/** Service states in which the AM no longer runs containers. */
const ENDED_SERVICE_STATES = new Set(['STOPPED', 'FAILED', 'SUCCEEDED']);

/**
 * A library-mode scheduler for YARN, through the Services REST API of the ResourceManager. A topology
 * is one YARN service with two components: `manager` (instance `manager-0` is container 0) and
 * `executor` (instance `executor-<i>` is container i+1). YARN numbers instances densely and flexing a
 * component adds or removes its highest ones, so the pool's container identity is `ordinal`. The
 * service's own AM starts every instance again when its process exits (restart policy ALWAYS).
 *
 * Nothing is kept in memory between calls: the CLI and container 0's health manager both drive the
 * same service. What the Services API does not report (how often an instance was restarted) is kept
 * in the topology's staging directory next to the files its containers localize.
 */
export class YarnScheduler implements Scheduler {
  readonly mode: SchedulerMode = 'library';
  readonly containerIdentity: ContainerIdentity = 'ordinal';

  private readonly config: YarnSchedulerConfig;
  private readonly rest: YarnRest;

  constructor(
    private readonly options: YarnSchedulerOptions,
    private readonly logger: Logger,
  ) {
    this.config = options.config;
    this.rest = new YarnRest({
      resourceManager: this.config.resourceManager,
      user: this.config.user,
      requestTimeoutMs: this.config.requestTimeoutMs,
    });
  }

  async schedule(request: ScheduleRequest): Promise<void> {
    const topologyName = request.topology.name;
    const serviceName = serviceNameOf(topologyName);
    const action = `cannot schedule topology '${topologyName}' on YARN (service ${serviceName} at ${this.config.resourceManager})`;
    const ids = denseContainerIds(request.packingPlan, action);
    const call = <T>(operation: () => Promise<T>, hint?: (error: YarnResponseError) => string | undefined) =>
      this.call(action, operation, hint);
    if (this.config.queue !== undefined) {
      const queues = await call(() => this.rest.queues());
      if (queues.size > 0 && !queues.has(this.config.queue)) {
        throw new SchedulerError(
          `${action}: the ResourceManager has no queue '${this.config.queue}' (its queues: ${[...queues].sort().join(', ')}); ` +
            'set queue in scheduler.yaml to one of them, or leave it out for the default queue',
          { code: 'yarn.unknown-queue' },
        );
      }
    }
    const existing = await call(() => this.rest.findService(serviceName));
    if (existing) {
      throw new SchedulerError(
        `${action}: YARN already has a service named ${serviceName} (state ${existing.state ?? 'unknown'}); ` +
          `kill the topology first ('ardea kill ${topologyName}'), or destroy the service with 'yarn app -destroy ${serviceName}'`,
        { code: 'yarn.exists' },
      );
    }

    const staging = this.staging(serviceName);
    const definition = serviceDefinition({
      serviceName,
      config: this.config,
      executors: ids.length,
      executorSize: executorResource(request.packingPlan),
      staged: staging.files,
    });
    let created = false;
    try {
      await staging.write(launchScript(topologyName, request.executor, this.config), environmentFile(request.executor, this.config));
      try {
        await call(() => this.rest.createService(definition), this.refusalHint(topologyName));
      } finally {
        // A refused service can still leave an application or a saved definition (an unknown queue does).
        created = true;
      }
      await this.waitInstances(action, serviceName, [0, ...ids]);
    } catch (error) {
      if (created) await this.undo(serviceName, error);
      await staging.remove().catch(() => undefined);
      throw error;
    }
    this.logger.info('topology scheduled', { topology: topologyName, service: serviceName, containers: ids.length + 1 });
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    const serviceName = serviceNameOf(topologyName);
    const action = `cannot get the status of topology '${topologyName}' on YARN (service ${serviceName})`;
    const service = await this.readService(action, topologyName, serviceName);
    const staging = this.staging(serviceName);
    const containers = containersOf(service);
    // The ledger only adds restart counts: a staging directory this host cannot write must not hide the states.
    const restarts = await staging.observe(containers).catch((error: unknown) => {
      this.logger.warn('cannot update the instance ledger; restart counts may be low', {
        topology: topologyName,
        directory: staging.files.directory,
        error: String(error),
      });
      return new Map<string, number>();
    });
    const count = executorCount(service);
    const ended = ENDED_SERVICE_STATES.has(service.state ?? '');
    const failure = service.state === 'FAILED' ? await this.failureDiagnostics(service) : undefined;
    return Promise.all(
      Array.from({ length: count + 1 }, async (_, containerId): Promise<ContainerStatus> => {
        const instance = instanceNameOf(containerId);
        const container = containers.find((candidate) => candidate.component_instance_name === instance);
        const host = container?.bare_host ?? container?.hostname;
        const base = {
          containerId,
          restarts: restarts.get(instance) ?? 0,
          ...(container ? { handle: container.id } : {}),
          ...(host ? { host } : {}),
        };
        if (ended) {
          return service.state === 'FAILED'
            ? { ...base, state: 'failed', message: `service ${serviceName} FAILED${failure ? `: ${failure}` : ''}` }
            : { ...base, state: 'stopped', message: `service ${serviceName} is ${service.state}` };
        }
        if (!container) {
          return (await staging.known(instance).catch(() => false))
            ? { ...base, state: 'restarting', message: `instance ${instance} exited; its AM starts it again` }
            : { ...base, state: 'pending', message: `instance ${instance} has no container yet (service ${service.state ?? 'ACCEPTED'})` };
        }
        if (container.state === 'READY') return { ...base, state: 'running' };
        return {
          ...base,
          state: 'pending',
          message: `instance ${instance}: container ${container.id} is ${container.state ?? 'starting'}`,
        };
      }),
    );
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const serviceName = serviceNameOf(topologyName);
    const action =
      `cannot restart ${containerId === undefined ? 'the containers' : `container ${containerId}`} ` +
      `of topology '${topologyName}' on YARN (service ${serviceName})`;
    const service = await this.readService(action, topologyName, serviceName);
    const count = executorCount(service);
    if (containerId !== undefined && (!Number.isInteger(containerId) || containerId < 0 || containerId > count)) {
      throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are 0..${count}`);
    }
    const staging = this.staging(serviceName);
    const containers = containersOf(service);
    await staging.observe(containers);
    const targets = containers.filter((container) => {
      const id = containerIdOf(container.component_instance_name);
      return id !== undefined && (containerId === undefined || id === containerId);
    });
    // The instance's AM starts it again under the same name (restart policy ALWAYS); nothing else moves.
    for (const container of targets) {
      await staging.killingOnRequest(container.component_instance_name!, container.id);
      try {
        await this.call(action, () => this.rest.killContainer(container.id));
      } catch (error) {
        // Gone already (it exited between the read and the signal): its AM is starting it again anyway.
        if (!(error instanceof SchedulerError && error.cause instanceof YarnResponseError && error.cause.status === 404)) throw error;
      }
    }
    this.logger.info(containerId === undefined ? 'containers restarted' : 'container restarted', {
      topology: topologyName,
      service: serviceName,
      containers: targets.map((container) => container.component_instance_name),
    });
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const topologyName = request.topologyName;
    const serviceName = serviceNameOf(topologyName);
    const action = `cannot update topology '${topologyName}' on YARN (service ${serviceName})`;
    const service = await this.readService(action, topologyName, serviceName);
    const count = executorCount(service);
    const changes = planContainerChanges(
      request,
      Array.from({ length: count + 1 }, (_, id) => id),
      { ordinal: true },
    );
    const size = componentSize(service) ?? executorResource(request.current);
    const wanted = request.proposed.containers.length;
    const staging = this.staging(serviceName);

    if (changes.added.length > 0) {
      const needed = executorResource({ containers: changes.added });
      if (needed.cpus > size.cpus || needed.memoryMb > size.memoryMb) {
        throw new SchedulerError(
          `${action}: the added containers need ${needed.cpus} vcores and ${needed.memoryMb} MB, but every instance of ` +
            `component ${EXECUTOR_COMPONENT} has ${size.cpus} vcores and ${size.memoryMb} MB, and YARN cannot resize a ` +
            "running component's instances; scale with containers of the size the topology started with, or resubmit it",
          { code: 'yarn.resize' },
        );
      }
      try {
        // Added instances start with this executor; running ones already localized theirs.
        await staging.write(launchScript(topologyName, request.executor, this.config), environmentFile(request.executor, this.config));
        await this.call(action, () => this.rest.flexComponent(serviceName, EXECUTOR_COMPONENT, wanted));
        await this.waitInstances(
          action,
          serviceName,
          changes.added.map((container) => container.id),
        );
      } catch (error) {
        await this.call(action, () => this.rest.flexComponent(serviceName, EXECUTOR_COMPONENT, count)).catch((undo: unknown) =>
          this.logger.warn('could not flex back after a failed update', { topology: topologyName, error: String(undo) }),
        );
        throw error;
      }
    } else if (changes.removed.length > 0) {
      const gone = new Set(changes.removed.map(instanceNameOf));
      const leaving = containersOf(service).filter((container) => gone.has(container.component_instance_name ?? ''));
      const nodes = service.id ? await this.call(action, () => this.rest.liveContainers(service.id!)) : new Map<string, string>();
      await this.call(action, () => this.rest.flexComponent(serviceName, EXECUTOR_COMPONENT, wanted));
      // The AM drops an instance from the service at once, and the RM its container; its processes
      // are gone when its NodeManager says the container is done.
      await this.waitUntil(action, serviceName, 'the removed containers to stop', 'kill', async () => {
        const listed = new Set(containersOf(await this.readService(action, topologyName, serviceName)).map((container) => container.id));
        const left: string[] = [];
        for (const container of leaving) {
          const running = listed.has(container.id) || (await this.rest.runsAtNodeManager(nodes.get(container.id) ?? '', container.id));
          if (running) left.push(`${container.component_instance_name} (${container.id})`);
        }
        return left;
      });
      await staging.forget([...gone]);
    }
    this.logger.info('topology updated', {
      topology: topologyName,
      service: serviceName,
      added: changes.added.map((container) => container.id),
      removed: changes.removed,
      executors: wanted,
    });
    const granted = asResources(size);
    return {
      ...request.proposed,
      containers: request.proposed.containers.map((container): ContainerPlan => ({ ...container, scheduled: granted })),
    };
  }

  async kill(topologyName: string): Promise<void> {
    const serviceName = serviceNameOf(topologyName);
    const action = `cannot kill topology '${topologyName}' on YARN (service ${serviceName} at ${this.config.resourceManager})`;
    await this.destroy(action, serviceName);
    await this.staging(serviceName).remove();
    this.logger.info('topology killed', { topology: topologyName, service: serviceName });
  }

  async jobLinks(topologyName: string): Promise<string[]> {
    const serviceName = serviceNameOf(topologyName);
    const links = [`${this.rest.baseUrl}/app/v1/services/${serviceName}?user.name=${encodeURIComponent(this.config.user)}`];
    const service = await this.rest.findService(serviceName).catch(() => undefined);
    if (service?.id) links.unshift(`${this.rest.baseUrl}/cluster/app/${service.id}`);
    return links;
  }

  /**
   * Reads the log of the container's current YARN container (`stdout.txt`, which has its stderr too,
   * see `launchScript`) from its NodeManager's REST API. That API reads the last or the first bytes of
   * a file, not bytes at an offset, so a follower's read takes the end of the file from its offset on
   * when that is no more than `maxBytes`, and otherwise the file's start up to the end of the range
   * (more to transfer, only when a follower has fallen behind). A restarted instance is a new YARN
   * container with a new log, which the chunk's `source` names.
   */
  async containerLog(topologyName: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    const serviceName = serviceNameOf(topologyName);
    const action = `cannot read the log of container ${containerId} of topology '${topologyName}' on YARN (service ${serviceName})`;
    const service = await this.readService(action, topologyName, serviceName);
    const count = executorCount(service);
    if (!Number.isInteger(containerId) || containerId < 0 || containerId > count) {
      throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are 0..${count}`);
    }
    const instance = instanceNameOf(containerId);
    const container = containersOf(service).find((candidate) => candidate.component_instance_name === instance);
    const empty = (source: string) => decodeLogChunk(containerId, new Uint8Array(0), 0, request, source);
    if (!container) return empty(`instance ${instance} has no YARN container yet`);
    const nodeManager = service.id ? (await this.call(action, () => this.rest.liveContainers(service.id!))).get(container.id) : undefined;
    if (!nodeManager) return empty(`YARN container ${container.id} of ${instance} is not allocated (any more)`);
    const source = `${nodeManager}: YARN container ${container.id}: ${LOG_FILE}`;
    const read = async (size: number) => {
      try {
        return await this.rest.containerLogFile(nodeManager, container.id, LOG_FILE, size);
      } catch (error) {
        throw new SchedulerError(`${action}: the NodeManager at ${nodeManager}: ${(error as Error).message}`, {
          cause: error,
          code: 'yarn.node-manager',
        });
      }
    };

    if (request.fromOffset === undefined) {
      const tail = await read(-request.maxBytes);
      if (!tail) return empty(source);
      return decodeLogChunk(containerId, tail.bytes, tail.length - tail.bytes.length, request, source);
    }
    const from = request.fromOffset;
    // A read of no bytes still tells the file's length.
    let known = (await read(0))?.length;
    if (known === undefined) return empty(source);
    // The end of the file from the offset on; again with the new length when it grew in between.
    for (let attempt = 0; attempt < 3 && from < known && known - from <= request.maxBytes; attempt++) {
      const rest = await read(-(known - from));
      if (!rest) return empty(source);
      if (rest.length - rest.bytes.length === from) return decodeLogChunk(containerId, rest.bytes, from, request, source);
      known = rest.length;
    }
    const { start, length } = logByteRange(known, request);
    if (length === 0) return decodeLogChunk(containerId, new Uint8Array(0), start, request, source);
    const head = await read(start + length);
    return decodeLogChunk(containerId, (head?.bytes ?? Buffer.alloc(0)).subarray(start, start + length), start, request, source);
  }

  /** No connections or timers outlive a call; the service keeps running, as a library-mode pool's must. */
  async close(): Promise<void> {}

  private staging(serviceName: string): TopologyStaging {
    return new TopologyStaging(this.config.stagingDirectory, this.config.user, serviceName);
  }

  private async call<T>(action: string, operation: () => Promise<T>, hint?: (error: YarnResponseError) => string | undefined): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw yarnError(error, action, this.config.resourceManager, hint);
    }
  }

  private refusalHint(topologyName: string): (error: YarnResponseError) => string | undefined {
    return (error) => {
      if (/must not be same as service name/.test(error.diagnostics)) {
        return (
          `rename the topology: '${topologyName}' names its YARN service after it, ` +
          `and its components are '${MANAGER_COMPONENT}' and '${EXECUTOR_COMPONENT}'`
        );
      }
      if (/larger than configured max container/.test(error.diagnostics)) {
        return (
          'give the containers fewer resources (packing.yaml, or container0 in scheduler.yaml), ' +
          'or raise yarn.scheduler.maximum-allocation-mb and -vcores on the ResourceManager'
        );
      }
      if (/queue/i.test(error.diagnostics)) return 'set queue in scheduler.yaml to a queue the ResourceManager has';
      return undefined;
    };
  }

  private async readService(action: string, topologyName: string, serviceName: string): Promise<ServiceView> {
    try {
      return await this.rest.getService(serviceName);
    } catch (error) {
      if (isServiceNotFound(error)) {
        throw new SchedulerError(
          `${action}: it is not scheduled there (the ResourceManager has no service ${serviceName} of user ${this.config.user}); ` +
            `'ardea submit' starts it`,
          { cause: error, code: 'yarn.not-scheduled' },
        );
      }
      throw yarnError(error, action, this.config.resourceManager);
    }
  }

  /**
   * Waits until every instance of `containerIds` has a container: YARN allocated it and the
   * NodeManager launched it. A service that fails meanwhile fails the wait with YARN's diagnostics.
   */
  private async waitInstances(action: string, serviceName: string, containerIds: readonly number[]): Promise<void> {
    const wanted = containerIds.map(instanceNameOf);
    const staging = this.staging(serviceName);
    await this.waitUntil(action, serviceName, 'every container to be allocated and launched', 'submit', async () => {
      const service = await this.call(action, () => this.rest.getService(serviceName));
      if (ENDED_SERVICE_STATES.has(service.state ?? '')) {
        const why = await this.failureDiagnostics(service);
        throw new SchedulerError(`${action}: the service ended in state ${service.state}${why ? `: ${why}` : ''}`, {
          code: 'yarn.service-failed',
        });
      }
      const containers = containersOf(service);
      await staging.observe(containers);
      const running = new Set(containers.map((container) => container.component_instance_name));
      return wanted.filter((instance) => !running.has(instance)).map((instance) => `${instance} (service ${service.state ?? 'ACCEPTED'})`);
    });
  }

  /** Stops and destroys the service, then waits until YARN runs no application of that name. */
  private async destroy(action: string, serviceName: string): Promise<void> {
    const service = await this.call(action, () => this.rest.findService(serviceName));
    const containers = service?.id ? await this.rest.liveContainers(service.id).catch(() => new Map<string, string>()) : new Map();
    if (service) {
      try {
        await this.rest.stopService(serviceName);
      } catch (error) {
        // Already stopped (400), or gone meanwhile (404): destroying is what is left to do.
        if (!(error instanceof YarnResponseError && (error.status === 400 || error.status === 404))) {
          throw yarnError(error, action, this.config.resourceManager);
        }
      }
      await this.waitUntil(action, serviceName, 'the service to be destroyed', 'kill', async () => {
        try {
          await this.rest.destroyService(serviceName);
          return [];
        } catch (error) {
          if (error instanceof YarnResponseError && (error.status === 404 || /doesn't exist|not found/i.test(error.diagnostics))) return [];
          // The registry cleanup can fail while ZooKeeper sessions settle; destroying again finishes it.
          if (error instanceof YarnResponseError && error.status >= 500) return [`service ${serviceName} (${error.diagnostics})`];
          throw yarnError(error, action, this.config.resourceManager);
        }
      });
    }
    await this.waitUntil(action, serviceName, 'its applications and containers to end', 'kill', async () => {
      const live = await this.call(action, () => this.rest.liveApplications(serviceName));
      const left = live.map((app) => `application ${app.id} (${app.state})`);
      for (const [container, node] of containers) {
        if (await this.rest.runsAtNodeManager(node, container)) left.push(`container ${container} at ${node}`);
      }
      return left;
    });
  }

  /** Takes back a service a failed schedule created. */
  private async undo(serviceName: string, failure: unknown): Promise<void> {
    try {
      await this.destroy(`cannot remove service ${serviceName} after a failed schedule`, serviceName);
    } catch (error) {
      this.logger.warn('could not remove the service of a failed schedule', {
        service: serviceName,
        error: (error as Error).message,
        failure: String(failure),
      });
    }
  }

  /** Why a service failed, from its application's diagnostics. */
  private async failureDiagnostics(service: ServiceView): Promise<string | undefined> {
    if (!service.id) return undefined;
    const app = await this.rest.application(service.id).catch(() => undefined);
    return app?.diagnostics?.trim().split('\n')[0] || undefined;
  }

  /** Polls `pending` (what is still not done) until it is empty, within the submit or kill timeout. */
  private async waitUntil(
    action: string,
    serviceName: string,
    what: string,
    timeout: 'submit' | 'kill',
    pending: () => Promise<string[]>,
  ): Promise<void> {
    const timeoutMs = timeout === 'submit' ? this.config.submitTimeoutMs : this.config.killTimeoutMs;
    await pollUntilDone(pending, {
      timeoutMs,
      intervalMs: this.options.pollIntervalMs ?? 500,
      timedOut: (left) =>
        new SchedulerError(
          `${action}: gave up waiting ${timeoutMs} ms for ${what}: ${left.join(', ')}; ` +
            `'yarn app -status ${serviceName}' and the ResourceManager's page of the application say why; ` +
            `raise scheduler.${timeout === 'submit' ? 'submitTimeoutMs' : 'killTimeoutMs'} if the cluster is only busy`,
          { code: 'yarn.timeout' },
        ),
    });
  }
}

function containersOf(service: ServiceView): ContainerView[] {
  return (service.components ?? []).flatMap((component) => component.containers ?? []);
}

/** The file the executor's output goes to in a YARN container's log directory. */
const LOG_FILE = 'stdout.txt';

function executorCount(service: ServiceView): number {
  return service.components?.find((component) => component.name === EXECUTOR_COMPONENT)?.number_of_containers ?? 0;
}

function componentSize(service: ServiceView): YarnResource | undefined {
  const resource = (
    service.components?.find((component) => component.name === EXECUTOR_COMPONENT) as { resource?: { cpus?: number; memory?: string } }
  )?.resource;
  if (resource?.cpus === undefined || resource.memory === undefined) return undefined;
  return { cpus: resource.cpus, memoryMb: Number(resource.memory) };
}
