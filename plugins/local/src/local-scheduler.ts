import { appendFile, open, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CONTAINER_ID_ENV,
  decodeLogChunk,
  describeError,
  localExecutorArgv,
  logByteRange,
  makePrivateDirectory,
  PARENT_PID_ENV,
  planContainerChanges,
  poolResourceName,
  PRIVATE_FILE_MODE,
  SchedulerError,
  securePrivateTree,
  startAllOrUndo,
  type ContainerIdentity,
  type ContainerLogChunk,
  type ContainerLogRequest,
  type ContainerState,
  type ContainerStatus,
  type ExecutorSpec,
  type Logger,
  type PackingPlan,
  type Scheduler,
  type SchedulerMode,
  type ScheduleRequest,
  type UpdateRequest,
} from '@ardea/core/plugin';
import { execa, type Options, type Result, type ResultPromise } from 'execa';
import {
  describeProcesses,
  EXECUTOR_RECORD,
  OWNER_RECORD,
  readExecutorRecords,
  readProcessRecord,
  recordProcess,
  terminateProcesses,
  type ProcessControl,
} from './process-records.js';

/** Every local container runs on this machine. */
const host = hostname();

export interface LocalSchedulerOptions {
  /**
   * Each topology gets `<workingDirectory>/<name>/container-<id>` and `.../logs/container-<id>.log`,
   * where `<name>` is the topology's {@link poolResourceName}.
   */
  readonly workingDirectory: string;
  /**
   * Delay before restarting a crashed container: `initialMs`, doubling per consecutive crash up to
   * `maxMs`. A container that stayed up for at least `maxMs` counts as healthy again, so its next
   * crash waits `initialMs` only.
   */
  readonly restartBackoff: { readonly initialMs: number; readonly maxMs: number };
  /** How long a stopping container may take after SIGTERM before it gets SIGKILL. */
  readonly stopGraceMs: number;
  /**
   * Whether the working directory itself may be made private (default true). False for one
   * configured outside ARDEA_HOME: it is left as it is, with a warning when others may enter it; the
   * directories and logs created in it are private either way.
   */
  readonly repairWorkingDirectory?: boolean;
  /** How leftover processes are probed and signalled (see {@link LocalScheduler.kill}); tests only. */
  readonly processControl?: ProcessControl;
}

interface ExecutorOptions extends Options {
  readonly stdin: 'ignore';
  /** A file descriptor; see {@link LocalScheduler.start}. */
  readonly stdout: 1;
  readonly stderr: 1;
  readonly buffer: false;
  readonly reject: false;
}
type ExecutorProcess = ResultPromise<ExecutorOptions>;

/** One process of a container; a restart creates a new run. */
interface Run {
  readonly subprocess: ExecutorProcess;
  readonly pid: number;
  readonly startedAt: number;
  /** Settles once the process has exited and its exit was handled. Never rejects. */
  readonly exited: Promise<void>;
  /** Set before a deliberate stop, so the exit is not treated as a crash. */
  stopping: boolean;
}

interface ContainerRecord {
  readonly id: number;
  /** The executor the container was started with; restarts reuse it. */
  readonly executor: ExecutorSpec;
  state: ContainerState;
  run: Run | undefined;
  restarts: number;
  nextDelayMs: number;
  retryTimer: NodeJS.Timeout | undefined;
  message: string | undefined;
  /** Removed by update or kill: its exits must never lead to a restart. */
  removed: boolean;
}

interface TopologyRecord {
  readonly name: string;
  /** `<workingDirectory>/<poolResourceName(name)>`: its containers' directories, logs and process records. */
  readonly directory: string;
  readonly logger: Logger;
  readonly containers: Map<number, ContainerRecord>;
  /** Operations on one topology run one after another, so a crash restart never races a kill or an update. */
  queue: Promise<void>;
  killed: boolean;
}

/**
 * The local pool: every container is a child process of the supervisor process this scheduler lives
 * in. Crashed containers are restarted with exponential backoff; deliberate stops (restart, update,
 * kill, close) send SIGTERM, then SIGKILL after the grace period, and wait for the exit.
 *
 * Executors are started as direct children and stopped by pid, so an executor must not leave
 * processes of its own behind (the Ardea executor runs its instances as worker threads). Each gets
 * this process's pid in `ARDEA_PARENT_PID` and exits when this process is gone, and each is recorded
 * (pid and start time) in its container's directory, as is this process in the topology's, so that
 * another process can stop what a lost owner left running (see {@link kill}).
 */
