import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import zookeeper from 'node-zookeeper-client';
import type { ACL, Client, Event as ZkEvent, State, Stat, Transaction } from 'node-zookeeper-client';
import {
  describeError,
  LOCKS_DIRECTORY,
  LockTimeoutError,
  SilentLogger,
  STATE_LAYOUT,
  StateConflictError,
  StateManagerError,
  type LockName,
  type Logger,
  type StateKind,
  type StateListener,
  type StateLock,
  type StateManager,
  type StateOperation,
  type StateRecords,
  type StateWatch,
  type WriteOptions,
} from '@ardea/core/plugin';

const { ACL: AclClass, CreateMode, Exception, Id, Permission, State: ZkState } = zookeeper;

export const DEFAULT_ROOT_PATH = '/ardea';
export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** ZooKeeper refuses nodes above its packet limit (jute.maxbuffer, 1 MiB by default). */
const MAX_NODE_BYTES = 1024 * 1024;
/** How often a write retries after losing a race on a node's version before giving up. */
const MAX_RACE_RETRIES = 10;
const LOCK_NODE_PREFIX = 'lock-';
/** `ConnectionManager.STATES.CONNECTING` of node-zookeeper-client. */
const CONNECTING_STATE = 1;

export interface ZooKeeperAuth {
  readonly scheme: 'digest';
  /** `user:password`. */
  readonly credentials: string;
}

export interface ZooKeeperStateManagerConfig {
  /** `host:port[,host:port…][/chroot]`. */
  readonly connectString: string;
  /** Absolute path under which the layout lives; created at start. Defaults to `/ardea`. */
  readonly rootPath?: string;
  /** Asked of the server, which clamps it to [2, 20] × its tickTime. Defaults to 30 s. */
  readonly sessionTimeoutMs?: number;
  /** How long `start` waits for a session, and how long an operation waits for a lost connection to come back. Defaults to 10 s. */
  readonly connectTimeoutMs?: number;
  /** When set, the client authenticates and every node it creates is readable and writable by that identity only. */
  readonly auth?: ZooKeeperAuth;
}

/** The ZooKeeper session an instance currently holds, for diagnostics. */
export interface ZooKeeperSessionInfo {
  /** Session id as ZooKeeper prints it (`0x…`). */
  readonly id: string;
  readonly idBytes: Buffer;
  readonly password: Buffer;
}

type Phase = 'new' | 'starting' | 'started' | 'closing' | 'closed';

interface WatchEntry {
  readonly path: string;
  readonly listener: (value: unknown) => void;
  /** Identity (`czxid:mzxid`, or `absent`) of the last state reported or, before the first read, `null`. */
  known: string | null;
  closed: boolean;
  running: boolean;
  dirty: boolean;
  readonly trigger: (event: ZkEvent) => void;
}

interface HeldLock {
  readonly path: string;
  readonly description: string;
  lost: boolean;
  released: boolean;
}

interface MultiOp {
  readonly type: 'create' | 'set' | 'delete' | 'check';
  readonly path: string;
}

interface NodeSnapshot {
  readonly identity: string;
  readonly value: unknown;
}

/**
 * {@link StateManager} on ZooKeeper, with Heron's node layout under a configurable root:
 * `<root>/<directory>/<topology>` per kind (see `STATE_LAYOUT`) holding JSON, and
 * `<root>/locks/<topology>__<lock>` as the parent of the lock recipe's contender nodes.
 *
 * A lost connection is survived by the client library, which reconnects with the same session and
 * re-sends its watches. An expired session is replaced by a new one: this instance re-creates the
 * ephemeral nodes it owns, re-registers its watches and reports what changed meanwhile. Locks are not
 * re-taken after an expiry, because another process may hold them by then.
 */
export class ZooKeeperStateManager implements StateManager {
  readonly connectString: string;
  readonly rootPath: string;
  private readonly sessionTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly auth: ZooKeeperAuth | undefined;
  private readonly acls: ACL[];
  private readonly logger: Logger;
  /** Written into lock nodes so that a timed-out waiter can say who holds the lock. */
  private readonly owner = { id: randomUUID(), host: os.hostname(), pid: process.pid };

  private phase: Phase = 'new';
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private client: Client | undefined;
  /** A session that replaced an expired one and still lacks this instance's ephemerals and watches. */
  private unrestored: Client | undefined;
  private restoring = false;
  private handshakeWatchdog: NodeJS.Timeout | undefined;
  private connectionWaiters = new Set<() => void>();
  private readonly watches = new Set<WatchEntry>();
  private readonly ownEphemerals = new Map<string, Buffer>();
  private readonly heldLocks = new Set<HeldLock>();
  private readonly lockWaits = new Set<() => void>();
  /** Lock nodes whose creation got no answer: they may exist, and nobody would ever delete them. */
  private readonly orphanLockTokens = new Set<string>();

