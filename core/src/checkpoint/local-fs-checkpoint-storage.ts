import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArdeaError, CheckpointError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE, securePrivateTree } from '../fs/private-files.js';
import { SilentLogger, type Logger } from '../logging/index.js';
import type { CheckpointManifest, CheckpointStorage, CheckpointTopology } from '../spi/checkpoint-storage.js';
import { assertCheckpointId, assertPart, assertRun, CHECKPOINT_CODES, describeRun, parseManifest } from './checkpoint-contract.js';
import { syncDirectory, syncFile } from '../fs/durable-files.js';

export interface LocalFsCheckpointStorageOptions {
  /**
   * Where checkpoints are kept, as `<directory>/<topology>/<topology id>/<checkpoint id>/<part>`.
   * Every container of the cluster must see it at the same path.
   */
  readonly directory: string;
  /**
   * Whether the directory itself may be made private (default true). False for a directory
   * configured outside ARDEA_HOME: it is left as it is, with a warning when others may enter it.
   */
  readonly repairRoot?: boolean;
}

/** Committed manifests of a run, `<checkpoint id>.json`, beside its numbered checkpoint directories. */
const MANIFESTS = 'manifests';
const MANIFEST_FILE = /^(0|[1-9][0-9]*)\.json$/;
const CHECKPOINT_DIRECTORY = /^(0|[1-9][0-9]*)$/;

/**
 * The built-in `localfs` checkpoint storage, also what the package server keeps checkpoints in.
 *
 * Every file is written under a temporary name, fsynced and renamed into place, so a reader finds a
 * part or a manifest whole or not at all, and a crash leaves at most a temporary file that the next
 * prune or dispose of its run removes. Temporary names contain `~`, which no part name may, so they
 * never shadow a part. A manifest is committed only once every part it lists is on disk with the
 * size it states, and `latest` is the committed manifest with the highest id, so a checkpoint is
 * visible to a restore only when all of it is there.
 */
export class LocalFsCheckpointStorage implements CheckpointStorage {
  private readonly directory: string;
  private readonly repairRoot: boolean;
  private readonly logger: Logger;
  private secured: Promise<void> | undefined;
  /** Commits, prunes and disposes of one run are serialized, so "above the latest" holds in this process. */
  private readonly runLocks = new Map<string, Promise<void>>();

  constructor(options: LocalFsCheckpointStorageOptions, logger: Logger = new SilentLogger()) {
    if (!options.directory) throw new CheckpointError('the localfs checkpoint storage needs a directory');
    this.directory = path.resolve(options.directory);
    this.repairRoot = options.repairRoot ?? true;
    this.logger = logger.child({ component: 'checkpoints' });
  }

  /** The resolved directory checkpoints are kept in. */
  get checkpointDirectory(): string {
    return this.directory;
  }

