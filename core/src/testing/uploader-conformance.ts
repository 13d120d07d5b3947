import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UploaderError } from '../errors/index.js';
import { SilentLogger } from '../logging/index.js';
import { localPackageUrl } from '../runtime/package-fetch.js';
import type { Uploader, UploadRequest } from '../spi/uploader.js';

export interface UploaderConformanceFactory {
  /** A new uploader. Uploaders made by one factory must share their destination, as processes of a deployment do. */
  create(): Promise<Uploader>;
  /**
   * Checks the uploaded package is retrievable the way a container would fetch it: the bytes at `uri`, or undefined if nothing is
   * there.
   */
  read(uri: string): Promise<Buffer | undefined>;
  /** Runs once after the whole suite. */
  cleanup?(): Promise<void>;
}

/**
 * Registers vitest tests checking that an {@link Uploader} honours its contract. Packages are written
 * to a temporary local directory, since the SPI uploads a local file.
 */
export function describeUploaderConformance(name: string, factory: UploaderConformanceFactory): void {
  const runId = Math.random().toString(36).slice(2, 7);
  let counter = 0;
  let scratch: string | undefined;
  const uploaded: Array<{ uploader: Uploader; uri: string }> = [];

  const topology = () => {
    const topologyName = `up${runId}${(counter++).toString(36)}`;
    return { topologyName, topologyId: `${topologyName}-${randomBytes(3).toString('hex')}` };
  };
  /** Writes a package file with `bytes` (binary by default, covering every byte value). */
  const packageFile = async (
    bytes: Buffer = randomPackage(),
    fileName = 'topology.tar.gz',
  ): Promise<{ packagePath: string; bytes: Buffer }> => {
    scratch ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-uploader-conformance-'));
    const directory = await mkdtemp(path.join(scratch, 'pkg-'));
    const packagePath = path.join(directory, fileName);
    await writeFile(packagePath, bytes);
    return { packagePath, bytes };
  };
  const upload = async (uploader: Uploader, request: UploadRequest): Promise<string> => {
    const uri = await uploader.upload(request);
    uploaded.push({ uploader, uri });
    return uri;
  };

  describe(name, () => {
    afterEach(async () => {
      for (const { uploader, uri } of uploaded.splice(0)) await uploader.undo(uri);
    });

    afterAll(async () => {
      if (scratch) await rm(scratch, { recursive: true, force: true });
      await factory.cleanup?.();
    });

    it('stores the package and returns a URI it can be fetched from, byte for byte', async () => {
      const uploader = await factory.create();
      const { packagePath, bytes } = await packageFile();
      const uri = await upload(uploader, { ...topology(), packagePath });
      expect(() => new URL(uri)).not.toThrow();
      expectBytes(await factory.read(uri), bytes);
      expectBytes(await readFile(packagePath), bytes);
    });

    it('hands out a URI the executor loads: its local copy is the package, byte for byte', async () => {
      const uploader = await factory.create();
      // A bundle: the executor imports it as it is (a package archive it would unpack).
      const { packagePath, bytes } = await packageFile(randomPackage(), 'topology.mjs');
      const uri = await upload(uploader, { ...topology(), packagePath });
      const cacheDirectory = await mkdtemp(path.join(scratch!, 'executor-cache-'));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const url = await localPackageUrl({ uri, sha256, cacheDirectory, uploader, logger: new SilentLogger() });
      expect(new URL(url).protocol).toBe('file:');
      expectBytes(await readFile(fileURLToPath(url)), bytes);
    });

    it('stores an empty package', async () => {
      const uploader = await factory.create();
      const { packagePath } = await packageFile(Buffer.alloc(0));
      const uri = await upload(uploader, { ...topology(), packagePath });
      expectBytes(await factory.read(uri), Buffer.alloc(0));
    });

    it('handles package file names that need escaping in a URI', async () => {
      const uploader = await factory.create();
      const { packagePath, bytes } = await packageFile(randomPackage(), 'word count #1 %20 \u00e9\u2713.tgz');
      const uri = await upload(uploader, { ...topology(), packagePath });
      expectBytes(await factory.read(uri), bytes);
    });

    it('keeps packages of different topologies and topology ids apart', async () => {
      const uploader = await factory.create();
      const first = topology();
      const second = topology();
      const packages = await Promise.all([packageFile(), packageFile(), packageFile()]);
      const uris = [
        await upload(uploader, { ...first, packagePath: packages[0]!.packagePath }),
        await upload(uploader, {
          topologyName: first.topologyName,
          topologyId: `${first.topologyId}-b`,
          packagePath: packages[1]!.packagePath,
        }),
        await upload(uploader, { ...second, packagePath: packages[2]!.packagePath }),
      ];
      expect(new Set(uris).size).toBe(3);
      for (const [i, uri] of uris.entries()) expectBytes(await factory.read(uri), packages[i]!.bytes);
    });

    it('replaces the package when uploading again for the same topology id', async () => {
      const uploader = await factory.create();
      const request = topology();
      const first = await packageFile();
      const second = await packageFile();
      const firstUri = await upload(uploader, { ...request, packagePath: first.packagePath });
      const secondUri = await upload(uploader, { ...request, packagePath: second.packagePath });
      expectBytes(await factory.read(secondUri), second.bytes);
      // The old URI serves nothing, or the replacement; never the replaced package.
      const old = await factory.read(firstUri);
      if (old !== undefined) expectBytes(old, second.bytes);
    });

    it('undo removes the package, and is idempotent', async () => {
      const uploader = await factory.create();
      const { packagePath } = await packageFile();
      const uri = await uploader.upload({ ...topology(), packagePath });
      await uploader.undo(uri);
      expect(await factory.read(uri)).toBeUndefined();
      await uploader.undo(uri);
    });

    it('undo works from another uploader instance, as when kill runs in another process', async () => {
      const uploader = await factory.create();
      const other = await factory.create();
      const { packagePath } = await packageFile();
      const uri = await uploader.upload({ ...topology(), packagePath });
      await other.undo(uri);
      expect(await factory.read(uri)).toBeUndefined();
    });

    it('undo of one package leaves the others', async () => {
      const uploader = await factory.create();
      const request = topology();
      const kept = await packageFile();
      const removed = await packageFile();
      const keptUri = await upload(uploader, { ...request, packagePath: kept.packagePath });
      const removedUri = await uploader.upload({
        topologyName: request.topologyName,
        topologyId: `${request.topologyId}-b`,
        packagePath: removed.packagePath,
      });
      await uploader.undo(removedUri);
      expectBytes(await factory.read(keptUri), kept.bytes);
    });

    it('uploads again after an undo', async () => {
      const uploader = await factory.create();
      const request = topology();
      const { packagePath, bytes } = await packageFile();
      await uploader.undo(await uploader.upload({ ...request, packagePath }));
      const uri = await upload(uploader, { ...request, packagePath });
      expectBytes(await factory.read(uri), bytes);
    });

    it('rejects a missing package with an UploaderError naming it', async () => {
      const uploader = await factory.create();
      scratch ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-uploader-conformance-'));
      const packagePath = path.join(scratch, 'no-such-package.tgz');
      const failure = uploader.upload({ ...topology(), packagePath });
      await expect(failure).rejects.toBeInstanceOf(UploaderError);
      await expect(failure).rejects.toThrow(packagePath);
    });
  });
}

/** Compares with Buffer.equals: a deep element-wise comparison of a package takes far longer. */
function expectBytes(actual: Buffer | undefined, expected: Buffer): void {
  expect(actual, 'nothing is stored at the URI').toBeDefined();
  if (actual!.equals(expected)) return;
  const first = [...Array(Math.min(actual!.length, expected.length)).keys()].find((i) => actual![i] !== expected[i]);
  expect.fail(
    `stored package differs: ${actual!.length} bytes instead ` +
      `of ${expected.length}${first === undefined ? '' : `, first difference at byte ${first}`}`,
  );
}

function randomPackage(): Buffer {
  const bytes = randomBytes(64 * 1024 + 17);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  return bytes;
}
