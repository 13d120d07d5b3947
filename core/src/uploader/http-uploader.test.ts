import http from 'node:http';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UploaderError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { PluginContext } from '../plugin/plugin-descriptor.js';
import { Uploader } from '../spi/uploader.js';
import { describeUploaderConformance } from '../testing/index.js';
import { HttpUploader, httpUploaderPlugin, PackageServer, SIGNATURE_PARAMETER } from './index.js';

const logger = new SilentLogger();
const TOKEN = 'package-server-test-token-0123456789';

/** A package server on a fresh directory, with its token in a private file. */
async function startServer(base: string, options: { maxPackageBytes?: number; directory?: string } = {}) {
  const directory = options.directory ?? path.join(base, 'packages');
  const tokenFile = path.join(base, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const server = new PackageServer({
    directory,
    token: TOKEN,
    logger,
    ...(options.maxPackageBytes ? { maxPackageBytes: options.maxPackageBytes } : {}),
  });
  const url = await server.listen('127.0.0.1');
  return { server, url, directory, tokenFile };
}

async function readUri(uri: string): Promise<Buffer | undefined> {
  const response = await fetch(uri);
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`GET ${uri}: HTTP ${response.status} ${await response.text()}`);
  return Buffer.from(await response.arrayBuffer());
}

let conformance: { base: string; server: PackageServer; url: string; tokenFile: string } | undefined;
describeUploaderConformance('HttpUploader with a package server', {
  create: async () => {
    if (!conformance) {
      const base = await mkdtemp(path.join(os.tmpdir(), 'ardea-http-uploader-'));
      conformance = { base, ...(await startServer(base)) };
    }
    return new HttpUploader({ url: conformance.url, tokenFile: conformance.tokenFile, timeoutMs: 10_000 }, logger);
  },
  read: readUri,
  cleanup: async () => {
    await conformance?.server.close();
    if (conformance) await rm(conformance.base, { recursive: true, force: true });
  },
});