  store(topology: CheckpointTopology, checkpointId: number, part: string, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) {
      assertRun(topology, 'store a checkpoint part');
      throw new CheckpointError(
        `cannot store part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)}: the data is not a Uint8Array`,
        { code: CHECKPOINT_CODES.failed },
      );
    }
    return this.write(topology, checkpointId, part, data).then(() => undefined);
  }

  /**
   * Stores a part from a stream (what the package server receives), without holding it in memory;
   * resolves to the number of bytes stored.
   */
  storeStream(topology: CheckpointTopology, checkpointId: number, part: string, source: Readable): Promise<number> {
    return this.write(topology, checkpointId, part, source);
  }

  async load(topology: CheckpointTopology, checkpointId: number, part: string): Promise<Uint8Array | undefined> {
    const file = this.partFile(topology, checkpointId, part, 'load');
    try {
      return await readFile(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.failure(`cannot load part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)} from ${file}`, error);
    }
  }

  /** The part opened for reading and its size, or undefined if it is not stored; the caller closes it. */
  async openPart(
    topology: CheckpointTopology,
    checkpointId: number,
    part: string,
  ): Promise<{ readonly handle: FileHandle; readonly size: number } | undefined> {
    const file = this.partFile(topology, checkpointId, part, 'load');
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.failure(`cannot load part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)} from ${file}`, error);
    }
    try {
      return { handle, size: (await handle.stat()).size };
    } catch (error) {
      await handle.close();
      throw this.failure(`cannot load part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)} from ${file}`, error);
    }
  }

  async commit(topology: CheckpointTopology, manifest: CheckpointManifest): Promise<void> {
    assertRun(topology, 'commit a checkpoint');
    const stated = (manifest as Partial<CheckpointManifest> | undefined)?.checkpointId;
    const what = `cannot commit checkpoint ${String(stated)} of ${describeRun(topology)}`;
    const checked = parseManifest(manifest, what);
    const id = checked.checkpointId;
    const run = this.runDirectory(topology);
    await this.exclusive(run, async () => {
      const latest = await this.latestId(topology);
      if (latest !== undefined && id <= latest) {
        throw new CheckpointError(
          `${what}: checkpoint ${latest} is committed already and a commit must be above the latest; ` +
            `take a new checkpoint with an id above ${latest}`,
          { code: CHECKPOINT_CODES.notAboveLatest },
        );
      }
      for (const { part, bytes } of checked.parts) {
        const file = path.join(run, String(id), part);
        let size: number;
        try {
          size = (await stat(file)).size;
        } catch (error) {
          if (!isMissing(error)) throw this.failure(`${what}: cannot check part '${part}' (${file})`, error);
          throw new CheckpointError(`${what}: part '${part}' is not stored; every part must be stored before the checkpoint is committed`, {
            code: CHECKPOINT_CODES.missingPart,
          });
        }
        if (size !== bytes) {
          throw new CheckpointError(
            `${what}: part '${part}' has ${size} bytes stored but the manifest says ${bytes}; ` +
              `the manifest must list the parts as they were stored`,
            { code: CHECKPOINT_CODES.missingPart },
          );
        }
      }
      const manifests = path.join(run, MANIFESTS);
      const file = path.join(manifests, `${id}.json`);
      try {
        await this.secure();
        await makePrivateDirectory(manifests);
        await writeDurably(file, Buffer.from(`${JSON.stringify(checked, null, 2)}\n`));
        // The new checkpoint directories and the manifest directory are entries of the run directory.
        await syncDirectory(run);
      } catch (error) {
        throw this.failure(`${what}: cannot write its manifest ${file}`, error);
      }
      this.logger.debug('checkpoint committed', { ...topology, checkpointId: id, parts: checked.parts.length });
    });
  }

  async latest(topology: CheckpointTopology): Promise<CheckpointManifest | undefined> {
    assertRun(topology, 'read the latest checkpoint');
    // A prune in another process may remove what was the latest between listing and reading; list again then.
    for (let attempt = 0; ; attempt++) {
      const id = await this.latestId(topology);
      if (id === undefined) return undefined;
      const file = path.join(this.runDirectory(topology), MANIFESTS, `${id}.json`);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if (isMissing(error) && attempt < 3) continue;
        throw this.failure(`cannot read the latest checkpoint of ${describeRun(topology)} (${file})`, error);
      }
      const what = `the manifest ${file} of ${describeRun(topology)}`;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new CheckpointError(
          `${what} is not JSON; it was changed by hand or damaged: remove it to fall back to the checkpoint before`,
          {
            cause: error,
            code: CHECKPOINT_CODES.invalidManifest,
          },
        );
      }
      const manifest = parseManifest(json, what);
      if (manifest.checkpointId !== id)
        throw new CheckpointError(`${what} is for checkpoint ${manifest.checkpointId}; remove it to fall back to the checkpoint before`, {
          code: CHECKPOINT_CODES.invalidManifest,
        });
      return manifest;
    }
  }

  /** Keeps the latest committed checkpoint even when it is below `belowCheckpointId`: it is what a restore needs. */
  async prune(topology: CheckpointTopology, belowCheckpointId: number): Promise<void> {
    assertRun(topology, 'prune checkpoints');
    assertCheckpointId(belowCheckpointId, 'prune checkpoints', topology);
    const run = this.runDirectory(topology);
    const what = `cannot prune the checkpoints below ${belowCheckpointId} of ${describeRun(topology)} in ${run}`;
    await this.exclusive(run, async () => {
      const latest = await this.latestId(topology);
      const doomed = (id: number) => id < belowCheckpointId && id !== latest;
      try {
        // Manifests first: a manifest never names parts that are gone.
        const manifests = path.join(run, MANIFESTS);
        const committed = (await listIds(manifests, MANIFEST_FILE)).filter(doomed);
        for (const id of committed) await rm(path.join(manifests, `${id}.json`), { force: true });
        if (committed.length > 0) await syncDirectory(manifests);
        const stored = (await listIds(run, CHECKPOINT_DIRECTORY)).filter(doomed);
        for (const id of stored) await rm(path.join(run, String(id)), { recursive: true, force: true });
        if (stored.length > 0) await syncDirectory(run);
        if (committed.length + stored.length > 0)
          this.logger.debug('checkpoints pruned', { ...topology, below: belowCheckpointId, checkpoints: stored.length });
      } catch (error) {
        throw this.failure(what, error);
      }
    });
  }

  async dispose(topology: CheckpointTopology): Promise<void> {
    assertRun(topology, 'remove the checkpoints');
    const run = this.runDirectory(topology);
    await this.exclusive(run, async () => {
      try {
        await rm(run, { recursive: true, force: true });
      } catch (error) {
        throw this.failure(`cannot remove the checkpoints of ${describeRun(topology)} (${run})`, error);
      }
      try {
        await rmdir(path.dirname(run));
      } catch (error) {
        // Another run of the topology is still there, or there never was one: both fine.
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST')
          this.logger.debug('could not remove an empty checkpoint directory', { directory: path.dirname(run), error });
      }
    });
  }

  private async write(topology: CheckpointTopology, checkpointId: number, part: string, source: Uint8Array | Readable): Promise<number> {
    const file = this.partFile(topology, checkpointId, part, 'store');
    const what = `cannot store part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)}`;
    const latest = await this.latestId(topology);
    if (latest !== undefined && checkpointId <= latest) {
      throw new CheckpointError(
        `${what}: checkpoint ${latest} is committed already, so checkpoint ${checkpointId} can never be; ` +
          `parts go to a checkpoint above the latest committed one`,
        { code: CHECKPOINT_CODES.notAboveLatest },
      );
    }
    try {
      await this.secure();
      await makePrivateDirectory(path.dirname(file));
      const bytes = await writeDurably(file, source);
      this.logger.debug('checkpoint part stored', { ...topology, checkpointId, part, bytes });
      return bytes;
    } catch (error) {
      if (error instanceof ArdeaError) throw error;
      throw this.failure(`${what} as ${file}`, error);
    }
  }

  private partFile(topology: CheckpointTopology, checkpointId: number, part: string, operation: 'store' | 'load'): string {
    assertRun(topology, `${operation} a checkpoint part`);
    assertCheckpointId(checkpointId, `${operation} a checkpoint part`, topology);
    assertPart(part, operation, topology, checkpointId);
    return path.join(this.runDirectory(topology), String(checkpointId), part);
  }

  private runDirectory(topology: CheckpointTopology): string {
    return path.join(this.directory, topology.topologyName, topology.topologyId);
  }

  private async latestId(topology: CheckpointTopology): Promise<number | undefined> {
    const manifests = path.join(this.runDirectory(topology), MANIFESTS);
    let ids: number[];
    try {
      ids = await listIds(manifests, MANIFEST_FILE);
    } catch (error) {
      throw this.failure(`cannot list the committed checkpoints of ${describeRun(topology)} in ${manifests}`, error);
    }
    return ids.length === 0 ? undefined : Math.max(...ids);
  }

  /** Checkpoints hold the topology's state: its owner's alone, like the rest of Ardea's files. */
  private secure(): Promise<void> {
    this.secured ??= makePrivateDirectory(this.directory)
      .then(() =>
        securePrivateTree(this.directory, {
          what: 'checkpoint directory',
          logger: this.logger,
          repairRoot: this.repairRoot,
          recursive: false,
        }),
      )
      .catch((error: unknown) => {
        this.secured = undefined;
        throw error;
      });
    return this.secured;
  }

  private exclusive<T>(key: string, action: () => Promise<T>): Promise<T> {
    const previous = this.runLocks.get(key) ?? Promise.resolve();
    const result = previous.then(action);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.runLocks.set(key, settled);
    void settled.then(() => {
      if (this.runLocks.get(key) === settled) this.runLocks.delete(key);
    });
    return result;
  }

  private failure(what: string, error: unknown): CheckpointError {
    if (error instanceof CheckpointError) return error;
    return new CheckpointError(`${what}: ${advice(error)}`, { cause: error, code: CHECKPOINT_CODES.failed });
  }
}

