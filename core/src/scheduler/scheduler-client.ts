import { SchedulerError } from '../errors/index.js';
import { JsonHttpClient } from '../http/json-client.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { ContainerLogChunk, ContainerLogRequest, ContainerStatus, ExecutorSpec, Scheduler } from '../spi/scheduler.js';
import type { StateManager } from '../spi/state-manager.js';

/**
 * What the CLI and the health manager do to a running topology's containers. It talks to a
 * service-mode scheduler over HTTP, or runs a library-mode scheduler in this process.
 */
export interface SchedulerClient {
  status(): Promise<ContainerStatus[]>;
  /** Part of one container's log; see `Scheduler.containerLog`. */
  log(containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk>;
  restart(containerId?: number): Promise<void>;
  /** Added containers run the executor the scheduler's side computes from its own cluster config. */
  update(current: PackingPlan, proposed: PackingPlan): Promise<PackingPlan>;
  kill(): Promise<void>;
}

/** Restarts, updates and kills wait for processes to stop and start; a bound still applies. */
const PROCESS_OPERATION_TIMEOUT_MS = 120_000;

export class HttpSchedulerClient implements SchedulerClient {
  private readonly http: JsonHttpClient;

  constructor(endpoint: string, secret: string, topologyName: string) {
    this.http = new JsonHttpClient({
      baseUrl: endpoint,
      bearer: secret,
      target: `the scheduler of '${topologyName}'`,
      error: SchedulerError,
      advice: `its supervisor process may have stopped or hang; see its log in $ARDEA_HOME/logs/<cluster>/${topologyName}-supervisor.log`,
    });
  }

  status(): Promise<ContainerStatus[]> {
    return this.http.get<ContainerStatus[]>('/status');
  }

  log(containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    const query = new URLSearchParams({
      container: String(containerId),
      maxBytes: String(request.maxBytes),
      ...(request.fromOffset === undefined ? {} : { fromOffset: String(request.fromOffset) }),
    });
    return this.http.get<ContainerLogChunk>(`/log?${query}`);
  }

  async restart(containerId?: number): Promise<void> {
    await this.http.post('/restart', containerId === undefined ? {} : { containerId }, { timeoutMs: PROCESS_OPERATION_TIMEOUT_MS });
  }

  /** The service starts added containers with the executor of its own cluster config. */
  update(current: PackingPlan, proposed: PackingPlan): Promise<PackingPlan> {
    return this.http.post<PackingPlan>('/update', { current, proposed }, { timeoutMs: PROCESS_OPERATION_TIMEOUT_MS });
  }

  async kill(): Promise<void> {
    await this.http.post('/kill', {}, { timeoutMs: PROCESS_OPERATION_TIMEOUT_MS });
  }
}

export class LibrarySchedulerClient implements SchedulerClient {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly topologyName: string,
    /** How added containers are started: from this process's cluster config. */
    private readonly executor: ExecutorSpec,
  ) {}

  status(): Promise<ContainerStatus[]> {
    return this.scheduler.status(this.topologyName);
  }

  log(containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    return readContainerLog(this.scheduler, this.topologyName, containerId, request);
  }

  restart(containerId?: number): Promise<void> {
    return this.scheduler.restart(this.topologyName, containerId);
  }

  update(current: PackingPlan, proposed: PackingPlan): Promise<PackingPlan> {
    return this.scheduler.update({ topologyName: this.topologyName, current, proposed, executor: this.executor });
  }

  kill(): Promise<void> {
    return this.scheduler.kill(this.topologyName);
  }
}

/**
 * The client for a topology, chosen by where its scheduler said it can be reached. Resolves to
 * undefined when no scheduler location is stored (a service that is gone, or a half-written submit).
 * `scheduler` and `executor` serve library mode, where this process is the scheduler's side.
 */
export async function openSchedulerClient(
  state: StateManager,
  topologyName: string,
  scheduler: () => Scheduler,
  executor: () => ExecutorSpec,
): Promise<SchedulerClient | undefined> {
  const [location, execution] = await Promise.all([state.get('scheduler', topologyName), state.get('executionState', topologyName)]);
  if (!location) return undefined;
  if (location.mode === 'service') {
    if (!location.endpoint || !execution) return undefined;
    return new HttpSchedulerClient(location.endpoint, execution.secret, topologyName);
  }
  return new LibrarySchedulerClient(scheduler(), topologyName, executor());
}

/** A pool's `containerLog`, or an error saying the pool has none. */
export function readContainerLog(
  scheduler: Scheduler,
  topologyName: string,
  containerId: number,
  request: ContainerLogRequest,
): Promise<ContainerLogChunk> {
  if (!scheduler.containerLog) {
    return Promise.reject(
      new SchedulerError(
        `this pool's scheduler does not serve container logs; the log of container ${containerId} of '${topologyName}' ` +
          "is where the pool's own tools show it (see the pool's page in docs/)",
        { code: 'scheduler.logs-unsupported' },
      ),
    );
  }
  return scheduler.containerLog(topologyName, containerId, request);
}
