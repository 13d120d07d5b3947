import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError } from '../errors/index.js';
import { SilentLogger } from '../logging/index.js';
import { CheckpointStorage, type CheckpointManifest } from '../spi/checkpoint-storage.js';
import { describeCheckpointStorageConformance, loadPluginForTest } from '../testing/index.js';
import { LocalFsCheckpointStorage, localFsCheckpointStoragePlugin } from './index.js';

/** How `promise` failed; a test that expects a failure fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const logger = new SilentLogger();

let conformanceDirectory: string | undefined;
describeCheckpointStorageConformance('LocalFsCheckpointStorage', {
  create: async () =>
    new LocalFsCheckpointStorage(
      { directory: (conformanceDirectory ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-checkpoint-conformance-'))) },
      logger,
    ),
  cleanup: async () => {
    if (conformanceDirectory) await rm(conformanceDirectory, { recursive: true, force: true });
  },
});

const manifest = (checkpointId: number, parts: Record<string, number>): CheckpointManifest => ({
  checkpointId,
  startedAt: 1,
  completedAt: 2,
  maxParallelism: 16,
  parallelism: { count: 2 },
  parts: Object.entries(parts).map(([part, bytes]) => ({ part, bytes })),
});

describe('LocalFsCheckpointStorage on the local filesystem', () => {
  let base: string;
  let directory: string;
  let storage: LocalFsCheckpointStorage;
  const run = { topologyName: 'word-count', topologyId: 'word-count-1a2b3c4d' };

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ardea-checkpoints-'));
    directory = path.join(base, 'checkpoints');
    storage = new LocalFsCheckpointStorage({ directory }, logger);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('lays checkpoints out as <dir>/<topology>/<id>/<checkpoint>/<part>, manifests as readable JSON, all private', async () => {
    await storage.store(run, 3, 'count-0', Buffer.from('state'));
    await storage.commit(run, manifest(3, { 'count-0': 5 }));
    const runDirectory = path.join(directory, 'word-count', 'word-count-1a2b3c4d');
    expect(await readFile(path.join(runDirectory, '3', 'count-0'), 'utf8')).toBe('state');
    expect(JSON.parse(await readFile(path.join(runDirectory, 'manifests', '3.json'), 'utf8'))).toEqual(manifest(3, { 'count-0': 5 }));
    for (const made of [
      directory,
      path.join(directory, 'word-count'),
      runDirectory,
      path.join(runDirectory, '3'),
      path.join(runDirectory, 'manifests'),
    ])
      expect((await stat(made)).mode & 0o777, made).toBe(0o700);
    for (const file of [path.join(runDirectory, '3', 'count-0'), path.join(runDirectory, 'manifests', '3.json')])
      expect((await stat(file)).mode & 0o777, file).toBe(0o600);
    // No temporary file is left behind.
    expect(await readdir(path.join(runDirectory, '3'))).toEqual(['count-0']);
    expect(await readdir(path.join(runDirectory, 'manifests'))).toEqual(['3.json']);
  });

  it('makes an existing directory under its control private again', async () => {
    await storage.store(run, 1, 'p', Buffer.from('x'));
    await rm(path.join(directory, 'word-count'), { recursive: true });
    const { chmod } = await import('node:fs/promises');
    await chmod(directory, 0o755);
    const fresh = new LocalFsCheckpointStorage({ directory }, logger);
    await fresh.store(run, 1, 'p', Buffer.from('x'));
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
  });

  it('leaves nothing behind when a part cannot be written whole', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('the connection broke'));
      },
    });
    const failure = await rejectionOf(storage.storeStream(run, 1, 'count-0', broken));
    expect(failure).toBeInstanceOf(CheckpointError);
    expect(failure.message).toContain("part 'count-0' of checkpoint 1 of topology 'word-count' (run word-count-1a2b3c4d)");
    expect(failure.message).toContain('the connection broke');
    expect(await storage.load(run, 1, 'count-0')).toBeUndefined();
    expect(await readdir(path.join(directory, 'word-count', 'word-count-1a2b3c4d', '1'))).toEqual([]);
  });

  it('a temporary file left by a crash is no part, and goes with its checkpoint', async () => {
    await storage.store(run, 1, 'count-0', Buffer.from('kept'));
    const checkpointDirectory = path.join(directory, 'word-count', 'word-count-1a2b3c4d', '1');
    await writeFile(path.join(checkpointDirectory, 'count-1~4242~deadbeef'), 'half');
    expect(await storage.load(run, 1, 'count-1')).toBeUndefined();
    await storage.commit(run, manifest(1, { 'count-0': 4 }));
    await storage.store(run, 2, 'count-0', Buffer.from('next'));
    await storage.commit(run, manifest(2, { 'count-0': 4 }));
    await storage.prune(run, 2);
    await expect(stat(checkpointDirectory)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports a damaged manifest by its file, with what to do', async () => {
    await storage.store(run, 1, 'p', Buffer.from('x'));
    await storage.commit(run, manifest(1, { p: 1 }));
    const file = path.join(directory, 'word-count', 'word-count-1a2b3c4d', 'manifests', '1.json');
    await writeFile(file, '{"checkpointId": 1, "par');
    const failure = await rejectionOf(storage.latest(run));
    expect(failure).toBeInstanceOf(CheckpointError);
    expect(failure.message).toBe(
      `the manifest ${file} of topology 'word-count' (run word-count-1a2b3c4d) is not JSON; it was changed by hand or damaged: ` +
        'remove it to fall back to the checkpoint before',
    );
  });

  it('removes the topology directory with its last run, and leaves the root', async () => {
    const other = { topologyName: 'word-count', topologyId: 'word-count-99' };
    await storage.store(run, 1, 'p', Buffer.from('x'));
    await storage.store(other, 1, 'p', Buffer.from('y'));
    await storage.dispose(run);
    expect(await readdir(path.join(directory, 'word-count'))).toEqual(['word-count-99']);
    await storage.dispose(other);
    expect(await readdir(directory)).toEqual([]);
  });

  it('does not create its directory to read, prune or dispose', async () => {
    expect(await storage.latest(run)).toBeUndefined();
    expect(await storage.load(run, 1, 'p')).toBeUndefined();
    await storage.prune(run, 5);
    await storage.dispose(run);
    await expect(stat(directory)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says what to do when the directory cannot be written', async () => {
    await writeFile(path.join(base, 'a-file'), '');
    const blocked = new LocalFsCheckpointStorage({ directory: path.join(base, 'a-file', 'checkpoints') }, logger);
    const failure = await rejectionOf(blocked.store(run, 1, 'p', Buffer.from('x')));
    expect(failure).toBeInstanceOf(CheckpointError);
    expect(failure.message).toMatch(
      new RegExp(
        String.raw`^cannot store part 'p' of checkpoint 1 of topology 'word-count' \(run word-count-1a2b3c4d\) as ` +
          String.raw`.*a-file/checkpoints/word-count/word-count-1a2b3c4d/1/p: `,
      ),
    );
  });

  it('stores and loads a part of 128 MiB', async () => {
    const large = Buffer.allocUnsafe(128 * 1024 * 1024);
    for (let i = 0; i < large.length; i += 4096) large.writeUInt32LE(i, i);
    await storage.store(run, 1, 'count-0', large);
    const loaded = await storage.load(run, 1, 'count-0');
    expect(loaded?.byteLength).toBe(large.length);
    expect(Buffer.from(loaded!.buffer, loaded!.byteOffset, loaded!.byteLength).equals(large)).toBe(true);
  });
});

describe('the localfs checkpoint storage plugin', () => {
  it('keeps checkpoints under $ARDEA_HOME/checkpoints/<cluster> by default', async () => {
    const plugin = await loadPluginForTest(localFsCheckpointStoragePlugin, {}, { cluster: 'lab' });
    try {
      const storage = plugin.get<LocalFsCheckpointStorage>(CheckpointStorage);
      expect(storage).toBeInstanceOf(LocalFsCheckpointStorage);
      expect(storage.checkpointDirectory).toBe(path.join(plugin.context.home, 'checkpoints', 'lab'));
    } finally {
      await plugin.close();
    }
  });

  it('takes a relative directory from $ARDEA_HOME, and refuses unknown keys', async () => {
    const plugin = await loadPluginForTest(localFsCheckpointStoragePlugin, { directory: 'state/ckpt' });
    try {
      expect(plugin.get<LocalFsCheckpointStorage>(CheckpointStorage).checkpointDirectory).toBe(
        path.join(plugin.context.home, 'state', 'ckpt'),
      );
    } finally {
      await plugin.close();
    }
    await expect(loadPluginForTest(localFsCheckpointStoragePlugin, { dir: '/tmp' })).rejects.toThrow(/checkpoints\.dir: unknown key/);
  });
});
