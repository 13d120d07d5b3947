import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, watch as watchDirectory, type FSWatcher } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ArdeaError, formatSchemaIssue, LockTimeoutError, StateConflictError, StateManagerError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE, securePrivateTree } from '../fs/private-files.js';
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
import { acquireOwnedFile, createExclusive, ownedFileRecord, releaseOwnedFile, temporarySibling, type Holder } from './owned-file.js';
import { currentProcessOwner, describeOwner, ownerLiveness, ProcessOwnerSchema, type ProcessOwner } from './process-owner.js';

export interface LocalFsStateManagerOptions {
  /** Directory holding the store; created on start. Every process of a deployment must see the same one. */
  readonly rootPath: string;
  /**
   * How often watches re-read their node. inotify reports local changes at once, but shared
   * filesystems (NFS) deliver no events for writes made on other hosts, and the death of an
   * ephemeral node's owner is no file change at all, so polling is what bounds the delay there.
   */
  readonly pollIntervalMs?: number;
  /** How long a write waits for the store-wide write mutex before failing. */
  readonly mutexTimeoutMs?: number;
  /**
   * Whether start may make the root directory itself private (default true). False for a root
   * configured outside ARDEA_HOME: it is left as it is, with a warning when others may enter it.
   * Everything inside the root is made private either way.
   */
  readonly repairRoot?: boolean;
}

const NODE_FORMAT = 'ardea.state/1';
const JOURNAL_FORMAT = 'ardea.journal/1';
const MUTEX_FILE = '.txn.lock';
const MUTEX_TIMEOUT = 'statemgr.mutex-timeout';
const JOURNAL_DIRECTORY = '.journal';
const DEFAULT_POLL_INTERVAL_MS = 500;
const DEFAULT_MUTEX_TIMEOUT_MS = 30_000;
const TEMPORARY_FILE = /^\..*\.tmp$/;
/** A lock file's temporary lives for one link(); one older than this was left by a crash. */
const LOCK_TEMPORARY_MAX_AGE_MS = 60_000;
const MAX_TOPOLOGY_NAME_LENGTH = 200;
const LOCK_NAME = /^[A-Za-z0-9_-]+$/;
/** Watch key of a missing node; no JSON text starts with a NUL. */
const ABSENT = '\u0000absent';

const EphemeralOwnerSchema = ProcessOwnerSchema.extend({ session: z.string() });
type EphemeralOwner = z.infer<typeof EphemeralOwnerSchema>;

const NodeFileSchema = z
  .object({
    format: z.literal(NODE_FORMAT),
    kind: z.string(),
    topology: z.string(),
    writtenAt: z.string(),
    ephemeralOwner: EphemeralOwnerSchema.optional(),
    value: z.unknown(),
  })
  .strict();

const JournalWriteSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('set'), node: z.string(), content: z.string() }).strict(),
  z.object({ op: z.literal('delete'), node: z.string() }).strict(),
]);
type JournalWrite = z.infer<typeof JournalWriteSchema>;

const JournalSchema = z
  .object({
    format: z.literal(JOURNAL_FORMAT),
    id: z.string(),
    writtenAt: z.string(),
    owner: ProcessOwnerSchema,
    writes: z.array(JournalWriteSchema),
  })
  .strict();

interface StoredNode {
  readonly raw: string;
  readonly value: unknown;
  readonly owner: EphemeralOwner | undefined;
}

interface WatchEntry {
  readonly kind: StateKind;
  readonly topology: string;
  readonly file: string;
  readonly listener: (value: unknown) => void;
  /** What the listener last saw (or the value when the watch started), as comparable text. */
  last: string;
  closed: boolean;
  checking: boolean;
  /** Another trigger arrived during a check, so the node must be read once more afterwards. */
  again: boolean;
  failing: boolean;
}

/**
 * Writers within one process queue here before competing for the mutex file, so that they do not
 * poll a file that only their own process holds.
 */
