import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
async function serve(body: Buffer = BUNDLE): Promise<string> {
  server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname !== '/packages/t/t-1/topology.mjs') return void response.writeHead(404).end('{"error":"no package"}');
    if (url.searchParams.get('signature') !== 'good') return void response.writeHead(403).end('{"error":"missing or wrong signature"}');
    response.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/packages/t/t-1/topology.mjs?signature=good`;
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