export class LocalScheduler implements Scheduler {
  readonly mode: SchedulerMode = 'service';
  /** One process per container: any container can be added or removed on its own. */
  readonly containerIdentity: ContainerIdentity = 'per-container';

  private readonly topologies = new Map<string, TopologyRecord>();
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;
  private secured: Promise<void> | undefined;

  constructor(
    private readonly options: LocalSchedulerOptions,
    logger: Logger,
  ) {
    const { initialMs, maxMs } = options.restartBackoff;
    if (!(initialMs > 0) || !(maxMs >= initialMs)) {
      throw new SchedulerError(
        `local scheduler: restartBackoff needs 0 < initialMs <= maxMs, got initialMs ${initialMs} and maxMs ${maxMs}`,
      );
    }
    this.logger = logger;
  }

  async schedule(request: ScheduleRequest): Promise<void> {
    const name = request.topology.name;
    this.assertOpen(`schedule topology '${name}'`);
    if (this.topologies.has(name)) throw new SchedulerError(`topology '${name}' is already scheduled on the local pool`);
    const ids = [0, ...request.packingPlan.containers.map((container) => container.id)];
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
    if (duplicate !== undefined) throw new SchedulerError(`cannot schedule topology '${name}': container ${duplicate} appears twice`);

    // Registered before the first await so that a concurrent schedule of the same name is refused.
    const topology: TopologyRecord = {
      name,
      directory: this.topologyDirectory(name),
      logger: this.logger.child({ topology: name }),
      containers: new Map(),
      queue: Promise.resolve(),
      killed: false,
    };
    this.topologies.set(name, topology);
    await this.enqueue(topology, async () => {
      try {
        await this.secureWorkingDirectory();
        await makePrivateDirectory(topology.directory, { repair: true });
        await recordProcess(join(topology.directory, OWNER_RECORD), process.pid);
        await this.addAll(topology, ids, request.executor);
      } catch (error) {
        topology.killed = true;
        this.topologies.delete(name);
        throw error;
      }
      topology.logger.info('topology scheduled', { containers: ids });
    });
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    const topology = this.known(topologyName);
    return [...topology.containers.values()]
      .sort((a, b) => a.id - b.id)
      .map((container) => ({
        containerId: container.id,
        state: container.state,
        ...(container.run ? { handle: String(container.run.pid) } : {}),
        restarts: container.restarts,
        ...(container.message ? { message: container.message } : {}),
        host,
      }));
  }

  /**
   * Reads the requested bytes of `<topology>/logs/container-<id>.log`, and only those: a long-running
   * container's log grows without bound. The file is appended to across restarts and never
   * truncated here, so offsets stay valid for a follower; one made shorter by hand (rotated,
   * truncated) is read from its start again (see `logByteRange`).
   */
  async containerLog(topologyName: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    const topology = this.known(topologyName);
    this.knownContainer(topology, containerId);
    const path = this.logPath(topology, containerId);
    let file: FileHandle | undefined;
    try {
      file = await open(path, 'r');
      const { start, length } = logByteRange((await file.stat()).size, request);
      const buffer = Buffer.alloc(length);
      // The file may have shrunk since the stat: what was read is what there is.
      const { bytesRead } = await file.read(buffer, 0, length, start);
      return decodeLogChunk(containerId, buffer.subarray(0, bytesRead), start, request, path);
    } catch (error) {
      // Its first start creates the log; until then (or once someone removed it) the log is empty.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return decodeLogChunk(containerId, new Uint8Array(0), 0, request, path);
      throw new SchedulerError(
        `topology '${topologyName}': cannot read the log of container ${containerId} (${path}): ${describeError(error)}`,
        { cause: error },
      );
    } finally {
      await file?.close();
    }
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const topology = this.known(topologyName);
    await this.enqueue(topology, async () => {
      const targets = containerId === undefined ? [...topology.containers.values()] : [this.knownContainer(topology, containerId)];
      await Promise.all(targets.map((container) => this.stop(container)));
      const failures: unknown[] = [];
      for (const container of targets.sort((a, b) => a.id - b.id)) {
        // A deliberate restart is not a crash: the backoff starts over.
        container.nextDelayMs = this.options.restartBackoff.initialMs;
        try {
          await this.start(topology, container);
        } catch (error) {
          // The container stays part of the topology; supervision keeps trying to bring it back.
          this.retryLater(topology, container, describeError(error));
          failures.push(error);
        }
      }
      topology.logger.info('containers restarted', { containers: targets.map((container) => container.id) });
      if (failures.length > 0) throw failures[0];
    });
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const topology = this.known(request.topologyName);
    return this.enqueue(topology, async () => {
      const changes = planContainerChanges(request, topology.containers.keys());
      const added = changes.added.map((container) => container.id);
      await this.addAll(topology, added, request.executor);
      await Promise.all(changes.removed.map((id) => this.remove(topology, topology.containers.get(id)!)));
      topology.logger.info('topology updated', { added, removed: changes.removed });
      return request.proposed;
    });
  }