const processWriteQueues = new Map<string, Promise<void>>();

/**
 * The built-in state manager: one JSON file per node under `rootPath` in the layout of
 * `STATE_LAYOUT`, and lock files under `locks/`.
 *
 * It serves deployments whose processes all run on one host, or all see one shared filesystem (a
 * Slurm cluster's shared directory). Ephemeral nodes and locks belong to a process, identified by
 * host, pid and process start time. A file whose owner process has died on this host is treated as
 * absent and removed by the next reader; an owner on another host cannot be inspected, so its files
 * stay until that owner closes, and a lock or write mutex it abandons must be removed by hand (the
 * timeout error names the file).
 *
 * Every write takes a store-wide mutex file (`.txn.lock`) and first completes any transaction a
 * crashed writer left in `.journal/`: a transaction records all its writes in a journal before
 * applying any, so a crash part-way is rolled forward rather than left half-applied. Each node is
 * replaced by renaming a fully written, fsynced sibling over it, so readers, which take no lock,
 * see the old or the new content of every node. Readers are not isolated from a transaction,
 * though: one that reads several nodes while a transaction is applying (or after its writer crashed,
 * until the next write or start completes it) may see some of its writes and not others.
 */
export class LocalFsStateManager implements StateManager {
  private readonly root: string;
  private readonly pollIntervalMs: number;
  private readonly mutexTimeoutMs: number;
  private readonly repairRoot: boolean;
  private readonly logger: Logger;
  /** Distinguishes this instance's ephemeral nodes from those of other instances in the same process. */
  private readonly session = randomUUID();
  private started = false;
  private closed = false;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly closeController = new AbortController();
  private readonly ephemerals = new Set<string>();
  private readonly heldLocks = new Map<string, string>();
  private readonly watches = new Set<WatchEntry>();
  private readonly directoryWatchers = new Map<string, FSWatcher | undefined>();
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(options: LocalFsStateManagerOptions, logger: Logger) {
    if (!options.rootPath) throw new StateManagerError('the local state manager needs a rootPath');
    this.root = path.resolve(options.rootPath);
    this.pollIntervalMs = positive(options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS);
    this.mutexTimeoutMs = positive(options.mutexTimeoutMs, DEFAULT_MUTEX_TIMEOUT_MS);
    this.repairRoot = options.repairRoot ?? true;
    this.logger = logger.child({ component: 'statemgr' });
  }

  /** The resolved root directory of the store. */
  get rootPath(): string {
    return this.root;
  }

  async start(): Promise<void> {
    if (this.closed) throw this.closedError();
    if (this.started) return;
    this.starting ??= this.doStart().catch((error: unknown) => {
      this.starting = undefined;
      throw failure(`cannot start the local state manager at ${this.root}`, error);
    });
    await this.starting;
  }

  private async doStart(): Promise<void> {
    const directories = [...Object.values(STATE_LAYOUT), LOCKS_DIRECTORY, JOURNAL_DIRECTORY];
    for (const directory of directories) await makePrivateDirectory(path.join(this.root, directory));
    // The store holds every topology's secret: nothing in it may be readable by another user.
    await securePrivateTree(this.root, { what: 'state store', logger: this.logger, repairRoot: this.repairRoot, recursive: true });
    // Temporary files are litter from crashed writers. A live holder of the mutex has already
    // completed any crashed writer's journal (every holder does so first), so starting need not wait
    // for it, and must not: a hung or stopped writer would keep every command from even starting,
    // `ardea kill` among them, which is what stops such writers.
    await this.withWriteMutex(() => this.removeTemporaryFiles(), 0).catch((error: unknown) => {
      if (!(error instanceof StateManagerError && error.code === MUTEX_TIMEOUT)) throw error;
      this.logger.debug('the state write mutex is held; temporary files stay for a later start', { root: this.root });
    });
    this.started = true;
    this.logger.debug('local state manager started', { root: this.root });
  }

