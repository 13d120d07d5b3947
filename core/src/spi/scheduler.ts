import type { PackingPlan } from '../model/packing-plan.js';
import type { SchedulerLocation } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';

/** Token under which the deployment's single {@link Scheduler} is bound. */
export const Scheduler = Symbol.for('ardea.Scheduler');

/**
 * `service`: the scheduler lives in a long-running process that owns the containers (the local
 * pool's supervisor) and is reached over its HTTP API. `library`: every call is a stateless
 * conversation with the pool's own API (Slurm, Kubernetes, Nomad, YARN), made by whichever process
 * needs it — the CLI, or the health manager in container 0.
 */
export type SchedulerMode = 'service' | 'library';

/**
 * How a pool names a topology's containers; see "Container ids" on {@link Scheduler}.
 *
 * `per-container`: one pool object per container (a local process, a Slurm job, a Nomad job with a
 * task group per container), so any container id can be added or removed on its own.
 * `ordinal`: the pool runs the containers as numbered slots of one object and can only change how
 * many there are (a Kubernetes StatefulSet, a Nomad task-group count, a YARN component count), so it
 * can only add slots above its highest and remove its highest ones.
 */
export type ContainerIdentity = 'per-container' | 'ordinal';

/** Stands for the container index in {@link ExecutorSpec.argv}; each pool substitutes it its own way. */
export const CONTAINER_INDEX_PLACEHOLDER = '{{container}}';

/** Every pool also sets this environment variable of a container's executor to its container id. */
export const CONTAINER_ID_ENV = 'ARDEA_CONTAINER_ID';
/**
 * A pool whose containers each have an address of their own (a Kubernetes pod IP) sets this variable
 * of a container's executor to that address; the executor then binds its listeners to it and
 * advertises it, instead of the topology's `listenHost`, which cannot name every container's address.
 */
export const LISTEN_HOST_ENV = 'ARDEA_LISTEN_HOST';

/**
 * How to start the executor of one container. The pool supplies the container index: as an argument
 * (local, Slurm), from a StatefulSet ordinal (Kubernetes), from job meta (Nomad) or from
 * `${COMPONENT_ID}` (YARN), by replacing {@link CONTAINER_INDEX_PLACEHOLDER} in `argv`.
 *
 * Nothing in it depends on the submitting machine's filesystem: the package comes by URI from the
 * execution state, the cluster config by value in `env`.
 */
export interface ExecutorSpec {
  /**
   * The command and its arguments. `argv[0]` is the executor command: a name the pool looks up on
   * the container's PATH (`ardea-executor` unless `scheduler.executorCommand` says otherwise), or an
   * absolute path in the container; the local pool runs its own installation's `ardea-executor`
   * for the default name (see `localExecutorArgv`).
   */
  readonly argv: readonly string[];
  /**
   * Variables the executor needs, `ARDEA_CLUSTER_CONFIG` (the cluster config by value) among them.
   * They may hold credentials (a ZooKeeper password), so a pool must keep them as private as the
   * container's own process environment: a Kubernetes Secret rather than the pod spec, a job script
   * only its owner can read.
   */
  readonly env: Readonly<Record<string, string>>;
}

export function executorArgv(spec: ExecutorSpec, containerId: number): string[] {
  return spec.argv.map((arg) => arg.split(CONTAINER_INDEX_PLACEHOLDER).join(String(containerId)));
}

export interface ScheduleRequest {
  readonly topology: TopologyDefinition;
  readonly packingPlan: PackingPlan;
  readonly packageUri: string;
  readonly executor: ExecutorSpec;
}

export interface UpdateRequest {
  readonly topologyName: string;
  readonly current: PackingPlan;
  readonly proposed: PackingPlan;
  readonly executor: ExecutorSpec;
}

/**
 * `pending`: accepted by the pool, not started yet. `running`: its process runs. `restarting`: it
 * exited and the pool will start it again. `failed`: the pool gave up on it or could not start it.
 * `stopped`: stopped on purpose.
 */
export type ContainerState = 'pending' | 'running' | 'restarting' | 'failed' | 'stopped';

export interface ContainerStatus {
  /** 0 for the topology master's container, then the packing plan's container ids. */
  readonly containerId: number;
  readonly state: ContainerState;
  /** The pool's own handle: a pid, a Slurm job id, a pod or allocation name. */
  readonly handle?: string;
  /** Restarts the pool made on its own after the container exited; `restart()` calls do not count. */
  readonly restarts: number;
  readonly message?: string;
  /** The machine it runs on, as the pool names it (a host name, a Slurm node, a Kubernetes node), once known. */
  readonly host?: string;
}

/** Part of a container's log: bytes `start` to `end` of it, as text. */
export interface ContainerLogChunk {
  readonly containerId: number;
  readonly text: string;
  /** Byte offset of the chunk's first byte in the whole log. */
  readonly start: number;
  /** Byte offset just past the chunk: pass it as `fromOffset` to read what is written next. */
  readonly end: number;
  /**
   * Where the log is: a file path, a job's output file on a host, an allocation's file. A chunk whose
   * source differs from the previous chunk's is from another log (a container restarted with a new
   * one): a follower reads that one from offset 0.
   */
  readonly source: string;
}