  constructor(config: ZooKeeperStateManagerConfig, logger: Logger = new SilentLogger()) {
    this.connectString = config.connectString;
    this.rootPath = config.rootPath ?? DEFAULT_ROOT_PATH;
    this.sessionTimeoutMs = config.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.connectTimeoutMs = config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.auth = config.auth;
    this.logger = logger;
    // eslint-disable-next-line no-control-regex -- ZooKeeper refuses control characters in a path
    if (!/^(\/[^/\u0000-\u001f\u007f]+)+$/.test(this.rootPath) || this.rootPath.split('/').some((part) => part === '.' || part === '..')) {
      throw new StateManagerError(
        `ZooKeeper rootPath '${this.rootPath}' is invalid; expected an absolute path such as /ardea, without a trailing slash`,
      );
    }
    this.acls = this.auth ? [new AclClass(Permission.ALL, new Id('digest', digestId(this.auth.credentials)))] : openAcl();
  }

  /** The session this instance holds now; it changes when ZooKeeper expires the old one. */
  get session(): ZooKeeperSessionInfo | undefined {
    const client = this.client;
    if (!client || client.getState() !== ZkState.SYNC_CONNECTED) return undefined;
    const idBytes = client.getSessionId();
    return { id: `0x${idBytes.toString('hex')}`, idBytes, password: client.getSessionPassword() };
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closing' || this.phase === 'closed') {
      throw new StateManagerError(`the ZooKeeper state manager for ${this.connectString}${this.rootPath} is closed; create a new one`);
    }
    this.starting ??= this.connectAndPrepare().then(
      () => {
        this.phase = 'started';
        for (const entry of this.watches) this.schedule(entry);
      },
      (error: unknown) => {
        this.phase = 'new';
        this.starting = undefined;
        throw error;
      },
    );
    this.phase = 'starting';
    return this.starting;
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async get<K extends StateKind>(kind: K, topology: string): Promise<StateRecords[K] | undefined> {
    const path = this.nodePath(kind, topology);
    const client = await this.live('read', path);
    try {
      const [data] = await this.call<[Buffer, Stat]>('read', path, (done) => client.getData(path, (e, d, s) => done(e, [d, s])));
      return this.decode(path, data) as StateRecords[K];
    } catch (error) {
      if (zkCode(error) === Exception.NO_NODE) return undefined;
      throw this.failure('read', path, error);
    }
  }