  /**
   * Stops the containers of a topology this scheduler owns. For one it does not own (called in the
   * CLI when the topology's supervisor is gone or does not answer), it stops what the recorded owner
   * and executors left running: the owner first (it stops its own containers on SIGTERM), then any
   * executor still running; SIGKILL follows after the grace period. Rejects, naming the pids, when a
   * recorded process still runs after that.
   */
  async kill(topologyName: string): Promise<void> {
    const topology = this.topologies.get(topologyName);
    if (!topology) {
      await this.stopLeftovers(topologyName);
      return;
    }
    topology.killed = true;
    await this.enqueue(topology, async () => {
      await this.stopAll(topology);
      if (this.topologies.get(topologyName) === topology) this.topologies.delete(topologyName);
      topology.logger.info('topology killed');
    });
  }

  private async stopLeftovers(topologyName: string): Promise<void> {
    const directory = this.topologyDirectory(topologyName);
    const control = this.options.processControl;
    const owner = await readProcessRecord(join(directory, OWNER_RECORD));
    const unstoppable = owner ? await terminateProcesses([{ owner, role: 'supervisor' }], this.options.stopGraceMs, control) : [];
    // Read after the owner is gone: it may have restarted a container just before it went.
    const executors = await readExecutorRecords(directory);
    unstoppable.push(...(await terminateProcesses(executors, this.options.stopGraceMs, control)));
    if (unstoppable.length > 0) {
      throw new SchedulerError(
        `topology '${topologyName}': ${describeProcesses(unstoppable)} still ` +
          `running after SIGTERM and, ${this.options.stopGraceMs} ms later, SIGKILL; ` +
          'stop them by hand, then kill the topology again',
      );
    }
  }

  async jobLinks(topologyName: string): Promise<string[]> {
    this.known(topologyName);
    return [];
  }

  /**
   * Stops every container of every topology: the supervisor that owns these processes is going away,
   * and nothing would restart or stop them afterwards.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.topologies.values()];
      for (const topology of all) topology.killed = true;
      await Promise.all(all.map((topology) => this.enqueue(topology, () => this.stopAll(topology))));
      this.topologies.clear();
      this.logger.info('local scheduler closed', { topologies: all.map((topology) => topology.name) });
    })();
    return this.closing;
  }

  /** Starts containers `ids`, or none of them: what started before a failure is stopped and forgotten again. */
  private async addAll(topology: TopologyRecord, ids: readonly number[], executor: ExecutorSpec): Promise<void> {
    await startAllOrUndo(
      ids,
      (id) => this.add(topology, id, executor),
      (_id, container) => this.remove(topology, container),
      topology.logger,
      (id) => `container ${id}`,
    );
  }

  private async add(topology: TopologyRecord, id: number, executor: ExecutorSpec): Promise<ContainerRecord> {
    const container = this.newContainer(id, executor);
    topology.containers.set(id, container);
    try {
      await this.start(topology, container);
    } catch (error) {
      container.removed = true;
      topology.containers.delete(id);
      throw error;
    }
    return container;
  }

  /** Stops a container for good: no restart follows its exit, and the topology forgets it. */
  private async remove(topology: TopologyRecord, container: ContainerRecord): Promise<void> {
    container.removed = true;
    await this.stop(container);
    topology.containers.delete(container.id);
  }

  private topologyDirectory(topologyName: string): string {
    return join(this.options.workingDirectory, poolResourceName(topologyName));
  }

  private logPath(topology: TopologyRecord, containerId: number): string {
    return join(topology.directory, 'logs', `container-${containerId}.log`);
  }