export interface ContainerLogRequest {
  /** Read from this byte on; the last `maxBytes` of the log when absent. */
  readonly fromOffset?: number;
  /** At most this many bytes. */
  readonly maxBytes: number;
}

/**
 * Brings a topology's N+1 containers up on one resource pool and keeps them there. One plugin per
 * pool implements it; the core's submitter, runtime manager and health manager call it through the
 * scheduler client, in-process for library mode and over HTTP for service mode.
 *
 * Every pool supports scaling (`update` adding and removing containers) and restarting one container.
 * Calls on a topology the pool does not know reject with `SchedulerError`, except `kill`, which is
 * idempotent. Errors name the topology, the container and what the pool said.
 *
 * **Container ids.** A container id is the id of a container in the packing plan (1, 2, …; 0 is the
 * topology master's container, which no plan lists) and what the executor of that container gets as
 * its index ({@link CONTAINER_INDEX_PLACEHOLDER}, {@link CONTAINER_ID_ENV}). Ids belong to core: a
 * pool runs container `n` exactly where the plan says `n`, never renumbers one, and returns the ids
 * of `proposed` unchanged from `update`. Which ids a pool is given depends on its
 * {@link containerIdentity}:
 * - `per-container` (the default): ids are whatever the packing and repacking algorithms chose; a
 *   repack may empty any container, so `update` may add and remove any ids (container 2 going away
 *   while 1 and 3 stay is an ordinary update).
 * - `ordinal`: core keeps every plan it gives the pool dense — containers 1..N, no gaps — at submit
 *   and at every update: before storing a repacked plan, `Ardea.update` moves the containers above
 *   the new end into the holes below it (`compactContainerIds` in the pool kit; added containers
 *   first, so that only as few running instances move as possible; the engine moves those instances
 *   by its fenced plan change, without loss). So the pool may assume that `schedule` gets containers
 *   1..N, and that `update` only adds containers above its highest (N+1..M) or removes its highest
 *   ones (M+1..N), which is all a count can do. It must refuse anything else with a
 *   `SchedulerError` and change nothing (`planContainerChanges(request, running, { ordinal: true })`
 *   in the pool kit does both), because running an update it cannot carry out would leave the
 *   wrong executors in the wrong slots.
 *
 * The scheduler conformance suite in `@ardea/core/testing` checks both kinds of pool.
 */
export interface Scheduler {
  readonly mode: SchedulerMode;

  /** How the pool names containers; `per-container` when absent. Fixed for the scheduler's lifetime. */
  readonly containerIdentity?: ContainerIdentity;

  /**
   * Starts container 0 and every container of the plan. Resolves once the pool has accepted all of
   * them (they may still be pending); if any is refused, removes what it started and rejects.
   */
  schedule(request: ScheduleRequest): Promise<void>;

  /** Per-container state, container 0 first. */
  status(topologyName: string): Promise<ContainerStatus[]>;

  /** Restarts one container, or all when `containerId` is undefined; the others keep running. */
  restart(topologyName: string, containerId?: number): Promise<void>;

  /**
   * Adds the containers that are in `proposed` but not in `current` and removes those in `current`
   * but not in `proposed`; containers in both are left alone (their executors follow the packing
   * plan themselves). Resolves to the realised plan: `proposed` with the same container ids and
   * instances, and `scheduled` resources filled in where the pool decided them. On failure it rolls
   * back what it added and rejects. Adding a container id that runs already is rejected; removing an
   * unknown one is ignored; `executor` applies to added containers only; container 0 is never added
   * or removed. An `ordinal` pool rejects a request that is not dense (see "Container ids" above)
   * before changing anything.
   */
  update(request: UpdateRequest): Promise<PackingPlan>;

  /**
   * Stops and removes every container of the topology. Idempotent. A service-mode pool's kill called
   * in a process that does not own the topology (its service is gone or does not answer) stops what
   * the service left running, as far as the pool can find it, and rejects with `SchedulerError`
   * naming any process that is still running afterwards.
   */
  kill(topologyName: string): Promise<void>;

  /**
   * Part of one container's log (what its executor wrote to stdout and stderr). Optional: a pool
   * without it has its logs where its own tools show them, and the CLI and tracker say so.
   * Rejects with `SchedulerError` for a container the pool does not know.
   */
  containerLog?(topologyName: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk>;

  /** Links to the pool's own pages for this topology (may be empty). */
  jobLinks(topologyName: string): Promise<string[]>;

  /**
   * Releases connections and timers. Idempotent. Library-mode pools leave containers running; a
   * service-mode pool whose process owns the containers stops them, since nothing would supervise
   * them afterwards. The deployment's container calls it when it is closed (`closeArdeaContainer`);
   * a plugin does not register a close of its own.
   */
  close(): Promise<void>;
}

/** Token for the {@link Launcher} of the deployment's scheduler. */
export const Launcher = Symbol.for('ardea.Launcher');

/**
 * Runs on the submitting machine once state is written: starts the scheduler service and has it
 * schedule the topology (service mode), or calls the scheduler's `schedule` directly (library mode).
 * Resolves to where the scheduler can be reached, which the submitter stores. A service-mode
 * scheduler plugin binds its own, since only the pool knows where its service runs; a library-mode
 * plugin that binds none gets the core's.
 */
export interface Launcher {
  launch(request: ScheduleRequest): Promise<SchedulerLocation>;
}