  async close(): Promise<void> {
    this.closing ??= this.doClose();
    await this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.closeController.abort();
    for (const entry of this.watches) entry.closed = true;
    this.watches.clear();
    this.releaseWatchResources();
    await this.starting?.catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    if (!this.started) return;

    for (const [token, file] of [...this.heldLocks]) {
      this.heldLocks.delete(token);
      await releaseOwnedFile(file, token).catch((error: unknown) => this.logger.warn('could not release a lock on close', { file, error }));
    }
    if (this.ephemerals.size > 0) {
      const files = [...this.ephemerals];
      this.ephemerals.clear();
      await this.withWriteMutex(async () => {
        for (const file of files) {
          // Another client may have replaced the node since; only our own ephemeral goes.
          const node = await this.readNodeFile(file).catch(() => undefined);
          if (node?.owner?.session === this.session) await rm(file, { force: true });
        }
        await syncDirectories(files.map((file) => path.dirname(file)));
      }).catch((error: unknown) => this.logger.warn('could not remove ephemeral nodes on close', { root: this.root, error }));
    }
    this.logger.debug('local state manager closed', { root: this.root });
  }

  async get<K extends StateKind>(kind: K, topology: string): Promise<StateRecords[K] | undefined> {
    return this.track(async () => {
      const file = this.nodeFile(kind, topology);
      const node = await this.readLive(file, false);
      return node?.value as StateRecords[K] | undefined;
    });
  }