describe('the package server and the http uploader', () => {
  let base: string;
  let server: PackageServer;
  let url: string;
  let directory: string;
  let tokenFile: string;
  let packagePath: string;
  const servers: PackageServer[] = [];

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ardea-package-server-'));
    ({ server, url, directory, tokenFile } = await startServer(base, { maxPackageBytes: 1024 * 1024 }));
    servers.push(server);
    packagePath = path.join(base, 'topology.mjs');
    await writeFile(packagePath, 'export default 42;\n');
  });
  afterEach(async () => {
    await chmod(tokenFile, 0o600);
    await writeFile(tokenFile, `${TOKEN}\n`);
  });
  afterAll(async () => {
    for (const running of servers) await running.close();
    await rm(base, { recursive: true, force: true });
  });

  const uploader = (options: { publicUrl?: string } = {}) => new HttpUploader({ url, tokenFile, timeoutMs: 10_000, ...options }, logger);
  const put = (route: string, body: string, token: string | null = TOKEN) =>
    fetch(`${url}${route}`, { method: 'PUT', body, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  /** A PUT whose path goes out as written: fetch would resolve `%2E%2E` segments before sending. */
  const rawPut = (route: string) =>
    new Promise<number>((resolve, reject) => {
      const request = http.request(
        `${url}${route}`,
        { method: 'PUT', path: route, headers: { authorization: `Bearer ${TOKEN}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.once('error', reject);
      request.end('bytes');
    });

  it('hands out a signed URL: the package is served there and nowhere else', async () => {
    const uri = await uploader().upload({ topologyName: 'word-count', topologyId: 'word-count-1', packagePath });
    const signed = new URL(uri);
    expect(`${signed.origin}${signed.pathname}`).toBe(`${url}/packages/word-count/word-count-1/topology.mjs`);
    expect(signed.searchParams.get(SIGNATURE_PARAMETER)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await readUri(uri))?.toString()).toBe('export default 42;\n');

    const unsigned = await fetch(`${signed.origin}${signed.pathname}`);
    expect(unsigned.status).toBe(403);
    expect(((await unsigned.json()) as { code: string }).code).toBe('http.forbidden');
    const forged = new URL(uri);
    forged.searchParams.set(SIGNATURE_PARAMETER, `${signed.searchParams.get(SIGNATURE_PARAMETER)!.slice(0, -2)}AA`);
    expect((await fetch(forged)).status).toBe(403);
    // A signature is for one package: it does not open another one, existing or not.
    const other = await uploader().upload({ topologyName: 'word-count', topologyId: 'word-count-2', packagePath });
    const elsewhere = new URL(other);
    elsewhere.search = signed.search;
    expect((await fetch(elsewhere)).status).toBe(403);
  });

  it('stores and removes only with the token, answering 401 before reading the body', async () => {
    for (const token of [null, 'wrong-token-wrong-token', `${TOKEN}x`]) {
      expect((await put('/packages/t/t-1/topology.mjs', 'bytes', token)).status).toBe(401);
      expect(
        (
          await fetch(`${url}/packages/t/t-1/topology.mjs`, {
            method: 'DELETE',
            ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
          })
        ).status,
      ).toBe(401);
    }
    expect(await readdir(directory)).not.toContain('t');
    const stored = await put('/packages/t/t-1/topology.mjs', 'bytes');
    expect(stored.status).toBe(201);
    const { location } = (await stored.json()) as { location: string };
    expect(await readUri(`${url}/${location}`)).toEqual(Buffer.from('bytes'));
    expect(
      (await fetch(`${url}/packages/t/t-1/topology.mjs`, { method: 'DELETE', headers: { authorization: 'Bearer nope-nope-nope-nope' } }))
        .status,
    ).toBe(401);
    expect(await readUri(`${url}/${location}`)).toEqual(Buffer.from('bytes'));
  });

  it('keeps packages and its signing key private to its owner', async () => {
    const umask = process.umask(0o022);
    try {
      await uploader().upload({ topologyName: 'private', topologyId: 'private-1', packagePath });
    } finally {
      process.umask(umask);
    }
    const modes = await Promise.all(
      ['', '.url-signing-key', 'private', 'private/private-1', 'private/private-1/topology.mjs'].map(
        async (entry) => `${entry} ${((await stat(path.join(directory, entry))).mode & 0o777).toString(8)}`,
      ),
    );
    expect(modes).toEqual([' 700', '.url-signing-key 600', 'private 700', 'private/private-1 700', 'private/private-1/topology.mjs 600']);
  });

  it('refuses packages over its size limit, declared or streamed, and keeps nothing of them', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 7);
    const declared = await fetch(`${url}/packages/big/big-1/topology.mjs`, {
      method: 'PUT',
      body: big,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(declared.status).toBe(413);
    const chunks = [big.subarray(0, 600_000), big.subarray(600_000)];
    const streamed = await fetch(`${url}/packages/big/big-2/topology.mjs`, {
      method: 'PUT',
      body: new ReadableStream({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
      }),
      headers: { authorization: `Bearer ${TOKEN}` },
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await readdir(directory)).not.toContain('big');
  });

  it('refuses names that are not plain directory and file names', async () => {
    for (const route of [
      '/packages/t/.hidden/topology.mjs',
      '/packages/t/t-1/.topology.mjs',
      '/packages/t/t-1/a%2Fb',
      '/packages/t/t-1/a%5Cb',
      '/packages/t/t-1/a%00b',
    ]) {
      expect({ route, status: await rawPut(route) }).toEqual({ route, status: 400 });
    }
    // Dot segments are resolved by URL parsing before routing: they never name a package at all.
    for (const route of ['/packages/%2E%2E/x/topology.mjs', '/packages/t/%2E%2E/topology.mjs', '/packages/t/t-1/%2E%2E']) {
      expect({ route, status: await rawPut(route) }).toEqual({ route, status: 404 });
    }
    expect(await readdir(base)).toEqual(expect.arrayContaining(['packages', 'token', 'topology.mjs']));
    expect(await readdir(base)).toHaveLength(3);
  });

  it('keeps serving signed URLs after a restart on the same directory, and 404 once a package is removed', async () => {
    const uri = await uploader().upload({ topologyName: 'restart', topologyId: 'restart-1', packagePath });
    const again = new PackageServer({ directory, token: TOKEN, logger });
    servers.push(again);
    const secondUrl = await again.listen('127.0.0.1');
    const moved = new URL(uri.replace(url, secondUrl));
    expect((await readUri(moved.href))?.toString()).toBe('export default 42;\n');
    await uploader().undo(uri);
    expect(await readUri(moved.href)).toBeUndefined();
    expect((await fetch(moved)).status).toBe(404);
  });

  it('hands out URLs under publicUrl, where containers reach the server, and removes them', async () => {
    const publicUrl = 'http://packages.cluster.internal:8478/ardea/';
    const uri = await uploader({ publicUrl }).upload({ topologyName: 'public', topologyId: 'public-1', packagePath });
    expect(uri.startsWith(`${publicUrl}packages/public/public-1/topology.mjs?${SIGNATURE_PARAMETER}=`)).toBe(true);
    await uploader({ publicUrl }).undo(uri);
    expect(await readdir(directory)).not.toContain('public');
  });

  it('refuses to remove what it did not hand out', async () => {
    const refusals = [
      'file:///tmp/packages/t/t-1/topology.mjs',
      `${url}/other/t/t-1/topology.mjs`,
      `${url}/packages/t/t-1`,
      `${url}/packages/t/t-1/x/topology.mjs`,
      'http://elsewhere.example:1/packages/t/t-1/topology.mjs',
      'not a uri',
    ];
    for (const uri of refusals) await expect(uploader().undo(uri), uri).rejects.toBeInstanceOf(UploaderError);
  });

  it('says what to fix when the token file is missing, open to others, or holds the wrong token', async () => {
    const request = { topologyName: 't', topologyId: 't-9', packagePath };
    const missing = path.join(base, 'no-such-token');
    await expect(new HttpUploader({ url, tokenFile: missing, timeoutMs: 10_000 }).upload(request)).rejects.toThrow(
      new RegExp(
        `uploader.tokenFile ${missing}: cannot read the token \\(it does not exist\\); ` +
          `'ardea package-server --token-file ${missing}' creates one`,
      ),
    );
    await chmod(tokenFile, 0o644);
    await expect(uploader().upload(request)).rejects.toThrow(
      `group or others may access the token file (mode 644); run: chmod 600 ${tokenFile}`,
    );
    await chmod(tokenFile, 0o600);
    await writeFile(tokenFile, 'a-token-that-is-not-the-servers\n');
    const refused = uploader().upload(request);
    await expect(refused).rejects.toBeInstanceOf(UploaderError);
    await expect(refused).rejects.toThrow(
      /refused PUT \(HTTP 401\): missing or wrong package server token; uploader.tokenFile must hold the token the server was started with/,
    );
  });

  it('names the server when it is not reachable', async () => {
    const closed = new PackageServer({ directory: path.join(base, 'closed'), token: TOKEN, logger });
    const closedUrl = await closed.listen('127.0.0.1');
    await closed.close();
    const failure = new HttpUploader({ url: closedUrl, tokenFile, timeoutMs: 10_000 }).upload({
      topologyName: 't',
      topologyId: 't-1',
      packagePath,
    });
    await expect(failure).rejects.toThrow(
      new RegExp(`to ${closedUrl}/packages/t/t-1/topology.mjs: the package server is not reachable .*'ardea package-server' running`),
    );
  });

  describe('plugin descriptor', () => {
    const context: PluginContext = { cluster: 'lab', home: '/srv/ardea', clusterDirectory: undefined, logger };

    it('validates its config strictly', () => {
      const valid = { url: 'http://127.0.0.1:8478', tokenFile: 'package-server.token' };
      expect(httpUploaderPlugin.configSchema.safeParse(valid).success).toBe(true);
      expect(httpUploaderPlugin.configSchema.safeParse({ ...valid, publicUrl: 'https://packages.example/ardea' }).success).toBe(true);
      expect(httpUploaderPlugin.configSchema.safeParse({ ...valid, url: 'ftp://host/' }).success).toBe(false);
      expect(httpUploaderPlugin.configSchema.safeParse({ ...valid, token: 'inline' }).success).toBe(false);
      expect(httpUploaderPlugin.configSchema.safeParse({ url: valid.url }).success).toBe(false);
      expect(httpUploaderPlugin).toMatchObject({ name: 'http', kind: 'uploader' });
    });

    it('binds one HttpUploader without reading the token file', async () => {
      const container = new Container();
      container.bind<Logger>(Logger).toConstantValue(logger);
      await container.loadAsync(
        httpUploaderPlugin.createModule(httpUploaderPlugin.configSchema.parse({ url, tokenFile: 'no-such-file' }), context),
      );
      expect(container.get<Uploader>(Uploader)).toBeInstanceOf(HttpUploader);
    });
  });
});