/**
 * Writes `source` to `file` through a temporary file that is fsynced and renamed into place, then
 * fsyncs the directory; resolves to the number of bytes written. A Uint8Array is written as it is,
 * never copied, so a part of hundreds of megabytes is in memory once.
 */
async function writeDurably(file: string, source: Uint8Array | Readable): Promise<number> {
  const temporary = `${file}~${process.pid}~${randomBytes(4).toString('hex')}`;
  let bytes: number;
  try {
    if (source instanceof Uint8Array) {
      const handle = await open(temporary, 'wx', PRIVATE_FILE_MODE);
      try {
        await handle.writeFile(source);
        await handle.sync();
      } finally {
        await handle.close();
      }
      bytes = source.byteLength;
    } else {
      const sink = createWriteStream(temporary, { flags: 'wx', mode: PRIVATE_FILE_MODE });
      await pipeline(source, sink);
      bytes = sink.bytesWritten;
      await syncFile(temporary);
    }
    await rename(temporary, file);
  } catch (error) {
    if (!(source instanceof Uint8Array)) source.destroy();
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(path.dirname(file));
  return bytes;
}

/** The ids named by the entries of `directory` that match `pattern`; none when it does not exist. */
async function listIds(directory: string, pattern: RegExp): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  return names.flatMap((name) => {
    const match = pattern.exec(name);
    const id = match ? Number(match[1]) : Number.NaN;
    return Number.isSafeInteger(id) ? [id] : [];
  });
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The reason, and what to do about the failures a user can fix. */
function advice(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `${message}; the filesystem is full: free space there, or set checkpoints.directory to a larger one`;
    case 'EACCES':
    case 'EPERM':
      return `${message}; the directory must belong to the user Ardea runs as`;
    case 'EROFS':
      return `${message}; the filesystem is read-only: set checkpoints.directory to a writable one`;
    default:
      return message;
  }
}