  async set<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    await this.track(async () => {
      const file = this.nodeFile(kind, topology);
      const content = this.encode(kind, topology, value, options.ephemeral === true);
      await this.withWriteMutex(async () => {
        await atomicWrite(file, content);
        await syncDirectories([path.dirname(file)]);
      }).catch((error: unknown) => {
        throw failure(`cannot write state node ${this.describeNode(kind, topology)}`, error);
      });
      this.trackEphemeral(file, options.ephemeral === true);
    });
  }

  async create<K extends StateKind>(kind: K, topology: string, value: StateRecords[K], options: WriteOptions = {}): Promise<void> {
    await this.track(async () => {
      const file = this.nodeFile(kind, topology);
      const content = this.encode(kind, topology, value, options.ephemeral === true);
      await this.withWriteMutex(async () => {
        if (await this.readLive(file, true)) throw this.conflict(kind, topology);
        // The mutex already excludes other writers; the exclusive link additionally refuses a file
        // that appeared through some path outside this protocol.
        if (!(await createExclusive(file, content, true))) throw this.conflict(kind, topology);
        await syncDirectories([path.dirname(file)]);
      }).catch((error: unknown) => {
        throw failure(`cannot create state node ${this.describeNode(kind, topology)}`, error);
      });
      this.trackEphemeral(file, options.ephemeral === true);
    });
  }

  async delete(kind: StateKind, topology: string): Promise<void> {
    await this.track(async () => {
      const file = this.nodeFile(kind, topology);
      await this.withWriteMutex(async () => {
        await rm(file, { force: true });
        await syncDirectories([path.dirname(file)]);
      }).catch((error: unknown) => {
        throw failure(`cannot delete state node ${this.describeNode(kind, topology)}`, error);
      });
      this.ephemerals.delete(file);
    });
  }

  async transaction(operations: readonly StateOperation[]): Promise<void> {
    await this.track(async () => {
      const preconditions = operations
        .filter((operation) => operation.op === 'check')
        .map((check) => ({ ...check, file: this.nodeFile(check.kind, check.topology) }));
      const checked = operations
        .filter((operation) => operation.op !== 'check')
        .map((operation) => {
          const file = this.nodeFile(operation.kind, operation.topology);
          if (operation.op === 'delete') return { ...operation, file, content: undefined };
          if (operation.op !== 'create' && operation.op !== 'set') {
            throw new StateManagerError(`unknown state operation ${JSON.stringify((operation as { op: unknown }).op)}`);
          }
          return { ...operation, file, content: this.encode(operation.kind, operation.topology, operation.value, false) };
        });
      if (checked.length === 0 && preconditions.length === 0) return;
      await this.withWriteMutex(async () => {
        // Judged under the mutex, so no writer can change the node between the check and the writes.
        for (const precondition of preconditions) {
          const node = await this.readLive(precondition.file, true);
          const found = (node?.value as { id?: unknown } | undefined)?.id;
          if (found !== precondition.topologyId) {
            throw new StateConflictError(
              `the transaction expects state node ${this.describeNode(precondition.kind, precondition.topology)} to hold topology id ` +
                `'${precondition.topologyId}', but ${node ? `it holds '${String(found)}'` : 'it does not exist'}; nothing was written`,
              { code: 'statemgr.precondition' },
            );
          }
        }
        const present = new Map<string, boolean>();
        const writes: JournalWrite[] = [];
        for (const operation of checked) {
          const node = this.nodeLabel(operation.kind, operation.topology);
          if (operation.op === 'create') {
            const exists = present.get(operation.file) ?? (await this.readLive(operation.file, true)) !== undefined;
            if (exists) throw this.conflict(operation.kind, operation.topology, 'the transaction');
          }
          if (operation.content === undefined) writes.push({ op: 'delete', node });
          else writes.push({ op: 'set', node, content: operation.content });
          present.set(operation.file, operation.content !== undefined);
        }
        if (writes.length === 1) await this.applyWrites(writes);
        else if (writes.length > 1) await this.applyJournaled(writes);
      }).catch((error: unknown) => {
        throw failure(`cannot apply a transaction of ${checked.length} operations to the state at ${this.root}`, error);
      });
      for (const operation of checked) this.ephemerals.delete(operation.file);
    });
  }

  async list(kind: StateKind): Promise<string[]> {
    return this.track(async () => {
      const directory = path.join(this.root, this.directoryOf(kind));
      let names: string[];
      try {
        names = await readdir(directory);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw failure(`cannot list ${directory}`, error);
      }
      const live = await Promise.all(
        names
          .filter((name) => isTopologyName(name))
          .map(async (name) => {
            try {
              return (await this.readLive(path.join(directory, name), false)) ? name : undefined;
            } catch (error) {
              // A damaged node still exists; get() reports the damage to whoever reads it.
              this.logger.warn('state node is unreadable', { kind, topology: name, error });
              return name;
            }
          }),
      );
      return live.filter((name): name is string => name !== undefined).sort();
    });
  }

  watch<K extends StateKind>(kind: K, topology: string, listener: StateListener<K>): StateWatch {
    this.assertUsable();
    const file = this.nodeFile(kind, topology);
    const entry: WatchEntry = {
      kind,
      topology,
      file,
      listener: listener as (value: unknown) => void,
      // Read synchronously so that "the value present when the watch starts" is exactly the value at
      // this call, and a write that follows the call is always reported.
      last: this.watchKeySync(file),
      closed: false,
      checking: false,
      again: false,
      failing: false,
    };
    this.watches.add(entry);
    this.watchDirectory(path.dirname(file));
    this.pollTimer ??= setInterval(() => {
      for (const watched of this.watches) this.check(watched);
    }, this.pollIntervalMs).unref();
    return {
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        this.watches.delete(entry);
        this.releaseWatchResources();
      },
    };
  }

  async lock(topology: string, name: LockName, options: { readonly timeoutMs: number }): Promise<StateLock> {
    return this.track(async () => {
      assertTopologyName(topology);
      if (typeof name !== 'string' || !LOCK_NAME.test(name)) throw new StateManagerError(`invalid lock name ${JSON.stringify(name)}`);
      const file = path.join(this.root, LOCKS_DIRECTORY, `${topology}__${name}`);
      const record = ownedFileRecord(this.session, `${name} lock of topology ${topology}`);
      const started = Date.now();
      try {
        await acquireOwnedFile(file, record, {
          timeoutMs: options.timeoutMs,
          signal: this.closeController.signal,
          onTimeout: (holder) =>
            new LockTimeoutError(
              `the ${name} lock of topology '${topology}' is held by ${describeHolder(holder)} ` +
                `and was not released within ${Date.now() - started} ms (lock file ${file})`,
              { code: 'statemgr.lock-timeout' },
            ),
        });
      } catch (error) {
        if (this.closeController.signal.aborted) {
          throw new StateManagerError(
            `the state manager at ${this.root} was closed while waiting for the ${name} lock of topology '${topology}'`,
            {
              cause: error,
            },
          );
        }
        throw failure(`cannot take the ${name} lock of topology '${topology}' (${file})`, error);
      }
      this.heldLocks.set(record.token, file);
      this.logger.debug('lock taken', { topology, lock: name });
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          if (!this.heldLocks.delete(record.token)) return;
          await releaseOwnedFile(file, record.token).catch((error: unknown) => {
            throw failure(`cannot release the ${name} lock of topology '${topology}' (${file})`, error);
          });
        },
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Reading nodes

  /** The node at `file`, or undefined when it is missing or an ephemeral node whose owner died (which is then removed). */
  private async readLive(file: string, holdingMutex: boolean): Promise<StoredNode | undefined> {
    const node = await this.readNodeFile(file);
    if (!node) return undefined;
    if (!node.owner || ownerLiveness(node.owner) !== 'dead') return node;
    await this.removeDeadEphemeral(file, node, holdingMutex);
    return undefined;
  }

  private async readNodeFile(file: string): Promise<StoredNode | undefined> {
    let raw: string;
    try {
      raw = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw failure(`cannot read state file ${file}`, error);
    }
    return parseNode(raw, file);
  }

  private async removeDeadEphemeral(file: string, node: StoredNode, holdingMutex: boolean): Promise<void> {
    const remove = async () => {
      // Re-read under the mutex: the node may have been rewritten by a live process meanwhile.
      const current = await readFile(file, 'utf8').catch(() => undefined);
      if (current !== node.raw) return;
      await rm(file, { force: true });
      this.logger.info('removed an ephemeral state node whose owner process is gone', {
        file,
        owner: node.owner ? describeOwner(node.owner) : undefined,
      });
    };
    const cleanup = (holdingMutex ? remove() : this.withWriteMutex(remove)).catch((error: unknown) => {
      // Readers may lack write access; the node reads as absent either way.
      this.logger.debug('could not remove a dead ephemeral state node', { file, error });
    });
    if (holdingMutex) {
      await cleanup;
      return;
    }
    // A reader never waits for the write mutex: the removal finishes in the background (close() waits for it).
    this.inflight.add(cleanup);
    void cleanup.finally(() => this.inflight.delete(cleanup));
  }

  private watchKeySync(file: string): string {
    let raw: string;
    try {
      raw = readFileSync(file, 'utf8');
    } catch {
      return ABSENT;
    }
    try {
      const node = parseNode(raw, file);
      if (node.owner && ownerLiveness(node.owner) === 'dead') return ABSENT;
      return JSON.stringify(node.value);
    } catch {
      return `\u0000unreadable ${raw}`;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Runs `write` holding the store-wide write mutex, after completing any journal a crashed writer
   * left, so that replaying it can never overwrite a newer write.
   */
  private async withWriteMutex<T>(write: () => Promise<T>, timeoutMs = this.mutexTimeoutMs): Promise<T> {
    const previous = processWriteQueues.get(this.root) ?? Promise.resolve();
    let leave!: () => void;
    const turn = new Promise<void>((resolve) => (leave = resolve));
    const tail = previous.then(() => turn);
    processWriteQueues.set(this.root, tail);
    await previous;
    try {
      const file = path.join(this.root, MUTEX_FILE);
      const record = ownedFileRecord(this.session, 'state write mutex');
      await acquireOwnedFile(file, record, {
        timeoutMs,
        onTimeout: (holder) =>
          new StateManagerError(
            `timed out after ${timeoutMs} ms waiting for the state write mutex ${file}, ` +
              `held by ${describeHolder(holder)}; if that process is gone, remove the file`,
            { code: MUTEX_TIMEOUT },
          ),
      });
      try {
        await this.replayJournals();
        return await write();
      } finally {
        await releaseOwnedFile(file, record.token);
      }
    } finally {
      leave();
      if (processWriteQueues.get(this.root) === tail) processWriteQueues.delete(this.root);
    }
  }

  private async applyJournaled(writes: readonly JournalWrite[]): Promise<void> {
    const directory = path.join(this.root, JOURNAL_DIRECTORY);
    const id = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const journalFile = path.join(directory, `${id}.json`);
    const journal: z.infer<typeof JournalSchema> = {
      format: JOURNAL_FORMAT,
      id,
      writtenAt: new Date().toISOString(),
      owner: { ...currentProcessOwner() },
      writes: [...writes],
    };
    // The journal must be durable before the first node changes, or a crash could lose the rest.
    await atomicWrite(journalFile, JSON.stringify(journal));
    await syncDirectories([directory]);
    await this.applyWrites(writes);
    await rm(journalFile, { force: true });
    await syncDirectories([directory]);
  }

  /** Idempotent, so a journal can be replayed any number of times. */
  private async applyWrites(writes: readonly JournalWrite[]): Promise<void> {
    const directories = new Set<string>();
    for (const write of writes) {
      const file = this.journalNodeFile(write.node);
      directories.add(path.dirname(file));
      if (write.op === 'set') await atomicWrite(file, write.content);
      else await rm(file, { force: true });
    }
    await syncDirectories([...directories]);
  }

  private async replayJournals(): Promise<void> {
    const directory = path.join(this.root, JOURNAL_DIRECTORY);
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names.sort()) {
      const file = path.join(directory, name);
      if (TEMPORARY_FILE.test(name)) {
        // Never renamed into place, so its transaction never started applying.
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const journal = await this.readJournal(file);
      this.logger.warn('completing a transaction that a crashed writer left half-applied', {
        journal: file,
        writer: describeOwner(journal.owner),
        writes: journal.writes.length,
      });
      await this.applyWrites(journal.writes);
      await rm(file, { force: true });
      await syncDirectories([directory]);
    }
  }

  private async readJournal(file: string): Promise<z.infer<typeof JournalSchema>> {
    const raw = await readFile(file, 'utf8');
    let parsed;
    try {
      parsed = JournalSchema.safeParse(JSON.parse(raw));
    } catch (error) {
      throw new StateManagerError(`transaction journal ${file} is not valid JSON; restore or remove it by hand`, { cause: error });
    }
    if (!parsed.success) {
      throw new StateManagerError(
        `transaction journal ${file} is malformed (${formatSchemaIssue(parsed.error)}); restore or remove it by hand`,
      );
    }
    for (const write of parsed.data.writes) {
      this.journalNodeFile(write.node, file);
      if (write.op === 'set') parseNode(write.content, `${file} (${write.node})`);
    }
    return parsed.data;
  }

  private journalNodeFile(node: string, journal?: string): string {
    const [directory, topology, ...rest] = node.split('/');
    if (rest.length > 0 || !Object.values(STATE_LAYOUT).includes(directory ?? '') || !isTopologyName(topology ?? '')) {
      throw new StateManagerError(`transaction journal ${journal ?? ''} names an invalid node '${node}'`);
    }
    return path.join(this.root, directory!, topology!);
  }

  private async removeTemporaryFiles(): Promise<void> {
    // Holding the mutex: no writer is between writing a temporary and renaming it in these directories.
    for (const directory of Object.values(STATE_LAYOUT)) {
      const full = path.join(this.root, directory);
      for (const name of await readdir(full)) if (TEMPORARY_FILE.test(name)) await rm(path.join(full, name), { force: true });
    }
    // Lock files (and the mutex file in the root) are created without the mutex, so only their clearly
    // abandoned temporaries go.
    for (const directory of [path.join(this.root, LOCKS_DIRECTORY), this.root]) {
      for (const name of await readdir(directory)) {
        if (!TEMPORARY_FILE.test(name)) continue;
        const file = path.join(directory, name);
        const info = await stat(file).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs > LOCK_TEMPORARY_MAX_AGE_MS) await rm(file, { force: true });
      }
    }
  }

  private encode(kind: StateKind, topology: string, value: unknown, ephemeral: boolean): string {
    if (value === undefined) throw new StateManagerError(`cannot store undefined as state node ${this.describeNode(kind, topology)}`);
    const ephemeralOwner: EphemeralOwner | undefined = ephemeral ? { ...currentProcessOwner(), session: this.session } : undefined;
    try {
      return `${JSON.stringify(
        { format: NODE_FORMAT, kind, topology, writtenAt: new Date().toISOString(), ...(ephemeralOwner ? { ephemeralOwner } : {}), value },
        null,
        2,
      )}\n`;
    } catch (error) {
      throw new StateManagerError(`state node ${this.describeNode(kind, topology)} must be plain JSON`, { cause: error });
    }
  }

  private trackEphemeral(file: string, ephemeral: boolean): void {
    if (ephemeral) this.ephemerals.add(file);
    else this.ephemerals.delete(file);
  }

  // ---------------------------------------------------------------------------------------------
  // Watching

  private check(entry: WatchEntry): void {
    if (entry.closed) return;
    if (entry.checking) {
      entry.again = true;
      return;
    }
    entry.checking = true;
    const run = (async () => {
      try {
        do {
          entry.again = false;
          let key: string;
          let value: unknown;
          try {
            const node = await this.readLive(entry.file, false);
            value = node?.value;
            key = node ? JSON.stringify(node.value) : ABSENT;
            entry.failing = false;
          } catch (error) {
            if (!entry.failing) this.logger.warn('watched state node is unreadable', { kind: entry.kind, topology: entry.topology, error });
            entry.failing = true;
            continue;
          }
          if (entry.closed) return;
          if (key === entry.last) continue;
          entry.last = key;
          try {
            entry.listener(value);
          } catch (error) {
            this.logger.warn('state watch listener threw', { kind: entry.kind, topology: entry.topology, error });
          }
        } while (entry.again && !entry.closed);
      } finally {
        entry.checking = false;
      }
    })();
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  private watchDirectory(directory: string): void {
    if (this.directoryWatchers.has(directory)) return;
    try {
      const watcher = watchDirectory(directory, { persistent: false }, (_event, filename) => {
        for (const entry of this.watches) {
          if (path.dirname(entry.file) === directory && (filename === null || filename === entry.topology)) this.check(entry);
        }
      });
      watcher.on('error', (error) => {
        this.logger.debug('directory watch failed; watches fall back to polling', { directory, error });
        watcher.close();
        if (this.directoryWatchers.get(directory) === watcher) this.directoryWatchers.set(directory, undefined);
      });
      this.directoryWatchers.set(directory, watcher);
    } catch (error) {
      // Polling alone still delivers every change, just later.
      this.logger.debug('directory watch unavailable; watches fall back to polling', { directory, error });
      this.directoryWatchers.set(directory, undefined);
    }
  }

  private releaseWatchResources(): void {
    const inUse = new Set([...this.watches].map((entry) => path.dirname(entry.file)));
    for (const [directory, watcher] of this.directoryWatchers) {
      if (inUse.has(directory)) continue;
      watcher?.close();
      this.directoryWatchers.delete(directory);
    }
    if (this.watches.size === 0 && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** Registers an operation so that close() waits for it, after checking the instance is usable. */
  private async track<T>(operation: () => Promise<T>): Promise<T> {
    this.assertUsable();
    const run = operation();
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
    }
  }

  private assertUsable(): void {
    if (this.closed) throw this.closedError();
    if (!this.started) throw new StateManagerError(`the local state manager at ${this.root} is not started; call start() first`);
  }

  private closedError(): StateManagerError {
    return new StateManagerError(`the local state manager at ${this.root} is closed`);
  }

  private directoryOf(kind: StateKind): string {
    const directory = Object.hasOwn(STATE_LAYOUT, kind) ? STATE_LAYOUT[kind] : undefined;
    if (directory === undefined) throw new StateManagerError(`unknown state kind ${JSON.stringify(kind)}`);
    return directory;
  }

  private nodeFile(kind: StateKind, topology: string): string {
    const directory = this.directoryOf(kind);
    assertTopologyName(topology);
    return path.join(this.root, directory, topology);
  }

  private nodeLabel(kind: StateKind, topology: string): string {
    return `${this.directoryOf(kind)}/${topology}`;
  }

  private describeNode(kind: StateKind, topology: string): string {
    return `/${this.nodeLabel(kind, topology)} (${kind} of topology '${topology}') in ${this.root}`;
  }

  private conflict(kind: StateKind, topology: string, context?: string): StateConflictError {
    return new StateConflictError(
      `${context ? `${context} creates` : 'cannot create'} state ` +
        `node ${this.describeNode(kind, topology)}${context ? ', which' : ': it'} already exists`,
      { code: 'statemgr.conflict' },
    );
  }
}

function parseNode(raw: string, file: string): StoredNode {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new StateManagerError(`state file ${file} is corrupt: it is not valid JSON; restore or remove it`, {
      cause: error,
      code: 'statemgr.corrupt',
    });
  }
  const parsed = NodeFileSchema.safeParse(json);
  if (!parsed.success || parsed.data.value === undefined) {
    const issue = parsed.success ? 'it has no value' : formatSchemaIssue(parsed.error);
    throw new StateManagerError(`state file ${file} is corrupt (${issue}); restore or remove it`, { code: 'statemgr.corrupt' });
  }
  return { raw, value: parsed.data.value, owner: parsed.data.ephemeralOwner };
}

function isTopologyName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_TOPOLOGY_NAME_LENGTH && !name.startsWith('.') && !/[/\\\0]/.test(name);
}

function assertTopologyName(topology: unknown): asserts topology is string {
  if (typeof topology !== 'string' || !isTopologyName(topology)) {
    throw new StateManagerError(
      `invalid topology name ${JSON.stringify(topology)}: the local state manager stores it as a file name, ` +
        `so it must be 1-${MAX_TOPOLOGY_NAME_LENGTH} characters, not start with '.', and contain no '/', '\\' or NUL`,
      { code: 'statemgr.invalid-name' },
    );
  }
}

function describeHolder(holder: Holder | undefined): string {
  if (!holder) return 'a process that released it just now';
  if (!holder.owner) return 'an unknown process (the lock file is unreadable)';
  const since = holder.owner.acquiredAt ? ` since ${holder.owner.acquiredAt}` : '';
  const remote = ownerLiveness(holder.owner) === 'unknown' ? ' (another host, so its liveness cannot be checked from here)' : '';
  return `${describeOwner(holder.owner as ProcessOwner)}${since}${remote}`;
}

/** Writes a sibling, fsyncs it and renames it over `file`, so `file` always holds a complete version. */
async function atomicWrite(file: string, content: string): Promise<void> {
  const temporary = temporarySibling(file);
  try {
    const handle = await open(temporary, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Makes renames and unlinks in `directories` durable. */
async function syncDirectories(directories: readonly string[]): Promise<void> {
  for (const directory of new Set(directories)) {
    try {
      const handle = await open(directory, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // Some platforms cannot fsync a directory; the rename itself is still atomic there.
    }
  }
}

function failure(message: string, error: unknown): ArdeaError {
  if (error instanceof ArdeaError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StateManagerError(`${message}: ${reason}`, { cause: error });
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
