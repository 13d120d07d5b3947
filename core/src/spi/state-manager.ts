import type { PackingPlan } from '../model/packing-plan.js';
import type {
  ExecutionState,
  HealthLog,
  MetricsCacheLocation,
  MetricsTotals,
  PhysicalPlan,
  SchedulerLocation,
  StatefulCheckpoints,
  TopologyMasterLocation,
} from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';

/** Token under which the deployment's single {@link StateManager} is bound. */
export const StateManager = Symbol.for('ardea.StateManager');

/** What is stored per topology, by kind. Every value is plain JSON. */
export interface StateRecords {
  topology: TopologyDefinition;
  packingPlan: PackingPlan;
  physicalPlan: PhysicalPlan;
  executionState: ExecutionState;
  topologyMaster: TopologyMasterLocation;
  scheduler: SchedulerLocation;
  metricsCache: MetricsCacheLocation;
  checkpoints: StatefulCheckpoints;
  healthLog: HealthLog;
  metricsTotals: MetricsTotals;
}

export type StateKind = keyof StateRecords;

/**
 * The node layout every implementation uses under its root, one directory per kind and one node per
 * topology in it (`/<directory>/<topology>`), plus `/locks/<topology>__<lock>`. Keeping Heron's
 * layout lets operators read a ZooKeeper tree or a state directory without a manual.
 */
export const STATE_LAYOUT: Readonly<Record<StateKind, string>> = Object.freeze({
  topology: 'topologies',
  packingPlan: 'packingplans',
  physicalPlan: 'pplans',
  executionState: 'executionstate',
  topologyMaster: 'tmanagers',
  scheduler: 'schedulers',
  metricsCache: 'metricscaches',
  checkpoints: 'statefulcheckpoints',
  healthLog: 'healthlogs',
  metricsTotals: 'metricstotals',
});
export const LOCKS_DIRECTORY = 'locks';

export const STATE_KINDS = Object.freeze(Object.keys(STATE_LAYOUT) as StateKind[]);

/** The order in which a kill removes state: the topology node goes last, so a kill that stops half-way can be repeated. */
export const TOPOLOGY_REMOVAL_ORDER: readonly StateKind[] = Object.freeze([
  'topologyMaster',
  'metricsCache',
  'packingPlan',
  'physicalPlan',
  'scheduler',
  'checkpoints',
  'healthLog',
  'metricsTotals',
  'executionState',
  'topology',
]);

export interface WriteOptions {
  /**
   * An ephemeral node disappears when its owner goes away: the process that wrote it (local
   * filesystem) or its session (ZooKeeper). Topology-master and metrics-cache locations are always
   * ephemeral; the scheduler location is ephemeral exactly when the scheduler runs as a service.
   */
  readonly ephemeral?: boolean;
}

export type StateOperation =
  | { readonly op: 'create'; readonly kind: StateKind; readonly topology: string; readonly value: unknown }
  | { readonly op: 'set'; readonly kind: StateKind; readonly topology: string; readonly value: unknown }
  | { readonly op: 'delete'; readonly kind: StateKind; readonly topology: string }
  /**
   * A precondition, not a write: the transaction applies nothing and rejects with
   * `StateConflictError` unless the topology node exists and holds submission `topologyId`. It is
   * judged on the state the transaction starts from, whatever its position, atomically with the
   * writes: a write conditional on it cannot resurrect a topology that was killed (or killed and
   * submitted again) meanwhile.
   */
  | { readonly op: 'check'; readonly kind: 'topology'; readonly topology: string; readonly topologyId: string };

export type StateListener<K extends StateKind> = (value: StateRecords[K] | undefined) => void;

export interface StateWatch {
  /** Stops the watch; idempotent. */
  close(): void;
}

export type LockName = 'update';

export interface StateLock {
  /** Releases the lock; idempotent. A lock also dies with its owner, like an ephemeral node. */
  release(): Promise<void>;
}

/**
 * The coordination store of a deployment: the topology, its packing and physical plans, execution
 * state, the locations of live services, checkpoints, and the update lock. Every process of a
 * topology (CLI, scheduler, topology master, executors, health manager) talks to the same store.
 *
 * Contract for implementations (checked by `describeStateManagerConformance` in `@ardea/core/testing`):
 * - `start` connects and creates the layout; `close` removes the ephemeral nodes this instance owns,
 *   closes its watches and releases its locks. Both are idempotent.
 * - Reads of a missing node resolve to `undefined`; deletes of a missing node resolve.
 * - Writes are atomic: a reader sees the old value or the new one, never a torn one.
 * - Failures reject with `StateManagerError` (or a subclass) whose message names the node; so does
 *   any call before `start` or after `close`.
 * - Topology names are those `validateTopology` accepts, so they are safe as file and znode names.
 */
export interface StateManager {
  start(): Promise<void>;
  close(): Promise<void>;

  get<K extends StateKind>(kind: K, topology: string): Promise<StateRecords[K] | undefined>;

  /**
   * Creates or replaces the node. The node takes this call's options: an ephemeral set makes the
   * caller its owner, a plain set makes it persistent.
   */
  set<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options?: WriteOptions): Promise<void>;

  /** Creates the node; rejects with `StateConflictError` if it exists. */
  create<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options?: WriteOptions): Promise<void>;

  delete(kind: StateKind, topology: string): Promise<void>;

  /**
   * Applies every operation or none (submit writes topology, packing plan and execution state
   * together; kill removes them together), in the order given, and writes persistent nodes only. A
   * `create` of an existing node fails the whole transaction with `StateConflictError`; a `delete`
   * of a missing node is not an error; a `check` that does not hold fails it with
   * `StateConflictError` too. Writers never see a transaction half-applied; a reader of a store
   * without multi-node atomicity (the local filesystem) may, for the moment it is applied.
   */
  transaction(operations: readonly StateOperation[]): Promise<void>;

  /** Names of the topologies that have a node of this kind, in code-unit order (`Array#sort`). */
  list(kind: StateKind): Promise<string[]>;

  /**
   * Calls `listener` with the new value (or `undefined` after a delete or the owner's death of an
   * ephemeral node) after every change, until the watch is closed. Changes in quick succession may
   * be coalesced, but the last call always carries the latest value. It is not called for the value
   * present when the watch starts. Watches survive reconnects.
   */
  watch<K extends StateKind>(kind: K, topology: string, listener: StateListener<K>): StateWatch;

  /**
   * Takes the named lock of a topology, waiting up to `timeoutMs` (0: try once); rejects with
   * `LockTimeoutError` naming the holder when it is not free by then. Locks are exclusive across
   * processes and hosts, and not re-entrant: taking a lock one holds already waits like anyone else.
   */
  lock(topology: string, name: LockName, options: { readonly timeoutMs: number }): Promise<StateLock>;
}
