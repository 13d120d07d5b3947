import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { SchedulerError } from '../../errors/index.js';
import { SilentLogger } from '../../logging/index.js';
import type { PackingPlan } from '../../model/packing-plan.js';
import {
  CONTAINER_ID_ENV,
  executorArgv,
  type ContainerStatus,
  type ExecutorSpec,
  type Scheduler,
  type ScheduleRequest,
  type UpdateRequest,
} from '../../spi/scheduler.js';
import { describeSchedulerConformance } from '../../testing/scheduler-conformance.js';
import { planContainerChanges, startAllOrUndo } from './index.js';

/**
 * What an ordinal pool offers, reduced to its essence: a set of numbered replicas (0..count-1) of one
 * command that can only be scaled to a count, like a StatefulSet or a task-group count. Replicas are
 * child processes of the test; replica n gets n as its container index.
 */
class ProcessReplicaSet {
  private readonly replicas: ChildProcess[] = [];

  constructor(private readonly executor: ExecutorSpec) {}

  get count(): number {
    return this.replicas.length;
  }

  replica(ordinal: number): ChildProcess | undefined {
    return this.replicas[ordinal];
  }

  /** Starts the next ordinal; resolves once the OS started it. */
  async grow(): Promise<number> {
    const ordinal = this.replicas.length;
    this.replicas.push(await this.spawn(ordinal));
    return ordinal;
  }

  /** Stops the highest ordinal. */
  async shrink(): Promise<void> {
    const replica = this.replicas.pop();
    if (replica) await stop(replica);
  }

  async replace(ordinal: number): Promise<void> {
    await stop(this.replicas[ordinal]!);
    this.replicas[ordinal] = await this.spawn(ordinal);
  }

  private async spawn(ordinal: number): Promise<ChildProcess> {
    const [file, ...args] = executorArgv(this.executor, ordinal);
    const child = spawn(file!, args, {
      env: { ...process.env, ...this.executor.env, [CONTAINER_ID_ENV]: String(ordinal) },
      stdio: 'ignore',
    });
    await once(child, 'spawn');
    return child;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/**
 * A Scheduler over {@link ProcessReplicaSet}: the smallest honest ordinal pool, built the way the
 * Kubernetes, Nomad and YARN pools are meant to be — the pool kit decides what an update means and
 * refuses what a count cannot do.
 */
class OrdinalProcessPool implements Scheduler {
  readonly mode = 'library' as const;
  readonly containerIdentity = 'ordinal' as const;
  private readonly topologies = new Map<string, ProcessReplicaSet>();

  async schedule(request: ScheduleRequest): Promise<void> {
    const name = request.topology.name;
    if (this.topologies.has(name)) throw new SchedulerError(`topology '${name}' is already scheduled`);
    const ids = request.packingPlan.containers.map((c) => c.id);
    if (ids.some((id, index) => id !== index + 1))
      throw new SchedulerError(`cannot schedule '${name}': containers ${ids.join(', ')} are not 1..N`);
    const replicas = new ProcessReplicaSet(request.executor);
    this.topologies.set(name, replicas);
    try {
      await startAllOrUndo(
        [0, ...ids],
        () => replicas.grow(),
        () => replicas.shrink(),
        new SilentLogger(),
      );
    } catch (error) {
      this.topologies.delete(name);
      throw error;
    }
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    const replicas = this.known(topologyName);
    return Array.from({ length: replicas.count }, (_, ordinal) => {
      const replica = replicas.replica(ordinal)!;
      const running = replica.exitCode === null && replica.signalCode === null;
      return { containerId: ordinal, state: running ? 'running' : 'failed', handle: String(replica.pid), restarts: 0 };
    });
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const replicas = this.known(topologyName);
    if (containerId !== undefined && containerId >= replicas.count)
      throw new SchedulerError(`topology '${topologyName}' has no container ${containerId}`);
    const targets = containerId === undefined ? Array.from({ length: replicas.count }, (_, ordinal) => ordinal) : [containerId];
    for (const ordinal of targets) await replicas.replace(ordinal);
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const replicas = this.known(request.topologyName);
    const changes = planContainerChanges(
      request,
      Array.from({ length: replicas.count }, (_, ordinal) => ordinal),
      { ordinal: true },
    );
    await startAllOrUndo(
      changes.added,
      () => replicas.grow(),
      () => replicas.shrink(),
      new SilentLogger(),
    );
    for (let left = changes.removed.length; left > 0; left--) await replicas.shrink();
    return request.proposed;
  }

  async kill(topologyName: string): Promise<void> {
    const replicas = this.topologies.get(topologyName);
    this.topologies.delete(topologyName);
    while (replicas && replicas.count > 0) await replicas.shrink();
  }

  async jobLinks(): Promise<string[]> {
    return [];
  }

  /** The replicas are this test's children: nothing would stop them after it. */
  async close(): Promise<void> {
    for (const name of [...this.topologies.keys()]) await this.kill(name);
  }

  private known(topologyName: string): ProcessReplicaSet {
    const replicas = this.topologies.get(topologyName);
    if (!replicas) throw new SchedulerError(`topology '${topologyName}' is not scheduled`);
    return replicas;
  }
}

describeSchedulerConformance('an ordinal pool of local processes', {
  create: async () => new OrdinalProcessPool(),
  recoversCrashedContainers: false,
  containerIdentity: 'ordinal',
});