  private newContainer(id: number, executor: ExecutorSpec): ContainerRecord {
    return {
      id,
      executor,
      state: 'pending',
      run: undefined,
      restarts: 0,
      nextDelayMs: this.options.restartBackoff.initialMs,
      retryTimer: undefined,
      message: undefined,
      removed: false,
    };
  }

  /** Containers' directories and logs are their owner's alone; checked once, before the first start. */
  private secureWorkingDirectory(): Promise<void> {
    const directory = this.options.workingDirectory;
    this.secured ??= makePrivateDirectory(directory)
      .then(() =>
        securePrivateTree(directory, {
          what: 'working directory',
          logger: this.logger,
          repairRoot: this.options.repairWorkingDirectory ?? true,
          recursive: false,
        }),
      )
      .catch((error: unknown) => {
        this.secured = undefined;
        throw error;
      });
    return this.secured;
  }

  /** Spawns the container's executor and resolves once the OS has started it. */
  private async start(topology: TopologyRecord, container: ContainerRecord): Promise<Run> {
    const topologyDirectory = topology.directory;
    const cwd = join(topologyDirectory, `container-${container.id}`);
    const logPath = this.logPath(topology, container.id);
    const logDirectory = dirname(logPath);
    container.state = 'pending';
    container.message = undefined;
    let subprocess: ExecutorProcess;
    try {
      // The spec's command is logical (`ardea-executor`); here it becomes this machine's executable.
      const [file, ...args] = localExecutorArgv(container.executor, container.id);
      for (const directory of [topologyDirectory, cwd, logDirectory]) await makePrivateDirectory(directory, { repair: true });
      // The child writes to the log file itself instead of through pipes to this process, so a chatty
      // executor costs the supervisor nothing. execa hands any descriptor number to spawn() unchanged,
      // though its types only spell out 1 and 2 — hence the assertions.
      const log = await open(logPath, 'a', PRIVATE_FILE_MODE);
      const fd = log.fd as 1;
      try {
        await log.chmod(PRIVATE_FILE_MODE);
        await log.write(`[ardea-local ${new Date().toISOString()}] starting container ${container.id}: ${[file, ...args].join(' ')}\n`);
        const options: ExecutorOptions = {
          cwd,
          env: { ...container.executor.env, [CONTAINER_ID_ENV]: String(container.id), [PARENT_PID_ENV]: String(process.pid) },
          extendEnv: true,
          stdin: 'ignore',
          stdout: fd,
          stderr: fd,
          buffer: false,
          reject: false,
          cleanup: true,
          killSignal: 'SIGTERM',
          forceKillAfterDelay: this.options.stopGraceMs,
        };
        subprocess = execa(file, args, options);
        await spawned(subprocess);
        await recordProcess(join(cwd, EXECUTOR_RECORD), subprocess.pid!).catch(async (error: unknown) => {
          // A process no record names could outlive a lost supervisor unnoticed: it must not run.
          subprocess.kill('SIGKILL');
          await subprocess;
          throw error;
        });
      } finally {
        await log.close();
      }
    } catch (error) {
      container.state = 'failed';
      container.message = describeError(error);
      throw new SchedulerError(`topology '${topology.name}': could not start container ${container.id}: ${describeError(error)}`, {
        cause: error,
      });
    }

    const run: Run = {
      subprocess,
      pid: subprocess.pid!,
      startedAt: Date.now(),
      stopping: false,
      exited: subprocess.then(
        (result) => this.onExit(topology, container, run, result, logPath),
        (error: unknown) =>
          this.onExit(topology, container, run, { exitCode: undefined, signal: undefined, message: describeError(error) }, logPath),
      ),
    };
    container.run = run;
    container.state = 'running';
    topology.logger.debug('container started', { containerId: container.id, pid: run.pid });
    return run;
  }

  private onExit(
    topology: TopologyRecord,
    container: ContainerRecord,
    run: Run,
    result: Pick<Result, 'exitCode' | 'signal' | 'message'>,
    logPath: string,
  ): void {
    if (container.run === run) container.run = undefined;
    const how = result.signal ? `signal ${result.signal}` : result.exitCode !== undefined ? `exit code ${result.exitCode}` : result.message;
    appendFile(logPath, `[ardea-local ${new Date().toISOString()}] container ${container.id} (pid ${run.pid}) exited with ${how}\n`, {
      mode: PRIVATE_FILE_MODE,
    }).catch((error: unknown) => topology.logger.debug('could not append to container log', { containerId: container.id, error }));
    if (run.stopping || container.removed || topology.killed || this.closing) {
      container.state = 'stopped';
      return;
    }

    const uptimeMs = Date.now() - run.startedAt;
    if (uptimeMs >= this.options.restartBackoff.maxMs) container.nextDelayMs = this.options.restartBackoff.initialMs;
    const delayMs = container.nextDelayMs;
    topology.logger.warn('container exited unexpectedly; restarting after backoff', {
      containerId: container.id,
      pid: run.pid,
      exitCode: result.exitCode,
      signal: result.signal,
      uptimeMs,
      delayMs,
      restart: container.restarts + 1,
    });
    this.retryLater(topology, container, `exited with ${how}`, delayMs);
  }

