import { SchedulerError, describeError } from '../errors/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { ContainerStatus, ExecutorSpec, Scheduler } from '../spi/scheduler.js';
import type { StateManager } from '../spi/state-manager.js';

/**
 * What the CLI and the health manager do to a running topology's containers. It talks to a
 * service-mode scheduler over HTTP, or runs a library-mode scheduler in this process.
 */
export interface SchedulerClient {
  status(): Promise<ContainerStatus[]>;
  restart(containerId?: number): Promise<void>;
  update(current: PackingPlan, proposed: PackingPlan, executor: ExecutorSpec): Promise<PackingPlan>;
  kill(): Promise<void>;
}

export class HttpSchedulerClient implements SchedulerClient {
  constructor(
    private readonly endpoint: string,
    private readonly secret: string,
    private readonly topologyName: string,
  ) {}

  status(): Promise<ContainerStatus[]> {
    return this.call<ContainerStatus[]>('GET', '/status');
  }

  async restart(containerId?: number): Promise<void> {
    await this.call('POST', '/restart', containerId === undefined ? {} : { containerId });
  }

  update(current: PackingPlan, proposed: PackingPlan, executor: ExecutorSpec): Promise<PackingPlan> {
    return this.call<PackingPlan>('POST', '/update', { current, proposed, executor });
  }

  async kill(): Promise<void> {
    await this.call('POST', '/kill', {});
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.endpoint}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      throw new SchedulerError(`the scheduler of '${this.topologyName}' at ${this.endpoint} is not reachable: ${describeError(error)}`, {
        cause: error,
        code: 'scheduler.unreachable',
      });
    }
    const payload = (await response.json().catch(() => ({}))) as { error?: string };
    if (!response.ok) throw new SchedulerError(`scheduler of '${this.topologyName}': ${payload.error ?? `HTTP ${response.status}`}`);
    return payload as T;
  }
}

export class LibrarySchedulerClient implements SchedulerClient {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly topologyName: string,
  ) {}

  status(): Promise<ContainerStatus[]> {
    return this.scheduler.status(this.topologyName);
  }

  restart(containerId?: number): Promise<void> {
    return this.scheduler.restart(this.topologyName, containerId);
  }

  update(current: PackingPlan, proposed: PackingPlan, executor: ExecutorSpec): Promise<PackingPlan> {
    return this.scheduler.update({ topologyName: this.topologyName, current, proposed, executor });
  }

  kill(): Promise<void> {
    return this.scheduler.kill(this.topologyName);
  }
}

/**
 * The client for a topology, chosen by where its scheduler said it can be reached. Resolves to
 * undefined when no scheduler location is stored (a service that is gone, or a half-written submit).
 */
export async function openSchedulerClient(state: StateManager, topologyName: string, scheduler: () => Scheduler): Promise<SchedulerClient | undefined> {
  const [location, execution] = await Promise.all([state.get('scheduler', topologyName), state.get('executionState', topologyName)]);
  if (!location) return undefined;
  if (location.mode === 'service') {
    if (!location.endpoint || !execution) return undefined;
    return new HttpSchedulerClient(location.endpoint, execution.secret, topologyName);
  }
  return new LibrarySchedulerClient(scheduler(), topologyName);
}
