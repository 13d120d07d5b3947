import type { Container } from 'inversify';
import { ClusterConfig } from '../config/cluster-config.js';
import { ArdeaError, SchedulerError } from '../errors/index.js';
import { JsonHttpClient } from '../http/json-client.js';
import { Logger } from '../logging/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { TopologyDefinition } from '../model/topology.js';
import { instanceStartError, type InstanceFailure } from '../runtime/control-messages.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { openSchedulerClient } from '../scheduler/scheduler-client.js';
import { Scheduler, type ContainerStatus } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';

/**
 * What the operations on a cluster's topologies (submit, update, control) share: the deployment's
 * container, and the ways to reach a topology's scheduler and its topology master.
 */
export class Deployment {
  readonly config: ClusterConfig;
  readonly state: StateManager;
  readonly logger: Logger;

  constructor(readonly container: Container) {
    this.config = container.get<ClusterConfig>(ClusterConfig);
    this.state = container.get<StateManager>(StateManager);
    this.logger = container.get<Logger>(Logger).child({ component: 'ardea' });
  }

  /** `Ardea.runState`, documented there; a lost scheduler service is what `requireClient` reports. */
  async runState(name: string): Promise<string> {
    const [execution, physical, scheduler] = await Promise.all([
      this.state.get('executionState', name),
      this.state.get('physicalPlan', name),
      this.state.get('scheduler', name),
    ]);
    if (execution?.schedulerMode === 'service' && !scheduler && physical?.topologyId === execution.topologyId) return 'SUPERVISOR-LOST';
    return physical?.state ?? 'STARTING';
  }

  /**
   * Waits until every container of `plan` runs and the topology's physical plan is live; fails on
   * the first instance or container that could not start. `afterVersion`: a physical plan of this
   * version or older is an earlier run's, not this one's.
   */
  async waitUntilRunning(
    definition: TopologyDefinition,
    plan: PackingPlan,
    timeoutMs: number,
    progress: (message: string) => void,
    afterVersion = 0,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = plan.containers.length + 1;
    let last = '';
    for (;;) {
      const client = await this.schedulerClient(definition.name);
      const statuses: ContainerStatus[] = client ? await client.status().catch(() => []) : [];
      const running = statuses.filter((s) => s.state === 'running').length;
      const physical = await this.state.get('physicalPlan', definition.name);
      const live =
        physical?.topologyId === definition.id &&
        physical.version > afterVersion &&
        physical.streamManagers.length === plan.containers.length;
      const planState = live ? 'physical plan live' : 'waiting for stream managers to register';
      const line = `${running}/${expected} containers running, ${planState}`;
      if (line !== last) progress(line);
      last = line;
      if (running === expected && live) return;
      const status = await this.callMaster<PlanStatus>(definition.name, 'GET', '/plan-status').catch(() => undefined);
      const failure = status?.failures?.[0];
      if (failure) throw instanceStartError(failure);
      const failed = statuses.find((s) => s.state === 'failed');
      if (failed)
        throw new SchedulerError(`container ${failed.containerId} of '${definition.name}' failed: ${failed.message ?? 'no message'}`);
      if (Date.now() > deadline) throw new SchedulerError(`'${definition.name}' did not start within ${timeoutMs} ms: ${line}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The client for a topology's scheduler, in-process for library-mode pools; undefined when no service is reachable. */
  schedulerClient(name: string) {
    return openSchedulerClient(
      this.state,
      name,
      () => this.container.get<Scheduler>(Scheduler),
      () => executorSpec(this.config, name),
    );
  }

  async requireClient(name: string) {
    const client = await this.schedulerClient(name);
    if (client) return client;
    if ((await this.runState(name)) === 'SUPERVISOR-LOST') {
      throw new SchedulerError(
        `the supervisor of '${name}' is gone and its containers stopped with it; ` +
          `'ardea restart ${this.config.cluster} ${name}' starts a new one, ` +
          `'ardea kill ${this.config.cluster} ${name}' removes the topology`,
      );
    }
    throw new SchedulerError(
      `topology '${name}' has no reachable scheduler on cluster ${this.config.cluster}; ` +
        `is it running? ('ardea list ${this.config.cluster}')`,
    );
  }

  async callMaster<T>(name: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const [location, execution] = await Promise.all([this.state.get('topologyMaster', name), this.state.get('executionState', name)]);
    if (!execution) throw new ArdeaError(`no topology '${name}' on cluster ${this.config.cluster}`, { code: 'topology.not-found' });
    if (!location)
      throw new ArdeaError(
        `the topology master of '${name}' is not running (container 0 may be starting or restarting); try again shortly`,
      );
    const master = new JsonHttpClient({
      baseUrl: `http://${location.host.includes(':') ? `[${location.host}]` : location.host}:${location.controllerPort}`,
      bearer: execution.secret,
      target: `the topology master of '${name}'`,
      error: ArdeaError,
      advice:
        `container 0 may be stopped, overloaded or restarting: see its log, ` +
        `and if it stays unresponsive restart it with 'ardea restart ${this.config.cluster} ${name} 0'`,
    });
    return master.request<T>(method, route, { body });
  }
}

/** The topology master's `/plan-status`. */
export interface PlanStatus {
  readonly version: number;
  readonly live: boolean;
  readonly applied: boolean;
  readonly pending: readonly number[];
  /** Absent from masters older than the CLI. */
  readonly failures?: readonly InstanceFailure[];
  /** {@link placementOf} the packing plan the master works to; absent from masters older than the CLI. */
  readonly placement?: string;
}
