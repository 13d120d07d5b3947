import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UploaderError } from '../errors/index.js';
import { SilentLogger } from '../logging/index.js';
import type { Uploader } from '../spi/uploader.js';
import { displayedPackageUri, localPackageUrl } from './package-fetch.js';

const logger = new SilentLogger();
const BUNDLE = Buffer.from('export default "the topology";\n');
const SHA256 = createHash('sha256').update(BUNDLE).digest('hex');

let base: string;
let cacheDirectory: string;
let server: http.Server | undefined;
const requests: string[] = [];

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'ardea-package-fetch-'));
  cacheDirectory = path.join(base, 'container-1', 'package-cache');
  requests.length = 0;
});
afterEach(async () => {
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = undefined;
  await rm(base, { recursive: true, force: true });
});

/** Serves BUNDLE at /packages/t/t-1/topology.mjs?signature=good, 403 without it, 404 elsewhere. */
async function serve(body: Buffer = BUNDLE, file = 'topology.mjs'): Promise<string> {
  server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname !== `/packages/t/t-1/${file}`) return void response.writeHead(404).end('{"error":"no package"}');
    if (url.searchParams.get('signature') !== 'good') return void response.writeHead(403).end('{"error":"missing or wrong signature"}');
    response.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/packages/t/t-1/${file}?signature=good`;
}

const cacheEntries = async () => (await readdir(cacheDirectory).catch(() => [] as string[])).sort();

describe('loading a topology package by URI', () => {
  it('fetches an http URI into a private cache, checks it, and hands the workers a file:// URL of the copy', async () => {
    const uri = await serve();
    const url = await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    expect(url).toBe(pathToFileURL(path.join(cacheDirectory, `topology-${SHA256}.mjs`)).href);
    expect(await readFile(fileURLToPath(url))).toEqual(BUNDLE);
    expect(requests).toEqual(['/packages/t/t-1/topology.mjs?signature=good']);
    expect(((await stat(cacheDirectory)).mode & 0o777).toString(8)).toBe('700');
    expect(((await stat(fileURLToPath(url))).mode & 0o777).toString(8)).toBe('600');
    expect(await cacheEntries()).toEqual([`topology-${SHA256}.mjs`]);
  });

  it('starts again from the checked copy without the server, as a container restarted while it is down', async () => {
    const uri = await serve();
    const first = await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    expect(await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger })).toBe(first);
    expect(requests).toHaveLength(1);
  });

  it('fetches again over a cached copy that does not match', async () => {
    const uri = await serve();
    await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    await writeFile(path.join(cacheDirectory, `topology-${SHA256}.mjs`), 'tampered');
    const url = await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    expect(await readFile(fileURLToPath(url))).toEqual(BUNDLE);
    expect(requests).toHaveLength(2);
  });

  it('keeps one copy: the package it fetches replaces copies of earlier ones', async () => {
    const uri = await serve();
    const earlier = `topology-${'e'.repeat(64)}.mjs`;
    await mkdir(cacheDirectory, { recursive: true });
    await writeFile(path.join(cacheDirectory, earlier), 'an earlier submission');
    await writeFile(path.join(cacheDirectory, 'notes.txt'), 'not a package copy');
    await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    expect(await cacheEntries()).toEqual(['notes.txt', `topology-${SHA256}.mjs`]);
  });

  it('refuses a package whose checksum is not the submitted one, keeping nothing of it', async () => {
    const uri = await serve(Buffer.from('export default "something else";\n'));
    const failure = localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger });
    await expect(failure).rejects.toBeInstanceOf(UploaderError);
    await expect(failure).rejects.toMatchObject({ code: 'package.checksum' });
    await expect(failure).rejects.toThrow(/is not the one submitted: its SHA-256 is [0-9a-f]{64}, the submitter uploaded [0-9a-f]{64}/);
    expect(await cacheEntries()).toEqual([]);
  });

  it('names the answer of a server that refuses, without showing the signature', async () => {
    const uri = await serve();
    const forged = uri.replace('signature=good', 'signature=forged');
    const failure = localPackageUrl({ uri: forged, sha256: SHA256, cacheDirectory, logger });
    await expect(failure).rejects.toThrow(
      /cannot fetch topology package http:\/\/127\.0\.0\.1:\d+\/packages\/t\/t-1\/topology\.mjs\?…: the server answered HTTP 403/,
    );
    await expect(failure).rejects.not.toThrow(/forged/);
    expect(await cacheEntries()).toEqual([]);
  });

  it('names an unreachable server', async () => {
    const uri = await serve();
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    await expect(localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger })).rejects.toMatchObject({ code: 'package.fetch-failed' });
  });

  it('reads a file:// package where it lies, checking it when the checksum is known', async () => {
    const file = path.join(base, 'packages', 'topology.mjs');
    await mkdir(path.dirname(file));
    await writeFile(file, BUNDLE);
    const uri = pathToFileURL(file).href;
    expect(await localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger })).toBe(uri);
    expect(await localPackageUrl({ uri, cacheDirectory, logger })).toBe(uri);
    await writeFile(file, 'replaced');
    await expect(localPackageUrl({ uri, sha256: SHA256, cacheDirectory, logger })).rejects.toMatchObject({ code: 'package.checksum' });
  });

  it('refuses a scheme it cannot read, saying which it reads', async () => {
    const failure = localPackageUrl({ uri: 'sftp://login.hpc/packages/t/t-1/topology.mjs', sha256: SHA256, cacheDirectory, logger });
    await expect(failure).rejects.toMatchObject({ code: 'package.unsupported-scheme' });
    await expect(failure).rejects.toThrow(
      /this executor reads file:\/\/, http:\/\/ and https:\/\/ packages, and the cluster's uploader does not fetch 'sftp:' URIs itself/,
    );
  });

  it("fetches through the cluster's uploader when it can fetch", async () => {
    const fetched: string[] = [];
    const uploader: Uploader = {
      upload: () => Promise.reject(new Error('not used')),
      undo: () => Promise.resolve(),
      fetch: async ({ uri, destination }) => {
        fetched.push(uri);
        await writeFile(destination, BUNDLE);
      },
    };
    const url = await localPackageUrl({ uri: 'vault://packages/t-1', sha256: SHA256, cacheDirectory, uploader, logger });
    expect(await readFile(fileURLToPath(url))).toEqual(BUNDLE);
    expect(fetched).toEqual(['vault://packages/t-1']);
  });

  it('shows package URIs without their query', () => {
    expect(displayedPackageUri('http://h:1/packages/t/t-1/topology.mjs?signature=abc')).toBe('http://h:1/packages/t/t-1/topology.mjs?…');
    expect(displayedPackageUri('file:///srv/packages/t/t-1/topology.mjs')).toBe('file:///srv/packages/t/t-1/topology.mjs');
  });
});

describe('loading a package archive (a bundle with the node_modules of its externals)', () => {
  /** A topology.tar.gz of a bundle that imports `dep` from the node_modules beside it, with its SHA-256. */
  async function archive(extra: (directory: string) => Promise<string[]> = async () => []): Promise<{ file: string; sha256: string }> {
    const directory = path.join(base, 'staged');
    await mkdir(path.join(directory, 'node_modules', 'dep'), { recursive: true });
    await writeFile(path.join(directory, 'topology.mjs'), "import dep from 'dep';\nexport default dep;\n");
    await writeFile(path.join(directory, 'node_modules', 'dep', 'package.json'), '{ "name": "dep", "main": "index.js" }');
    await writeFile(path.join(directory, 'node_modules', 'dep', 'index.js'), "module.exports = 'from dep';\n");
    const members = ['topology.mjs', 'node_modules', ...(await extra(directory))];
    const file = path.join(base, 'topology.tar.gz');
    await promisify(execFile)('tar', ['-czPf', file, '-C', directory, ...members]);
    return {
      file,
      sha256: createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    };
  }

  it('unpacks a file:// archive once into the cache, and its bundle imports the externals beside it', async () => {
    const { file, sha256 } = await archive();
    const uri = pathToFileURL(file).href;
    const url = await localPackageUrl({ uri, sha256, cacheDirectory, logger });
    expect(url).toBe(pathToFileURL(path.join(cacheDirectory, `topology-${sha256}`, 'topology.mjs')).href);
    expect(((await import(url)) as { default: string }).default).toBe('from dep');
    // The archive stays where the uploader put it; the cache holds only the unpacked directory.
    expect(await cacheEntries()).toEqual([`topology-${sha256}`]);
    await rm(file);
    expect(await localPackageUrl({ uri, sha256, cacheDirectory, logger })).toBe(url);
  });

  it('fetches an http archive, checks and unpacks it, and starts again from the cache without the server', async () => {
    const { file, sha256 } = await archive();
    const uri = await serve(await readFile(file), 'topology.tar.gz');
    const url = await localPackageUrl({ uri, sha256, cacheDirectory, logger });
    expect(((await import(url)) as { default: string }).default).toBe('from dep');
    expect(await cacheEntries()).toEqual([`topology-${sha256}`]);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    expect(await localPackageUrl({ uri, sha256, cacheDirectory, logger })).toBe(url);
    expect(requests).toHaveLength(1);
  });

  it('refuses an archive whose checksum is not the submitted one', async () => {
    const { file } = await archive();
    const failure = localPackageUrl({ uri: pathToFileURL(file).href, sha256: SHA256, cacheDirectory, logger });
    await expect(failure).rejects.toMatchObject({ code: 'package.checksum' });
    expect(await cacheEntries()).toEqual([]);
  });

  it('refuses a member that would land outside the cache, and unpacks nothing', async () => {
    await writeFile(path.join(base, 'outside.txt'), 'escaped');
    const { file, sha256 } = await archive(async () => ['../outside.txt']);
    const failure = localPackageUrl({ uri: pathToFileURL(file).href, sha256, cacheDirectory, logger });
    await expect(failure).rejects.toMatchObject({ code: 'package.unpack-failed' });
    await expect(failure).rejects.toThrow(/its member '\.\.\/outside\.txt' would land outside the directory it is unpacked into/);
    expect(await cacheEntries()).toEqual([]);
  });

  it('refuses an archive holding a symbolic link', async () => {
    const { file, sha256 } = await archive(async (directory) => {
      await symlink('/etc', path.join(directory, 'link'));
      return ['link'];
    });
    const failure = localPackageUrl({ uri: pathToFileURL(file).href, sha256, cacheDirectory, logger });
    await expect(failure).rejects.toThrow(/holds something other than files and directories \(l/);
    expect(await cacheEntries()).toEqual([]);
  });
});
