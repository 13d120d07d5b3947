import type { Logger } from '../logging/index.js';
import type { Tuple } from './tuple.js';

/** What a spout or bolt instance knows about itself and the topology it runs in. */
export interface ComponentContext {
  readonly topologyName: string;
  readonly topologyId: string;
  readonly componentName: string;
  /** Unique across the topology. */
  readonly taskId: number;
  /** 0-based index of this instance within its component. */
  readonly componentIndex: number;
  /** Number of instances of this component in the current physical plan: it follows updates. */
  readonly parallelism: number;
  /** Topology config, overlaid with the component's config and any runtime config change. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
  /** Task ids of a component's instances in the current physical plan, sorted; for direct grouping. */
  taskIdsOf(component: string): readonly number[];
}

export interface EmitOptions {
  /** Stream to emit on; `default` when omitted. */
  readonly stream?: string;
}

export interface SpoutEmitOptions extends EmitOptions {
  /**
   * Identifies the tuple to `ack`/`fail` under at-least-once delivery: the spout's `ack` is called
   * with it once every tuple derived from it was acked, `fail` when one failed or the tree did not
   * complete within `topology.messageTimeoutMs`. Without one the tuple is not tracked. Under
   * at-most-once, `ack` follows the emit at once; under effectively-once the id is not used.
   */
  readonly messageId?: unknown;
}

export interface BoltEmitOptions extends EmitOptions {
  /**
   * Input tuples the emitted tuple derives from (at-least-once): their trees complete only once it is
   * acked too, and its failure fails them. A bolt with `autoAck` anchors to the current input.
   */
  readonly anchors?: Tuple | readonly Tuple[];
}

/** A key of {@link State}. */
export type StateKey = string | number;

/**
 * An instance's state under effectively-once delivery: saved with every checkpoint, restored after a
 * failure, and, for a bolt that reads a fields-grouped stream, moved with its keys when the bolt is
 * rescaled. Values are anything a tuple may carry (see "Values" in docs/engine.md).
 *
 * In a bolt with a fields-grouped input, an entry belongs to the key group of the tuple being
 * executed when it is first put: keep entries about that tuple's key (a word's count under the word).
 * Outside `execute` of such a tuple (in `initState`, a tick, `preSave`) entries may be read,
 * replaced and deleted, but not created. Other components hold one state per instance.
 */
export interface State<V = unknown> {
  get(key: StateKey): V | undefined;
  put(key: StateKey, value: V): void;
  delete(key: StateKey): boolean;
  has(key: StateKey): boolean;
  /** Every entry the instance holds. */
  entries(): IterableIterator<[StateKey, V]>;
  readonly size: number;
}

/**
 * Hooks of a component with state (effectively-once). `initState` makes a component stateful: it is
 * called after `open`/`prepare` and before the first tuple, with the state of the latest consistent
 * checkpoint (empty on a first start), and again whenever the topology rolls back to a checkpoint.
 */
export interface StatefulHooks {
  initState?(state: State): void | Promise<void>;
  /** The instance's state is about to be saved for `checkpointId`: write what it keeps elsewhere into it. */
  preSave?(checkpointId: number): void;
  /**
   * Checkpoint `checkpointId` is committed: every instance's state up to it is saved. A sink makes
   * the output it staged up to `preSave(checkpointId)` visible here, exactly once.
   */
  postSave?(checkpointId: number): void | Promise<void>;
}

export interface SpoutOutputCollector {
  /** Emits values in the order of the stream's declared fields. */
  emit(values: readonly unknown[], options?: SpoutEmitOptions): void;
  /** Emits to one task of a component that reads this stream with direct grouping. */
  emitDirect(taskId: number, values: readonly unknown[], options?: SpoutEmitOptions): void;
  /** Records an error in the instance's metrics and log without stopping it. */
  reportError(error: unknown): void;
}

export interface BoltOutputCollector {
  emit(values: readonly unknown[], options?: BoltEmitOptions): void;
  emitDirect(taskId: number, values: readonly unknown[], options?: BoltEmitOptions): void;
  /** Marks an input tuple processed (at-least-once); a no-op under at-most-once. */
  ack(tuple: Tuple): void;
  /** Marks an input tuple failed, so its spout replays it (at-least-once). */
  fail(tuple: Tuple): void;
  reportError(error: unknown): void;
}

/**
 * A source of tuples. The runtime calls `nextTuple` repeatedly while the topology is active and
 * there is room downstream; it emits zero or more tuples and returns promptly.
 */
export interface Spout extends StatefulHooks {
  open?(context: ComponentContext, collector: SpoutOutputCollector): void | Promise<void>;
  /**
   * May return a promise: the spout is not asked again until it settles (or, with `maxInFlight`
   * n, while n are unsettled); what it emits after an `await` leaves at once. A rejection counts as
   * an error, like a throw.
   */
  nextTuple(): void | Promise<void>;
  ack?(messageId: unknown): void;
  fail?(messageId: unknown): void;
  /** Called when the topology is activated (also after `open` if it starts active). */
  activate?(): void;
  /** Called when the topology is deactivated; `nextTuple` is not called until `activate`. */
  deactivate?(): void;
  /**
   * Called with the new config after `ardea update --runtime-config` changed a value, without a
   * restart. Throwing rejects the change: the update fails and the previous values are restored.
   */
  onConfigChange?(config: Readonly<Record<string, unknown>>): void;
  /**
   * Tuples (messages, records) the source holds that this spout has not emitted yet — a queue
   * consumer's lag. Optional; when given, the health manager tells a spout catching up on a backlog
   * from more load arriving, and sizes bolts for the rate data arrives at. Called a few times a
   * second, also while the spout is paused, so it must be cheap.
   */
  backlog?(): number;
  close?(): void | Promise<void>;
}

/** A processing step. `execute` is called once per input tuple, and for tick tuples when enabled. */
export interface Bolt extends StatefulHooks {
  prepare?(context: ComponentContext, collector: BoltOutputCollector): void | Promise<void>;
  /**
   * May return a promise (an `async` execute). Up to the component's `maxInFlight` (default 1) run at
   * once; with `ordered` (the default) their emits and acks are released in input order. A rejection
   * counts as an error and, with autoAck, fails the tuple, like a throw. Emits after an `await` leave
   * at once. In a keyed stateful bolt, state entries created after an `await` belong to the tuple's key.
   */
  execute(tuple: Tuple): void | Promise<void>;
  onConfigChange?(config: Readonly<Record<string, unknown>>): void;
  cleanup?(): void | Promise<void>;
}

/** Chooses target tasks for a custom grouping; it runs in the emitting instance. */
export interface CustomGrouping {
  prepare?(context: { readonly sourceComponent: string; readonly stream: string; readonly targetTasks: readonly number[] }): void;
  /** Task ids (from `targetTasks`) that receive this tuple. */
  chooseTasks(values: readonly unknown[]): readonly number[];
}
