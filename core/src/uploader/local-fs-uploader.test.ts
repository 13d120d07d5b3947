import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UploaderError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { PluginContext } from '../plugin/plugin-descriptor.js';
import { Uploader } from '../spi/uploader.js';
import { describeUploaderConformance } from '../testing/index.js';
import { LocalFsUploader, localFsUploaderPlugin } from './index.js';

const logger = new SilentLogger();

let conformanceDirectory: string | undefined;
const packages = async () => (conformanceDirectory ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-uploader-packages-')));

describeUploaderConformance('LocalFsUploader', {
  create: async () => new LocalFsUploader({ directory: await packages() }, logger),
  read: async (uri) => {
    try {
      return await readFile(fileURLToPath(uri));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
  cleanup: async () => {
    if (conformanceDirectory) await rm(conformanceDirectory, { recursive: true, force: true });
  },
});

describe('LocalFsUploader on the local filesystem', () => {
  let base: string;
  let directory: string;
  let uploader: LocalFsUploader;
  let packagePath: string;

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ardea-uploader-'));
    directory = path.join(base, 'packages');
    uploader = new LocalFsUploader({ directory }, logger);
    packagePath = path.join(base, 'word-count.tgz');
    await writeFile(packagePath, 'package bytes');
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('stores packages as <directory>/<topology>/<id>/<file name> and returns its file:// URI', async () => {
    const uri = await uploader.upload({ topologyName: 'word-count', topologyId: 'word-count-1a2b', packagePath });
    const stored = path.join(directory, 'word-count', 'word-count-1a2b', 'word-count.tgz');
    expect(uri).toBe(pathToFileURL(stored).href);
    expect(uri.startsWith('file:///')).toBe(true);
    expect(await readFile(stored, 'utf8')).toBe('package bytes');
    expect(await readdir(path.dirname(stored))).toEqual(['word-count.tgz']);
  });

  it('keeps packages for their owner only, whatever the umask, and closes up a directory left open', async () => {
    const umask = process.umask(0o022);
    try {
      await mkdir(path.join(directory, 'old'), { recursive: true, mode: 0o755 });
      await writeFile(path.join(directory, 'old', 'left.tgz'), 'old bytes', { mode: 0o644 });
      await uploader.upload({ topologyName: 'word-count', topologyId: 'word-count-1a2b', packagePath });
    } finally {
      process.umask(umask);
    }
    const modes = await Promise.all(
      ['', 'old', 'old/left.tgz', 'word-count', 'word-count/word-count-1a2b', 'word-count/word-count-1a2b/word-count.tgz'].map(
        async (entry) => `${entry} ${((await stat(path.join(directory, entry))).mode & 0o777).toString(8)}`,
      ),
    );
    expect(modes).toEqual([
      ' 700',
      'old 700',
      'old/left.tgz 600',
      'word-count 700',
      'word-count/word-count-1a2b 700',
      'word-count/word-count-1a2b/word-count.tgz 600',
    ]);
  });

  it('replaces a package of another file name uploaded earlier for the same topology id', async () => {
    const other = path.join(base, 'renamed.tgz');
    await writeFile(other, 'newer');
    await uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath });
    await uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath: other });
    expect(await readdir(path.join(directory, 't', 't-1'))).toEqual(['renamed.tgz']);
  });

  it('undo removes the package and its emptied directories, but not the upload directory', async () => {
    const uri = await uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath });
    const sibling = await uploader.upload({ topologyName: 't', topologyId: 't-2', packagePath });
    await uploader.undo(uri);
    expect(existsSync(path.join(directory, 't', 't-1'))).toBe(false);
    expect(existsSync(path.join(directory, 't'))).toBe(true);
    await uploader.undo(sibling);
    expect(existsSync(path.join(directory, 't'))).toBe(false);
    expect(await readdir(directory)).toEqual([]);
    await uploader.undo(sibling);
  });

  it('refuses to remove what it did not store', async () => {
    const outside = path.join(base, 'precious.txt');
    await writeFile(outside, 'keep me');
    const refusals = [
      'https://example.com/packages/t/t-1/word-count.tgz',
      'sftp://host/packages/t/t-1/x.tgz',
      'not a uri',
      pathToFileURL(outside).href,
      pathToFileURL(path.join(directory, '..', 'precious.txt')).href,
      pathToFileURL(path.join(directory, 't', 'x.tgz')).href,
      pathToFileURL(directory).href,
    ];
    for (const uri of refusals) await expect(uploader.undo(uri), uri).rejects.toBeInstanceOf(UploaderError);
    expect(await readFile(outside, 'utf8')).toBe('keep me');
  });

  it('names the source and destination when the package is missing or not a file, leaving nothing behind', async () => {
    const missing = path.join(base, 'missing.tgz');
    const failure = uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath: missing });
    await expect(failure).rejects.toThrow(UploaderError);
    await expect(failure).rejects.toThrow(
      `${missing} to ${path.join(directory, 't', 't-1', 'missing.tgz')}: the package file does not exist`,
    );
    await mkdir(path.join(base, 'a-directory'));
    await expect(uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath: path.join(base, 'a-directory') })).rejects.toThrow(
      /not a regular file/,
    );
    expect(existsSync(path.join(directory, 't'))).toBe(false);
  });

  it('rejects topology names and ids that are not plain directory names', async () => {
    for (const [topologyName, topologyId] of [
      ['../up', 'id'],
      ['t', '..'],
      ['t', 'a/b'],
      ['', 'id'],
      ['.hidden', 'id'],
    ] as const) {
      await expect(uploader.upload({ topologyName, topologyId, packagePath })).rejects.toThrow(/not usable as a directory name/);
    }
    expect(existsSync(path.join(base, 'up'))).toBe(false);
  });

  it('honours an abort signal and leaves nothing behind', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(uploader.upload({ topologyName: 't', topologyId: 't-1', packagePath, signal: controller.signal })).rejects.toThrow(
      /aborted/,
    );
    const big = path.join(base, 'big.tgz');
    await writeFile(big, Buffer.alloc(1024 * 1024));
    const midway = new AbortController();
    const upload = uploader.upload({ topologyName: 't', topologyId: 't-2', packagePath: big, signal: midway.signal });
    midway.abort();
    await expect(upload).rejects.toThrow(UploaderError);
    expect(existsSync(path.join(directory, 't'))).toBe(false);
  });

  describe('plugin descriptor', () => {
    const context: PluginContext = { cluster: 'lab', home: '/srv/ardea', clusterDirectory: undefined, logger };

    it('validates its config strictly', () => {
      expect(localFsUploaderPlugin.configSchema.safeParse({}).success).toBe(true);
      expect(localFsUploaderPlugin.configSchema.safeParse({ directory: '/x' }).success).toBe(true);
      expect(localFsUploaderPlugin.configSchema.safeParse({ dir: '/x' }).success).toBe(false);
      expect(localFsUploaderPlugin).toMatchObject({ name: 'localfs', kind: 'uploader' });
    });

    it('binds one LocalFsUploader under $ARDEA_HOME/packages/<cluster> by default', async () => {
      const container = new Container();
      container.bind<Logger>(Logger).toConstantValue(logger);
      await container.loadAsync(localFsUploaderPlugin.createModule({}, context));
      const bound = container.get<Uploader>(Uploader);
      expect(bound).toBeInstanceOf(LocalFsUploader);
      expect(container.get<Uploader>(Uploader)).toBe(bound);
      expect((bound as LocalFsUploader).packageDirectory).toBe(path.resolve('/srv/ardea/packages/lab'));
    });

    it('takes the directory from config, relative to $ARDEA_HOME', async () => {
      const container = new Container();
      container.bind<Logger>(Logger).toConstantValue(logger);
      await container.loadAsync(localFsUploaderPlugin.createModule({ directory: 'pkgs' }, context));
      expect(container.get<LocalFsUploader>(Uploader).packageDirectory).toBe(path.resolve('/srv/ardea/pkgs'));
    });
  });
});