  async set<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    const path = this.nodePath(kind, topology);
    const data = this.encode(path, value);
    const ephemeral = options.ephemeral === true;
    const mode = ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT;
    const client = await this.live('write', path);
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      try {
        const stat = await this.stat(client, path);
        if (!stat) {
          await this.call('write', path, (done) => client.create(path, data, this.acls, mode, done)).catch((error: unknown) => {
            throw zkCode(error) === Exception.NO_NODE ? this.missingDirectory('write', path, error) : error;
          });
        } else if (ephemeral ? isOwnedBy(stat, client) : !isEphemeral(stat)) {
          await this.call('write', path, (done) => client.setData(path, data, stat.version, done));
        } else {
          // ZooKeeper cannot turn a node ephemeral (or persistent, or ours) in place: replace it in one multi.
          const txn = client.transaction();
          removeVersioned(txn, path, stat.version);
          txn.create(path, data, this.acls, mode);
          await this.commit(txn, [
            { type: 'delete', path },
            { type: 'create', path },
          ]);
        }
        this.trackEphemeral(path, ephemeral ? data : undefined);
        return;
      } catch (error) {
        if (isRace(error)) continue;
        throw this.failure('write', path, error);
      }
    }
    throw new StateManagerError(
      `could not write ${path} in ZooKeeper at ${this.connectString}: it kept changing under ${MAX_RACE_RETRIES} attempts`,
    );
  }

  async create<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    const path = this.nodePath(kind, topology);
    const data = this.encode(path, value);
    const ephemeral = options.ephemeral === true;
    const client = await this.live('create', path);
    try {
      await this.call('create', path, (done) =>
        client.create(path, data, this.acls, ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT, done),
      );
    } catch (error) {
      if (zkCode(error) === Exception.NODE_EXISTS)
        throw new StateConflictError(`${path} already exists in ZooKeeper at ${this.connectString}`, { cause: error });
      throw this.failure('create', path, error);
    }
    this.trackEphemeral(path, ephemeral ? data : undefined);
  }

  async delete(kind: StateKind, topology: string): Promise<void> {
    const path = this.nodePath(kind, topology);
    const client = await this.live('delete', path);
    try {
      await this.call('delete', path, (done) => client.remove(path, -1, done));
    } catch (error) {
      if (zkCode(error) !== Exception.NO_NODE) throw this.failure('delete', path, error);
    }
    this.ownEphemerals.delete(path);
  }

  async transaction(operations: readonly StateOperation[]): Promise<void> {
    if (operations.length === 0) return;
    const preconditions = operations
      .filter((operation) => operation.op === 'check')
      .map((check) => ({ check, path: this.nodePath(check.kind, check.topology) }));
    const prepared = operations.flatMap((operation) =>
      operation.op === 'check'
        ? []
        : [
            {
              operation,
              path: this.nodePath(operation.kind, operation.topology),
              data: operation.op === 'delete' ? undefined : this.encode(this.nodePath(operation.kind, operation.topology), operation.value),
            },
          ],
    );
    const paths = [...new Set([...preconditions.map((p) => p.path), ...prepared.map((p) => p.path)])];
    const describe = `a transaction on ${paths.join(', ')}`;
    const client = await this.live('commit', describe);
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      try {
        const stats = new Map<string, Stat | null>();
        const txn = client.transaction();
        const ops: MultiOp[] = [];
        // Checks go first in the multi, each pinned to the version whose content it judged: they see the
        // state the transaction starts from, and a change after the read fails the multi (a race, retried).
        for (const { check, path } of preconditions) {
          if (stats.has(path)) continue;
          const [data, stat] = await this.call<[Buffer, Stat] | [undefined, null]>('check', path, (done) =>
            client.getData(path, (e, d, st) => (zkCode(e) === Exception.NO_NODE ? done(null, [undefined, null]) : done(e, [d, st]))),
          );
          const found = stat ? (this.decode(path, data) as { id?: unknown } | null)?.id : undefined;
          if (!stat || found !== check.topologyId) {
            throw new StateConflictError(
              `the transaction expects ${path} in ZooKeeper at ${this.connectString} to hold topology id '${check.topologyId}', ` +
                `but ${stat ? `it holds '${String(found)}'` : 'it does not exist'}; nothing was written`,
              { code: 'statemgr.precondition' },
            );
          }
          stats.set(path, stat);
          checkVersioned(txn, path, stat.version);
          ops.push({ type: 'check', path });
        }
        for (const path of paths) if (!stats.has(path)) stats.set(path, await this.stat(client, path));
        // Replays the operations against what was read, so that the multi carries the versions seen:
        // a concurrent change makes ZooKeeper reject the whole multi, and the next attempt re-reads.
        const view = new Map<string, { exists: boolean; version: number }>();
        for (const [path, stat] of stats) view.set(path, { exists: stat !== null, version: stat?.version ?? -1 });
        for (const { operation, path, data } of prepared) {
          const node = view.get(path)!;
          if (operation.op === 'create') {
            if (node.exists)
              throw new StateConflictError(`${path} already exists in ZooKeeper at ${this.connectString}; the transaction applied nothing`);
            txn.create(path, data!, this.acls, CreateMode.PERSISTENT);
            ops.push({ type: 'create', path });
          } else if (operation.op === 'set') {
            if (node.exists) setVersioned(txn, path, data!, node.version);
            else txn.create(path, data!, this.acls, CreateMode.PERSISTENT);
            ops.push({ type: node.exists ? 'set' : 'create', path });
          } else if (node.exists) {
            removeVersioned(txn, path, node.version);
            ops.push({ type: 'delete', path });
          }
          // Later ops on a node the multi already touched are ordered by the multi itself.
          view.set(path, { exists: operation.op !== 'delete', version: -1 });
        }
        if (ops.length > 0) await this.commit(txn, ops);
        for (const { operation, path, data } of prepared) {
          if (operation.op === 'delete' || operation.op === 'create') this.ownEphemerals.delete(path);
          else if (this.ownEphemerals.has(path)) this.ownEphemerals.set(path, data!);
        }
        return;
      } catch (error) {
        if (error instanceof StateManagerError) throw error;
        const failedOp = (error as { failedOp?: MultiOp }).failedOp;
        if (zkCode(error) === Exception.NO_NODE && failedOp?.type === 'create') throw this.missingDirectory('commit', failedOp.path, error);
        if (isRace(error)) continue;
        throw this.failure('commit', describe, error);
      }
    }
    throw new StateManagerError(
      `could not commit ${describe} in ZooKeeper at ${this.connectString}: the nodes kept changing under ${MAX_RACE_RETRIES} attempts`,
    );
  }

  async list(kind: StateKind): Promise<string[]> {
    const path = `${this.rootPath}/${STATE_LAYOUT[kind]}`;
    const client = await this.live('list', path);
    try {
      const children = await this.call<string[]>('list', path, (done) => client.getChildren(path, (e, c) => done(e, c)));
      return [...children].sort();
    } catch (error) {
      if (zkCode(error) === Exception.NO_NODE) return [];
      throw this.failure('list', path, error);
    }
  }

  watch<K extends StateKind>(kind: K, topology: string, listener: StateListener<K>): StateWatch {
    const path = this.nodePath(kind, topology);
    if (this.phase === 'closing' || this.phase === 'closed') {
      throw new StateManagerError(`cannot watch ${path}: the ZooKeeper state manager is closed`);
    }
    const entry: WatchEntry = {
      path,
      listener: listener as (value: unknown) => void,
      known: null,
      closed: false,
      running: false,
      dirty: false,
      trigger: () => this.schedule(entry),
    };
    this.watches.add(entry);
    this.schedule(entry);
    return {
      close: () => {
        entry.closed = true;
        this.watches.delete(entry);
      },
    };
  }

  async lock(topology: string, name: LockName, options: { readonly timeoutMs: number }): Promise<StateLock> {
    const deadline = Date.now() + options.timeoutMs;
    const parent = `${this.rootPath}/${LOCKS_DIRECTORY}/${this.nodeName(topology)}__${name}`;
    const description = `${name} lock of topology '${topology}' (${parent})`;
    const client = await this.live('lock', parent);
    const token = randomUUID();
    let ours: string;
    try {
      ours = await this.createContender(client, parent, token);
    } catch (error) {
      if (zkCode(error) === Exception.CONNECTION_LOSS || error instanceof StateManagerError)
        this.orphanLockTokens.add(`${parent}\n${token}`);
      throw this.failure('take the', description, error);
    }
    const ourName = ours.slice(parent.length + 1);
    try {
      for (;;) {
        const contenders = await this.contenders(client, parent);
        const position = contenders.indexOf(ourName);
        if (position < 0) throw new StateManagerError(`lost the ZooKeeper session while waiting for the ${description}`);
        if (position === 0) break;
        const predecessor = `${parent}/${contenders[position - 1]!}`;
        const remaining = deadline - Date.now();
        if (remaining <= 0 || !(await this.awaitDeletion(client, predecessor, remaining))) {
          const holder = await this.describeHolder(client, `${parent}/${contenders[0]!}`);
          throw new LockTimeoutError(`the ${description} is held by ${holder}; it was not released within ${options.timeoutMs} ms`);
        }
      }
    } catch (error) {
      await this.call('release', ours, (done) => client.remove(ours, -1, done)).catch(() => undefined);
      if (error instanceof StateManagerError) throw error;
      throw this.failure('take the', description, error);
    }
    const held: HeldLock = { path: ours, description, lost: false, released: false };
    this.heldLocks.add(held);
    return { release: () => this.release(held, parent) };
  }

  // ---------------------------------------------------------------------------------------------
  // Connection and session

  private async connectAndPrepare(): Promise<void> {
    const client = this.newClient();
    this.client = client;
    const connected = await this.waitForConnection(this.connectTimeoutMs);
    if (!connected) {
      this.client = undefined;
      clearInterval(this.handshakeWatchdog);
      client.close();
      throw new StateManagerError(
        `could not connect to ZooKeeper at ${this.connectString} within ${this.connectTimeoutMs} ms; ` +
          `is it running? start one with scripts/zk-up.sh`,
      );
    }
    try {
      await this.prepareLayout(client);
    } catch (error) {
      this.client = undefined;
      clearInterval(this.handshakeWatchdog);
      client.close();
      throw error;
    }
    this.logger.info('connected to ZooKeeper', { connectString: this.connectString, rootPath: this.rootPath, session: this.session?.id });
  }

  private newClient(): Client {
    let client: Client;
    try {
      client = zookeeper.createClient(this.connectString, { sessionTimeout: this.sessionTimeoutMs, spinDelay: 1000, retries: 0 });
    } catch (error) {
      throw new StateManagerError(`invalid ZooKeeper connectString '${this.connectString}': ${describeError(error)}`, { cause: error });
    }
    if (this.auth) client.addAuthInfo(this.auth.scheme, Buffer.from(this.auth.credentials));
    client.on('state', (state: State) => this.onState(client, state));
    client.connect();
    this.watchHandshakes(client);
    return client;
  }

  /**
   * The client library waits forever for the server's answer to its connect request. A server that
   * accepts the TCP connection and never answers (seen while ZooKeeper is still starting up) would
   * leave this instance disconnected for good, so a handshake that stays unanswered for a whole
   * period is cut, which makes the library try again.
   */
  private watchHandshakes(client: Client): void {
    clearInterval(this.handshakeWatchdog);
    const periodMs = Math.min(Math.max(Math.floor(this.sessionTimeoutMs / 3), 1000), 10_000);
    let suspect: unknown;
    this.handshakeWatchdog = setInterval(() => {
      const socket = stalledHandshakeSocket(client);
      if (socket && socket === suspect) {
        this.logger.warn('ZooKeeper accepted the connection but did not answer the handshake; retrying', {
          connectString: this.connectString,
        });
        socket.destroy();
        suspect = undefined;
      } else {
        suspect = socket;
      }
    }, periodMs);
    this.handshakeWatchdog.unref();
  }

  private onState(client: Client, state: State): void {
    if (client !== this.client) return;
    if (state === ZkState.SYNC_CONNECTED) {
      for (const wake of [...this.connectionWaiters]) wake();
      if (this.phase !== 'started') return;
      this.logger.info('reconnected to ZooKeeper', { connectString: this.connectString, session: this.session?.id });
      this.purgeOrphanLocks(client);
      if (this.unrestored === client) this.restore(client);
      else for (const entry of this.watches) this.schedule(entry);
    } else if (state === ZkState.DISCONNECTED) {
      if (this.phase === 'started')
        this.logger.warn('lost the connection to ZooKeeper; reconnecting', { connectString: this.connectString });
    } else if (state === ZkState.EXPIRED) {
      if (this.phase === 'started') this.replaceSession(client);
    } else if (state === ZkState.AUTH_FAILED) {
      this.logger.error('ZooKeeper rejected the credentials', { connectString: this.connectString, scheme: this.auth?.scheme });
    }
  }

  /**
   * The server dropped the session, and with it this instance's ephemeral nodes, locks and watches.
   * A new session is opened at once; the client library keeps trying until a server answers.
   */
  private replaceSession(expired: Client): void {
    this.logger.warn('ZooKeeper session expired; opening a new one', { connectString: this.connectString });
    expired.close();
    for (const held of this.heldLocks) {
      held.lost = true;
      this.logger.error(`the ${held.description} was lost with the expired ZooKeeper session`);
    }
    this.heldLocks.clear();
    for (const wake of [...this.lockWaits]) wake();
    let client: Client;
    try {
      client = this.newClient();
    } catch (error) {
      this.logger.error('could not open a new ZooKeeper session', { error });
      return;
    }
    this.client = client;
    this.unrestored = client;
  }

  /** Runs once the new session is connected; a restore cut short by a lost connection runs again on reconnect. */
  private restore(client: Client): void {
    if (this.restoring) return;
    this.restoring = true;
    this.restoreSession(client)
      .then(
        () => {
          if (this.unrestored === client) this.unrestored = undefined;
        },
        (error: unknown) => {
          this.logger.error('could not restore state in the new ZooKeeper session; retrying after reconnect', {
            error: describeError(error),
          });
        },
      )
      .finally(() => {
        this.restoring = false;
      });
  }

  private async restoreSession(client: Client): Promise<void> {
    await this.prepareLayout(client);
    for (const [path, data] of [...this.ownEphemerals]) {
      if (client !== this.client) return;
      try {
        await this.call('create', path, (done) => client.create(path, data, this.acls, CreateMode.EPHEMERAL, done));
      } catch (error) {
        if (zkCode(error) !== Exception.NODE_EXISTS) throw this.failure('re-create', path, error);
        // Someone else wrote the node while this instance had no session; theirs is the newer truth.
        this.ownEphemerals.delete(path);
        this.logger.warn('an ephemeral node was taken over while the session was expired; not re-creating it', { path });
      }
    }
    this.logger.info('restored the ZooKeeper session', {
      session: this.session?.id,
      ephemerals: this.ownEphemerals.size,
      watches: this.watches.size,
    });
    for (const entry of this.watches) this.schedule(entry);
  }

  private async prepareLayout(client: Client): Promise<void> {
    const segments = this.rootPath.split('/').slice(1);
    for (let i = 1; i <= segments.length; i++) {
      const path = `/${segments.slice(0, i).join('/')}`;
      const isRoot = i === segments.length;
      // The root's ancestors stay open: they may be shared with other applications.
      await this.ensureNode(client, path, isRoot ? this.acls : openAcl());
    }
    for (const directory of [...Object.values(STATE_LAYOUT), LOCKS_DIRECTORY]) {
      await this.ensureNode(client, `${this.rootPath}/${directory}`, this.acls);
    }
    // Creating nodes that already exist needs no permission, so reading is what proves that this
    // identity may use a root another identity owns; better to fail at start than on first use.
    await this.call('read', this.rootPath, (done) => client.getChildren(this.rootPath, (e, c) => done(e, c))).catch((error: unknown) => {
      throw this.failure('read', this.rootPath, error);
    });
    if (this.auth) await this.warnIfRootIsOpen(client);
  }

  private async ensureNode(client: Client, path: string, acls: ACL[]): Promise<void> {
    // Check before creating: ZooKeeper checks a create against the parent's ACL before it checks
    // existence, so creating an existing node fails with NO_AUTH wherever the parent is restricted.
    if (await this.stat(client, path).catch((error: unknown) => Promise.reject(this.failure('check', path, error)))) return;
    try {
      await this.call('create', path, (done) => client.create(path, Buffer.alloc(0), acls, CreateMode.PERSISTENT, done));
    } catch (error) {
      if (zkCode(error) !== Exception.NODE_EXISTS) throw this.failure('create', path, error);
    }
  }

  private async warnIfRootIsOpen(client: Client): Promise<void> {
    const acls = await this.call<ACL[]>('read the ACL of', this.rootPath, (done) =>
      client.getACL(this.rootPath, (e, a) => done(e, a)),
    ).catch(() => []);
    if (acls.some((acl) => acl.id.scheme === 'world')) {
      this.logger.warn('the ZooKeeper root was created without auth and is readable by anyone; recreate it to restrict it', {
        rootPath: this.rootPath,
      });
    }
  }

  private async shutdown(): Promise<void> {
    if (this.phase === 'starting') await this.starting?.catch(() => undefined);
    this.phase = 'closing';
    for (const entry of this.watches) entry.closed = true;
    this.watches.clear();
    for (const wake of [...this.lockWaits]) wake();
    for (const wake of [...this.connectionWaiters]) wake();
    const client = this.client;
    if (client && client.getState() === ZkState.SYNC_CONNECTED) {
      // Closing the session makes the server delete this instance's ephemeral nodes and lock nodes at
      // once; waiting for the server to hang up means they are gone when close() resolves.
      const hungUp = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.connectTimeoutMs);
        client.once('disconnected', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      client.close();
      await hungUp;
    } else {
      client?.close();
    }
    clearInterval(this.handshakeWatchdog);
    this.client = undefined;
    this.ownEphemerals.clear();
    this.heldLocks.clear();
    this.phase = 'closed';
    this.logger.debug('closed the ZooKeeper state manager', { connectString: this.connectString });
  }

  /** The connected client, waiting up to `connectTimeoutMs` for a lost connection to come back. */
  private async live(verb: string, path: string): Promise<Client> {
    if (this.phase === 'closing' || this.phase === 'closed') {
      throw new StateManagerError(`cannot ${verb} ${path}: the ZooKeeper state manager is closed`);
    }
    if (this.phase !== 'started') {
      throw new StateManagerError(`cannot ${verb} ${path}: the ZooKeeper state manager has not been started; call start() first`);
    }
    if (this.client?.getState() === ZkState.SYNC_CONNECTED) return this.client;
    if ((await this.waitForConnection(this.connectTimeoutMs)) && this.client) return this.client;
    if (this.phase !== 'started') throw new StateManagerError(`cannot ${verb} ${path}: the ZooKeeper state manager is closed`);
    throw new StateManagerError(
      `cannot ${verb} ${path}: not connected to ZooKeeper at ${this.connectString} (no connection for ${this.connectTimeoutMs} ms)`,
    );
  }

  private waitForConnection(timeoutMs: number): Promise<boolean> {
    const connected = () => this.client?.getState() === ZkState.SYNC_CONNECTED;
    if (connected()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.connectionWaiters.delete(wake);
        resolve(connected() && this.phase !== 'closing' && this.phase !== 'closed');
      };
      const timer = setTimeout(wake, timeoutMs);
      this.connectionWaiters.add(wake);
    });
  }

  /**
   * One request, bounded in time: the client library has no read timeout, so a server that stops
   * answering would otherwise leave the caller waiting forever.
   */
  private call<T = unknown>(verb: string, path: string, run: (done: (error: unknown, result?: T) => void) => void): Promise<T> {
    const timeoutMs = Math.max(this.sessionTimeoutMs, this.connectTimeoutMs);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new StateManagerError(
            `could not ${verb} ${path}: ZooKeeper at ${this.connectString} did not answer within ${timeoutMs} ms; the outcome is unknown`,
          ),
        );
      }, timeoutMs);
      const done = (error: unknown, result?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(result as T);
      };
      try {
        run(done);
      } catch (error) {
        done(new StateManagerError(`could not ${verb} ${path}: ${describeError(error)}`, { cause: error }));
      }
    });
  }

  private stat(client: Client, path: string): Promise<Stat | null> {
    return this.call<Stat | null>('check', path, (done) => client.exists(path, (e, s) => done(e, s ?? null)));
  }

  /** Commits a multi; a failure carries the op that failed (`failedOp`), which ZooKeeper reports by position. */
  private async commit(txn: Transaction, ops: readonly MultiOp[]): Promise<void> {
    await this.call('commit', `a transaction on ${[...new Set(ops.map((op) => op.path))].join(', ')}`, (done) =>
      txn.commit((error, results: unknown) => {
        if (!error) {
          done(null);
          return;
        }
        const failedAt = Array.isArray(results) ? results.findIndex((r: { err?: number }) => typeof r.err === 'number' && r.err !== 0) : -1;
        done(Object.assign(error, { failedOp: failedAt >= 0 ? ops[failedAt] : undefined }));
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Watches

  private schedule(entry: WatchEntry): void {
    if (entry.closed) return;
    entry.dirty = true;
    if (entry.running) return;
    entry.running = true;
    void this.pump(entry);
  }

  /** Re-reads a watched node until nothing changed during the read, reporting each new state once. */
  private async pump(entry: WatchEntry): Promise<void> {
    try {
      while (entry.dirty && !entry.closed) {
        entry.dirty = false;
        const client = this.client;
        if (!client || client.getState() !== ZkState.SYNC_CONNECTED) return;
        let snapshot: NodeSnapshot;
        try {
          snapshot = await this.readAndWatch(client, entry);
        } catch (error) {
          // The 'connected' handler schedules every watch again once there is a session to read with.
          this.logger.debug('could not re-arm a ZooKeeper watch; retrying after reconnect', {
            path: entry.path,
            error: describeError(error),
          });
          return;
        }
        if (entry.closed) return;
        if (entry.known === null) {
          entry.known = snapshot.identity;
        } else if (entry.known !== snapshot.identity) {
          entry.known = snapshot.identity;
          try {
            entry.listener(snapshot.value);
          } catch (error) {
            this.logger.error('a state watch listener threw', { path: entry.path, error: describeError(error) });
          }
        }
      }
    } finally {
      entry.running = false;
    }
  }

  /** Reads the node and leaves a one-shot watch on it in the same request, so no change slips between. */
  private async readAndWatch(client: Client, entry: WatchEntry): Promise<NodeSnapshot> {
    for (;;) {
      try {
        const [data, stat] = await this.call<[Buffer, Stat]>('watch', entry.path, (done) =>
          client.getData(entry.path, entry.trigger, (e, d, s) => done(e, [d, s])),
        );
        return { identity: `${stat.czxid.toString('hex')}:${stat.mzxid.toString('hex')}`, value: this.decode(entry.path, data) };
      } catch (error) {
        if (zkCode(error) !== Exception.NO_NODE) throw error;
      }
      const stat = await this.call<Stat | null>('watch', entry.path, (done) =>
        client.exists(entry.path, entry.trigger, (e, s) => done(e, s ?? null)),
      );
      if (!stat) return { identity: 'absent', value: undefined };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Locks

  private async createContender(client: Client, parent: string, token: string): Promise<string> {
    const data = Buffer.from(JSON.stringify({ ...this.owner, since: new Date().toISOString() }));
    for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
      await this.ensureNode(client, parent, this.acls);
      try {
        return await this.call<string>('lock', parent, (done) =>
          client.create(`${parent}/${LOCK_NODE_PREFIX}${token}-`, data, this.acls, CreateMode.EPHEMERAL_SEQUENTIAL, done),
        );
      } catch (error) {
        // A releaser removed the empty parent between our check and our create.
        if (zkCode(error) !== Exception.NO_NODE) throw error;
      }
    }
    throw new StateManagerError(`could not create a contender node under ${parent}: the node kept disappearing`);
  }

  /** Contender names, lowest sequence number (the holder) first. */
  private async contenders(client: Client, parent: string): Promise<string[]> {
    const children = await this.call<string[]>('lock', parent, (done) => client.getChildren(parent, (e, c) => done(e, c)));
    return children.filter((child) => child.startsWith(LOCK_NODE_PREFIX)).sort((a, b) => sequenceOf(a) - sequenceOf(b));
  }

  /** Resolves true once `path` is gone, false when `timeoutMs` passes first. */
  private async awaitDeletion(client: Client, path: string, timeoutMs: number): Promise<boolean> {
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.lockWaits.add(wake);
    try {
      const stat = await this.call<Stat | null>('lock', path, (done) =>
        client.exists(
          path,
          () => wake(),
          (e, s) => done(e, s ?? null),
        ),
      );
      if (!stat) return true;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([changed, timedOut]);
      clearTimeout(timer);
      if (this.phase !== 'started')
        throw new StateManagerError(`the ZooKeeper state manager was closed while waiting for the lock ${path}`);
      // Woken by the watch, a session change or close: the caller re-reads the contenders.
      return outcome !== 'timeout';
    } finally {
      this.lockWaits.delete(wake);
    }
  }

  private async describeHolder(client: Client, path: string): Promise<string> {
    try {
      const data = await this.call<Buffer>('read', path, (done) => client.getData(path, (e, d) => done(e, d)));
      const holder = JSON.parse(data.toString('utf8')) as { host?: string; pid?: number; since?: string };
      return `pid ${holder.pid ?? '?'} on ${holder.host ?? '?'} since ${holder.since ?? '?'} (${path})`;
    } catch {
      return `an unknown holder (${path})`;
    }
  }

  private async release(held: HeldLock, parent: string): Promise<void> {
    if (held.released || held.lost || this.phase === 'closed' || this.phase === 'closing') return;
    const client = await this.live('release', held.path);
    try {
      await this.call('release', held.path, (done) => client.remove(held.path, -1, done));
    } catch (error) {
      if (zkCode(error) !== Exception.NO_NODE) throw this.failure('release', held.description, error);
    }
    held.released = true;
    this.heldLocks.delete(held);
    // The parent is only a meeting point; removing it when empty keeps killed topologies from leaving
    // one node behind per lock. Someone waiting keeps it non-empty, and a racing creator re-creates it.
    await this.call('release', parent, (done) => client.remove(parent, -1, done)).catch(() => undefined);
  }

  private purgeOrphanLocks(client: Client): void {
    for (const entry of [...this.orphanLockTokens]) {
      const [parent, token] = entry.split('\n') as [string, string];
      this.contenders(client, parent)
        .then(async (names) => {
          for (const name of names.filter((n) => n.startsWith(`${LOCK_NODE_PREFIX}${token}-`))) {
            await this.call('release', `${parent}/${name}`, (done) => client.remove(`${parent}/${name}`, -1, done));
          }
          this.orphanLockTokens.delete(entry);
        })
        .catch((error: unknown) => {
          if (zkCode(error) === Exception.NO_NODE) this.orphanLockTokens.delete(entry);
        });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Paths, encoding, errors

  private nodePath(kind: StateKind, topology: string): string {
    const directory = STATE_LAYOUT[kind];
    if (directory === undefined) throw new StateManagerError(`unknown state kind '${String(kind)}'`);
    return `${this.rootPath}/${directory}/${this.nodeName(topology)}`;
  }

  private nodeName(topology: string): string {
    // eslint-disable-next-line no-control-regex -- ZooKeeper refuses control characters in a node name
    if (!topology || topology === '.' || topology === '..' || /[/\u0000-\u001f\u007f]/.test(topology)) {
      throw new StateManagerError(`topology name '${topology}' cannot be a ZooKeeper node name (no '/', control characters, '.' or '..')`);
    }
    return topology;
  }

  private encode(path: string, value: unknown): Buffer {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new StateManagerError(`cannot write ${path}: the value is not JSON-serialisable: ${describeError(error)}`, { cause: error });
    }
    if (text === undefined) throw new StateManagerError(`cannot write ${path}: the value is not JSON-serialisable`);
    const data = Buffer.from(text, 'utf8');
    if (data.length > MAX_NODE_BYTES) {
      throw new StateManagerError(
        `cannot write ${path}: the record is ${data.length} bytes and a ZooKeeper node holds at most ${MAX_NODE_BYTES}`,
      );
    }
    return data;
  }

  private decode(path: string, data: Buffer | undefined | null): unknown {
    try {
      return JSON.parse((data ?? Buffer.alloc(0)).toString('utf8'));
    } catch (error) {
      throw new StateManagerError(`${path} in ZooKeeper at ${this.connectString} does not hold JSON: ${describeError(error)}`, {
        cause: error,
      });
    }
  }

  private missingDirectory(verb: string, path: string, error: unknown): StateManagerError {
    return new StateManagerError(
      `could not ${verb} ${path} in ZooKeeper at ${this.connectString}: ` +
        `its directory is missing; was ${this.rootPath} deleted while in use?`,
      { cause: error },
    );
  }

  private trackEphemeral(path: string, data: Buffer | undefined): void {
    if (data) this.ownEphemerals.set(path, data);
    else this.ownEphemerals.delete(path);
  }

  private failure(verb: string, target: string, error: unknown): StateManagerError {
    if (error instanceof StateManagerError) return error;
    const code = zkCode(error);
    const failedPath = (error as { failedOp?: MultiOp } | undefined)?.failedOp?.path;
    const where = failedPath && failedPath !== target ? `${target} (failed at ${failedPath})` : target;
    let reason: string;
    switch (code) {
      case Exception.NO_AUTH:
        reason = this.auth
          ? 'not authorised (NO_AUTH) for the configured identity'
          : 'not authorised (NO_AUTH); the node is protected, configure auth';
        break;
      case Exception.AUTH_FAILED:
        reason = 'authentication failed (AUTH_FAILED)';
        break;
      case Exception.CONNECTION_LOSS:
        reason = 'the connection was lost (CONNECTION_LOSS); the change may or may not have been applied';
        break;
      case Exception.SESSION_EXPIRED:
        reason = 'the session expired (SESSION_EXPIRED)';
        break;
      case Exception.NOT_EMPTY:
        reason = 'the node has children (NOT_EMPTY)';
        break;
      default:
        reason = describeError(error);
    }
    return new StateManagerError(`could not ${verb} ${where} in ZooKeeper at ${this.connectString}: ${reason}`, { cause: error });
  }
}

function openAcl(): ACL[] {
  return [new AclClass(Permission.ALL, new Id('world', 'anyone'))];
}

/** ZooKeeper's digest identity: `user:base64(sha1(user:password))`. */
export function digestId(credentials: string): string {
  const user = credentials.slice(0, credentials.indexOf(':'));
  return `${user}:${createHash('sha1').update(credentials).digest('base64')}`;
}

function zkCode(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && typeof (error as { getCode?: unknown }).getCode === 'function') {
    return (error as { getCode(): number }).getCode();
  }
  return undefined;
}

/** A concurrent writer changed the node between our read and our write: read again and retry. */
function isRace(error: unknown): boolean {
  const code = zkCode(error);
  return code === Exception.BAD_VERSION || code === Exception.NO_NODE || code === Exception.NODE_EXISTS;
}

function isEphemeral(stat: Stat): boolean {
  return stat.ephemeralOwner.some((byte) => byte !== 0);
}

function isOwnedBy(stat: Stat, client: Client): boolean {
  return isEphemeral(stat) && stat.ephemeralOwner.equals(client.getSessionId());
}

/**
 * The socket of a connection whose TCP connect succeeded but whose ZooKeeper handshake has not been
 * answered yet, or undefined. Reads the library's connection manager, which has no public view of this.
 */
function stalledHandshakeSocket(client: Client): { destroy(): void } | undefined {
  const manager = (
    client as unknown as { connectionManager?: { state?: unknown; socket?: { readyState?: string; destroyed?: boolean; destroy(): void } } }
  ).connectionManager;
  const socket = manager?.socket;
  if (manager?.state !== CONNECTING_STATE || !socket || socket.destroyed || socket.readyState !== 'open') return undefined;
  return socket;
}

function sequenceOf(name: string): number {
  return Number.parseInt(name.slice(-10), 10);
}

/**
 * The library's Transaction turns version 0 into -1 (`version || -1`), which would silently drop the
 * version check on a node that was never rewritten; the op is patched back to the version asked for.
 */
function setVersioned(txn: Transaction, path: string, data: Buffer, version: number): void {
  txn.setData(path, data, version);
  pinVersion(txn, version);
}

function removeVersioned(txn: Transaction, path: string, version: number): void {
  txn.remove(path, version);
  pinVersion(txn, version);
}

function checkVersioned(txn: Transaction, path: string, version: number): void {
  txn.check(path, version);
  pinVersion(txn, version);
}

function pinVersion(txn: Transaction, version: number): void {
  const ops = (txn as unknown as { ops?: Array<{ version?: number }> }).ops;
  const last = Array.isArray(ops) ? ops[ops.length - 1] : undefined;
  if (last && typeof last.version === 'number') last.version = version;
}
