import { describeError, LockTimeoutError, StateConflictError, StateManagerError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import {
  LOCKS_DIRECTORY,
  STATE_LAYOUT,
  type LockName,
  type StateKind,
  type StateListener,
  type StateLock,
  type StateManager,
  type StateOperation,
  type StateRecords,
  type StateWatch,
  type WriteOptions,
} from '../spi/state-manager.js';

interface StoredNode {
  /** The value as JSON, so readers get a copy and nothing that is not plain JSON is ever stored. */
  readonly json: string;
  /** The client whose close removes the node; undefined for a persistent node. */
  readonly owner: InMemoryStateManager | undefined;
}

interface Watcher {
  readonly client: InMemoryStateManager;
  readonly listener: (value: unknown) => void;
}

/**
 * The shared store behind {@link InMemoryStateManager} clients: what ZooKeeper or a state directory is
 * to the real ones. Clients made with the same store see each other's nodes, watches fire across
 * them, locks exclude each other, and a client's ephemeral nodes and locks go when it closes.
 */
export class InMemoryStateStore {
  readonly nodes = new Map<string, StoredNode>();
  readonly watchers = new Map<string, Set<Watcher>>();
  readonly locks = new Map<string, InMemoryStateManager>();
  /** Called whenever a lock is released, so waiting clients look again. */
  readonly lockReleased = new Set<() => void>();
  private clients = 0;

  nextClientNumber(): number {
    return ++this.clients;
  }

  /** Applies writes (undefined: delete) and tells the watchers of each node the value it ends with. */
  apply(writes: ReadonlyArray<readonly [string, StoredNode | undefined]>, logger: Logger | undefined): void {
    for (const [key, node] of writes) {
      if (node) this.nodes.set(key, node);
      else this.nodes.delete(key);
    }
    for (const key of new Set(writes.map(([key]) => key))) {
      const watchers = this.watchers.get(key);
      if (!watchers || watchers.size === 0) continue;
      const json = this.nodes.get(key)?.json;
      for (const watcher of [...watchers]) {
        // Asynchronous, as from a real store: a listener runs after the write that caused it has resolved.
        queueMicrotask(() => {
          if (!this.watchers.get(key)?.has(watcher) || watcher.client.isClosed) return;
          try {
            watcher.listener(json === undefined ? undefined : JSON.parse(json));
          } catch (error) {
            logger?.warn('a state watch listener threw', { node: key, error: describeError(error) });
          }
        });
      }
    }
  }
}

export interface InMemoryStateManagerOptions {
  /** The store to share with other clients (a peer); a fresh, private one when absent. */
  readonly store?: InMemoryStateStore;
  /** Where listener failures are reported. */
  readonly logger?: Logger;
}

/**
 * A {@link StateManager} in memory, for tests of code that needs one (the engine, a health policy, a
 * scheduler plugin's update path) without a state directory or ZooKeeper. It honours the whole
 * contract — `describeStateManagerConformance` runs against it: atomic transactions with `check`,
 * watches, ephemeral nodes that go with the client that wrote them, and locks that exclude other
 * clients and die with their holder. Each instance is one client (one "session"); make peers that
 * share its nodes with `new InMemoryStateManager({ store: client.store })`. Nothing outlives the process.
 */
export class InMemoryStateManager implements StateManager {
  readonly store: InMemoryStateStore;
  private readonly name: string;
  private readonly logger: Logger | undefined;
  private readonly watches = new Set<() => void>();
  private readonly waiting = new Set<(error: StateManagerError) => void>();
  private started = false;
  private closed = false;

  constructor(options: InMemoryStateManagerOptions = {}) {
    this.store = options.store ?? new InMemoryStateStore();
    this.name = `in-memory state client ${this.store.nextClientNumber()}`;
    this.logger = options.logger;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    if (this.closed) throw this.closedError();
    this.started = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const close of [...this.watches]) close();
    for (const reject of [...this.waiting]) reject(new StateManagerError(`${this.name} was closed while waiting for a lock`));
    const owned = [...this.store.nodes].filter(([, node]) => node.owner === this).map(([key]) => [key, undefined] as const);
    this.store.apply(owned, this.logger);
    let released = false;
    for (const [key, holder] of [...this.store.locks]) {
      if (holder !== this) continue;
      this.store.locks.delete(key);
      released = true;
    }
    if (released) this.wakeLockWaiters();
  }

  async get<K extends StateKind>(kind: K, topology: string): Promise<StateRecords[K] | undefined> {
    const json = this.store.nodes.get(this.key(kind, topology))?.json;
    return json === undefined ? undefined : (JSON.parse(json) as StateRecords[K]);
  }

  async set<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    const key = this.key(kind, topology);
    this.store.apply([[key, this.node(kind, topology, value, options)]], this.logger);
  }

  async create<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    const key = this.key(kind, topology);
    const node = this.node(kind, topology, value, options);
    if (this.store.nodes.has(key)) throw this.conflict(kind, topology);
    this.store.apply([[key, node]], this.logger);
  }

  async delete(kind: StateKind, topology: string): Promise<void> {
    const key = this.key(kind, topology);
    if (this.store.nodes.has(key)) this.store.apply([[key, undefined]], this.logger);
  }

  async transaction(operations: readonly StateOperation[]): Promise<void> {
    this.assertOpen();
    // Everything below runs without an await, so no other client's write can come in between.
    for (const operation of operations) {
      if (operation.op !== 'check') continue;
      const json = this.store.nodes.get(this.key(operation.kind, operation.topology))?.json;
      const found = json === undefined ? undefined : (JSON.parse(json) as { id?: unknown }).id;
      if (found !== operation.topologyId) {
        throw new StateConflictError(
          `the transaction expects state node ${this.describeNode(operation.kind, operation.topology)} ` +
            `to hold topology id '${operation.topologyId}', ` +
            `but ${json === undefined ? 'it does not exist' : `it holds '${String(found)}'`}; nothing was written`,
          { code: 'statemgr.precondition' },
        );
      }
    }
    const present = new Map<string, boolean>();
    const writes: Array<readonly [string, StoredNode | undefined]> = [];
    for (const operation of operations) {
      if (operation.op === 'check') continue;
      const key = this.key(operation.kind, operation.topology);
      if (operation.op === 'delete') {
        writes.push([key, undefined]);
        present.set(key, false);
        continue;
      }
      if (operation.op !== 'create' && operation.op !== 'set')
        throw new StateManagerError(`unknown state operation ${JSON.stringify((operation as { op: unknown }).op)}`);
      const node = this.node(operation.kind, operation.topology, operation.value, {});
      if (operation.op === 'create' && (present.get(key) ?? this.store.nodes.has(key)))
        throw this.conflict(operation.kind, operation.topology, 'the transaction');
      writes.push([key, node]);
      present.set(key, true);
    }
    this.store.apply(writes, this.logger);
  }

  async list(kind: StateKind): Promise<string[]> {
    const prefix = `${this.directoryOf(kind)}/`;
    this.assertOpen();
    return [...this.store.nodes.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => key.slice(prefix.length))
      .sort();
  }

  watch<K extends StateKind>(kind: K, topology: string, listener: StateListener<K>): StateWatch {
    const key = this.key(kind, topology);
    const watcher: Watcher = { client: this, listener: listener as (value: unknown) => void };
    const watchers = this.store.watchers.get(key) ?? new Set<Watcher>();
    watchers.add(watcher);
    this.store.watchers.set(key, watchers);
    const close = () => {
      this.watches.delete(close);
      watchers.delete(watcher);
      if (watchers.size === 0 && this.store.watchers.get(key) === watchers) this.store.watchers.delete(key);
    };
    this.watches.add(close);
    return { close };
  }

  async lock(topology: string, name: LockName, options: { readonly timeoutMs: number }): Promise<StateLock> {
    this.assertOpen();
    const key = `${LOCKS_DIRECTORY}/${topology}__${name}`;
    const started = Date.now();
    for (;;) {
      const holder = this.store.locks.get(key);
      if (!holder) break;
      const left = options.timeoutMs - (Date.now() - started);
      if (left <= 0) {
        throw new LockTimeoutError(
          `the ${name} lock of topology '${topology}' is held by ${holder.name} and was not released within ${Date.now() - started} ms`,
          {
            code: 'statemgr.lock-timeout',
          },
        );
      }
      await this.untilLockReleased(left);
      this.assertOpen();
    }
    this.store.locks.set(key, this);
    return {
      release: async () => {
        if (this.store.locks.get(key) !== this) return;
        this.store.locks.delete(key);
        this.wakeLockWaiters();
      },
    };
  }

  /** Resolves when any lock is released or `timeoutMs` has passed; rejects when this client closes. */
  private untilLockReleased(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.store.lockReleased.delete(done);
        this.waiting.delete(fail);
        resolve();
      };
      const fail = (error: StateManagerError) => {
        done();
        reject(error);
      };
      const timer = setTimeout(done, timeoutMs);
      this.store.lockReleased.add(done);
      this.waiting.add(fail);
    });
  }

  private wakeLockWaiters(): void {
    for (const wake of [...this.store.lockReleased]) wake();
  }

  private node(kind: StateKind, topology: string, value: unknown, options: WriteOptions): StoredNode {
    if (value === undefined) throw new StateManagerError(`cannot store undefined as state node ${this.describeNode(kind, topology)}`);
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw new StateManagerError(`state node ${this.describeNode(kind, topology)} must be plain JSON`, { cause: error });
    }
    return { json, owner: options.ephemeral ? this : undefined };
  }

  private key(kind: StateKind, topology: string): string {
    this.assertOpen();
    return `${this.directoryOf(kind)}/${topology}`;
  }

  private directoryOf(kind: StateKind): string {
    const directory = STATE_LAYOUT[kind];
    if (directory === undefined) throw new StateManagerError(`unknown state kind ${JSON.stringify(kind)}`);
    return directory;
  }

  private describeNode(kind: StateKind, topology: string): string {
    return `/${this.directoryOf(kind)}/${topology} (${kind} of topology '${topology}') in ${this.name}'s store`;
  }

  private conflict(kind: StateKind, topology: string, context?: string): StateConflictError {
    return new StateConflictError(
      `${context ? `${context} creates` : 'cannot create'} state ` +
        `node ${this.describeNode(kind, topology)}${context ? ', which' : ': it'} already exists`,
      { code: 'statemgr.conflict' },
    );
  }

  private assertOpen(): void {
    if (this.closed) throw this.closedError();
    if (!this.started) throw new StateManagerError(`${this.name} is not started; call start() first`);
  }

  private closedError(): StateManagerError {
    return new StateManagerError(`${this.name} is closed`);
  }
}