  /** Puts the container in backoff and restarts it when the delay is over. */
  private retryLater(topology: TopologyRecord, container: ContainerRecord, reason: string, delayMs = container.nextDelayMs): void {
    const { maxMs } = this.options.restartBackoff;
    container.nextDelayMs = Math.min(delayMs * 2, maxMs);
    container.state = 'restarting';
    container.message = `${reason}; restarting in ${delayMs} ms`;
    clearTimeout(container.retryTimer);
    container.retryTimer = setTimeout(() => {
      container.retryTimer = undefined;
      this.enqueue(topology, () => this.respawn(topology, container)).catch((error: unknown) =>
        topology.logger.error('container restart failed', { containerId: container.id, error }),
      );
    }, delayMs);
  }

  private async respawn(topology: TopologyRecord, container: ContainerRecord): Promise<void> {
    // A restart, update, kill or close may have dealt with the container while the timer was pending.
    if (container.removed || topology.killed || this.closing || container.run || container.state !== 'restarting') return;
    container.restarts++;
    try {
      const run = await this.start(topology, container);
      topology.logger.info('container restarted', { containerId: container.id, pid: run.pid, restarts: container.restarts });
    } catch (error) {
      const delayMs = container.nextDelayMs;
      topology.logger.warn('container could not be restarted; retrying after backoff', { containerId: container.id, error, delayMs });
      this.retryLater(topology, container, describeError(error), delayMs);
    }
  }

  /** Stops the container's process, if any, and cancels a pending restart; resolves once it has exited. */
  private async stop(container: ContainerRecord): Promise<void> {
    clearTimeout(container.retryTimer);
    container.retryTimer = undefined;
    const run = container.run;
    if (run) {
      run.stopping = true;
      run.subprocess.kill();
      await run.exited;
    }
    container.state = 'stopped';
  }

  private async stopAll(topology: TopologyRecord): Promise<void> {
    for (const container of topology.containers.values()) container.removed = true;
    await Promise.all([...topology.containers.values()].map((container) => this.stop(container)));
  }

  private enqueue<T>(topology: TopologyRecord, operation: () => Promise<T>): Promise<T> {
    const result = topology.queue.then(operation);
    topology.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private known(topologyName: string): TopologyRecord {
    const topology = this.topologies.get(topologyName);
    if (!topology || topology.killed) {
      const known = [...this.topologies.values()].filter((t) => !t.killed).map((t) => t.name);
      throw new SchedulerError(
        `topology '${topologyName}' is not scheduled on the local pool${known.length > 0 ? ` (scheduled: ${known.join(', ')})` : ''}`,
      );
    }
    return topology;
  }

  private knownContainer(topology: TopologyRecord, containerId: number): ContainerRecord {
    const container = topology.containers.get(containerId);
    if (!container) {
      const ids = [...topology.containers.keys()].sort((a, b) => a - b);
      throw new SchedulerError(`topology '${topology.name}' has no container ${containerId}; its containers are ${ids.join(', ')}`);
    }
    return container;
  }

  private assertOpen(action: string): void {
    if (this.closing) throw new SchedulerError(`cannot ${action}: the local scheduler is closed`);
  }
}

/**
 * Resolves when the OS has started the process and rejects when it could not (e.g. the command does
 * not exist). execa reports a failure either as an `error` event or, when spawning threw at once, only
 * through the result, so both are watched.
 */
function spawned(subprocess: ExecutorProcess): Promise<void> {
  return Promise.race([
    new Promise<void>((resolve, reject) => {
      subprocess.once('spawn', () => resolve());
      subprocess.once('error', reject);
    }),
    subprocess.then((result) => {
      if (result.failed && result.exitCode === undefined && result.signal === undefined)
        throw result.cause ?? new Error(result.shortMessage);
    }),
  ]);
}
