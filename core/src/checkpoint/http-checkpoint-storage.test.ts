import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../errors/index.js';
import { SilentLogger, StreamLogger } from '../logging/index.js';
import { CheckpointStorage, type CheckpointManifest } from '../spi/checkpoint-storage.js';
import { describeCheckpointStorageConformance, loadPluginForTest } from '../testing/index.js';
import { HttpUploader, PackageServer } from '../uploader/index.js';
import { CHECKPOINT_CODES, HttpCheckpointStorage, httpCheckpointStoragePlugin } from './index.js';

const logger = new SilentLogger();
const TOKEN = 'checkpoint-server-test-token-0123456789';

/** A package server on a fresh directory under `base`, with its token in a private file. */
async function startServer(base: string, options: { maxCheckpointPartBytes?: number; lines?: string[] } = {}) {
  const directory = path.join(base, 'packages');
  const tokenFile = path.join(base, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const serverLogger = options.lines
    ? new StreamLogger({ level: 'debug', format: 'json', stream: { write: (line: string) => options.lines!.push(line) } })
    : logger;
  const server = new PackageServer({
    directory,
    token: TOKEN,
    logger: serverLogger,
    ...(options.maxCheckpointPartBytes ? { maxCheckpointPartBytes: options.maxCheckpointPartBytes } : {}),
  });
  const url = await server.listen('127.0.0.1');
  return { server, url, directory, tokenFile };
}

let conformance: { base: string; server: PackageServer; url: string; tokenFile: string } | undefined;
describeCheckpointStorageConformance('HttpCheckpointStorage with a package server', {
  create: async () => {
    if (!conformance) {
      const base = await mkdtemp(path.join(os.tmpdir(), 'ardea-http-checkpoints-'));
      conformance = { base, ...(await startServer(base)) };
    }
    return new HttpCheckpointStorage({ url: conformance.url, tokenFile: conformance.tokenFile, timeoutMs: 60_000 }, logger);
  },
  cleanup: async () => {
    await conformance?.server.close();
    if (conformance) await rm(conformance.base, { recursive: true, force: true });
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

async function failureOf(promise: Promise<unknown>): Promise<CheckpointError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('checkpoints on the package server', () => {
  let base: string;
  let server: PackageServer;
  let url: string;
  let directory: string;
  let tokenFile: string;
  const lines: string[] = [];
  const run = { topologyName: 'word-count', topologyId: 'word-count-1a2b3c4d' };
  const storage = (options: { token?: string; url?: string } = {}) =>
    new HttpCheckpointStorage(
      options.token === undefined
        ? { url: options.url ?? url, tokenFile, timeoutMs: 60_000 }
        : { url: options.url ?? url, token: options.token, timeoutMs: 60_000 },
      logger,
    );

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ardea-checkpoint-server-'));
    ({ server, url, directory, tokenFile } = await startServer(base, { maxCheckpointPartBytes: 200 * 1024 * 1024, lines }));
  });
  afterAll(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  it('keeps them under the server directory in the localfs layout, private, and apart from the packages', async () => {
    const client = storage();
    await client.store(run, 2, 'count-0', Buffer.from('state'));
    await client.commit(run, manifest(2, { 'count-0': 5 }));
    const runDirectory = path.join(directory, '.checkpoints', 'word-count', 'word-count-1a2b3c4d');
    expect(await readFile(path.join(runDirectory, '2', 'count-0'), 'utf8')).toBe('state');
    expect(JSON.parse(await readFile(path.join(runDirectory, 'manifests', '2.json'), 'utf8'))).toEqual(manifest(2, { 'count-0': 5 }));
    expect((await stat(path.join(directory, '.checkpoints'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(runDirectory, '2', 'count-0'))).mode & 0o777).toBe(0o600);
    expect(lines.map((line) => JSON.parse(line) as { msg: string; checkpointId?: number })).toContainEqual(
      expect.objectContaining({ msg: 'checkpoint committed', checkpointId: 2, topologyName: 'word-count' }),
    );

    // A topology may even be called `checkpoints`: its package and the checkpoints do not meet.
    const packagePath = path.join(base, 'topology.mjs');
    await writeFile(packagePath, 'export default 1;\n');
    const uploader = new HttpUploader({ url, tokenFile, timeoutMs: 10_000 }, logger);
    const uri = await uploader.upload({ topologyName: 'checkpoints', topologyId: 'checkpoints-1', packagePath });
    expect(await (await fetch(uri)).text()).toBe('export default 1;\n');
    await uploader.undo(uri);
    await client.dispose(run);
    expect(await readdir(path.join(directory, '.checkpoints'))).toEqual([]);
  });

  it('works with the token by value, as the containers get it', async () => {
    const client = storage({ token: TOKEN });
    await client.store(run, 1, 'p', Buffer.from('by value'));
    expect(Buffer.from((await client.load(run, 1, 'p'))!).toString()).toBe('by value');
    await client.dispose(run);
  });

  it('serves nothing without the token, reading included, and says so before reading a body', async () => {
    const client = storage();
    await client.store(run, 1, 'count-0', Buffer.from('private state'));
    await client.commit(run, manifest(1, { 'count-0': 13 }));
    const requests: Array<[string, string]> = [
      ['GET', 'checkpoints/word-count/word-count-1a2b3c4d/1/count-0'],
      ['GET', 'checkpoints/word-count/word-count-1a2b3c4d/latest'],
      ['PUT', 'checkpoints/word-count/word-count-1a2b3c4d/1/count-0'],
      ['PUT', 'checkpoints/word-count/word-count-1a2b3c4d/2'],
      ['DELETE', 'checkpoints/word-count/word-count-1a2b3c4d/below/5'],
      ['DELETE', 'checkpoints/word-count/word-count-1a2b3c4d'],
    ];
    for (const [method, route] of requests) {
      for (const authorization of [undefined, 'Bearer wrong-token-wrong-token', `Bearer ${TOKEN}x`, TOKEN]) {
        const response = await fetch(`${url}/${route}`, {
          method,
          headers: authorization === undefined ? {} : { authorization },
          ...(method === 'PUT' ? { body: 'overwritten' } : {}),
        });
        expect(response.status, `${method} ${route} with ${String(authorization)}`).toBe(401);
        expect(((await response.json()) as { code: string }).code).toBe('http.unauthorized');
      }
    }
    expect(Buffer.from((await client.load(run, 1, 'count-0'))!).toString()).toBe('private state');
    expect((await client.latest(run))?.checkpointId).toBe(1);
    await client.dispose(run);
  });

  it('refuses a wrong token with a CheckpointError naming the URL, the status and what to do', async () => {
    const failure = await failureOf(storage({ token: 'wrong-token-wrong-token' }).store(run, 1, 'count-0', Buffer.from('x')));
    expect(failure.message).toBe(
      `cannot store part 'count-0' of checkpoint 1 of topology 'word-count' (run word-count-1a2b3c4d) at ` +
        `${url}/checkpoints/word-count/word-count-1a2b3c4d/1/count-0: the package server refused PUT (HTTP 401): ` +
        'missing or wrong package server token; every checkpoint request needs it; checkpoints.tokenFile (or the ' +
        'uploader.tokenFile it defaults to) must hold the token the server was started with',
    );
    const latest = await failureOf(storage({ token: 'wrong-token-wrong-token' }).latest(run));
    expect(latest.message).toContain(`${url}/checkpoints/word-count/word-count-1a2b3c4d/latest`);
    expect(latest.message).toContain('(HTTP 401)');
  });

  it('says what to do when the server is not running', async () => {
    const stopped = await startServer(await mkdtemp(path.join(base, 'stopped-')));
    await stopped.server.close();
    const failure = await failureOf(storage({ url: stopped.url }).latest(run));
    expect(failure.message).toMatch(
      new RegExp(
        `^cannot read the latest checkpoint of topology 'word-count' \\(run word-count-1a2b3c4d\\) from ` +
          `${stopped.url.replace(/[.]/g, '\\.')}/checkpoints/word-count/word-count-1a2b3c4d/latest: the package server is not ` +
          `reachable \\(.+\\); start 'ardea package-server' there, ` +
          `or correct checkpoints\\.url \\(or the uploader's url it defaults to\\)$`,
      ),
    );
    expect(failure.code).toBe(CHECKPOINT_CODES.failed);
  });

  it('says so when the token file is missing, naming the setting', async () => {
    const client = new HttpCheckpointStorage({ url, tokenFile: path.join(base, 'no-token'), timeoutMs: 10_000 }, logger);
    const failure = await failureOf(client.dispose(run));
    expect(failure.message).toContain(`checkpoints.tokenFile ${path.join(base, 'no-token')}: cannot read the token (it does not exist)`);
  });

  it('passes the storage’s refusals through with their codes', async () => {
    const client = storage();
    await client.store(run, 3, 'p', Buffer.from('abc'));
    await client.commit(run, manifest(3, { p: 3 }));
    const lower = await failureOf(client.commit(run, manifest(2, {})));
    expect(lower.code).toBe(CHECKPOINT_CODES.notAboveLatest);
    expect(lower.message).toMatch(
      /^cannot commit checkpoint 2 of topology 'word-count' \(run word-count-1a2b3c4d\) at .*: .*checkpoint 3 is committed already/,
    );
    const missing = await failureOf(client.commit(run, manifest(4, { q: 1 })));
    expect(missing.code).toBe(CHECKPOINT_CODES.missingPart);
    expect(missing.message).toContain("part 'q' is not stored");
    const late = await failureOf(client.store(run, 3, 'p', Buffer.from('changed')));
    expect(late.code).toBe(CHECKPOINT_CODES.notAboveLatest);
    await client.dispose(run);
  });

  it('refuses names that would leave the run on the server too, whatever a client sends', async () => {
    for (const route of [
      'checkpoints/word-count/..%2F..%2Fescape/1/p',
      'checkpoints/word-count/word-count-1/1/..',
      'checkpoints/word-count/word-count-1/1/a%2Fb',
      'checkpoints/.hidden/word-count-1/1/p',
    ]) {
      const response = await fetch(`${url}/${route}`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: 'x' });
      expect([400, 404], route).toContain(response.status);
    }
    expect((await readdir(path.join(directory, '.checkpoints'))).sort()).not.toContain('.hidden');
    const manifestFor = await fetch(`${url}/checkpoints/word-count/word-count-1/7`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(manifest(8, {})),
    });
    expect(manifestFor.status).toBe(400);
    expect(((await manifestFor.json()) as { code: string }).code).toBe(CHECKPOINT_CODES.invalidManifest);
  });

  it('refuses a part over the server’s limit with 413, saying which option raises it', async () => {
    const small = await startServer(await mkdtemp(path.join(base, 'small-')), { maxCheckpointPartBytes: 1024 });
    try {
      const client = new HttpCheckpointStorage({ url: small.url, tokenFile: small.tokenFile, timeoutMs: 10_000 }, logger);
      const failure = await failureOf(client.store(run, 1, 'p', Buffer.alloc(4096)));
      expect(failure.code).toBe(CHECKPOINT_CODES.tooLarge);
      expect(failure.message).toContain('checkpoint part larger than 1024 bytes; raise the server');
      expect(failure.message).toContain('--max-checkpoint-part-size');
      expect(await client.load(run, 1, 'p')).toBeUndefined();
    } finally {
      await small.server.close();
    }
  });

  it('tells a server without checkpoint routes from a missing part', async () => {
    const { Hono } = await import('hono');
    const { createLimitedServer, listenOn, closeServer } = await import('../http/hardened-server.js');
    const other = createLimitedServer(new Hono().fetch, {
      maxConnections: 4,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      keepAliveTimeoutMs: 1000,
    });
    const otherUrl = await listenOn(other, '127.0.0.1');
    try {
      const failure = await failureOf(storage({ url: otherUrl, token: TOKEN }).load(run, 1, 'p'));
      expect(failure.message).toContain('(HTTP 404)');
      expect(failure.message).toContain(`is ${otherUrl}/ a package server of an Ardea version that keeps checkpoints?`);
    } finally {
      await closeServer(other);
    }
  });

  it('moves a part of 128 MiB each way', async () => {
    const client = storage();
    const large = Buffer.allocUnsafe(128 * 1024 * 1024);
    for (let i = 0; i < large.length; i += 4096) large.writeUInt32LE(i, i);
    await client.store(run, 1, 'count-0', large);
    const loaded = await client.load(run, 1, 'count-0');
    expect(loaded?.byteLength).toBe(large.length);
    expect(Buffer.from(loaded!.buffer, loaded!.byteOffset, loaded!.byteLength).equals(large)).toBe(true);
    await client.dispose(run);
  });
});

describe('the http checkpoint storage plugin', () => {
  it('binds an HttpCheckpointStorage from url and tokenFile, the file taken from $ARDEA_HOME', async () => {
    const plugin = await loadPluginForTest(httpCheckpointStoragePlugin, {
      url: 'http://127.0.0.1:8478',
      tokenFile: 'package-server.token',
    });
    try {
      expect(plugin.get<CheckpointStorage>(CheckpointStorage)).toBeInstanceOf(HttpCheckpointStorage);
      expect(plugin.config).toEqual({ url: 'http://127.0.0.1:8478', tokenFile: 'package-server.token', timeoutMs: 120_000 });
      const failure = await failureOf(plugin.get<CheckpointStorage>(CheckpointStorage).latest({ topologyName: 't', topologyId: 't-1' }));
      expect(failure.message).toContain(`checkpoints.tokenFile ${path.join(plugin.context.home, 'package-server.token')}`);
    } finally {
      await plugin.close();
    }
  });

  it('needs a URL and exactly one of token and tokenFile', async () => {
    await expect(loadPluginForTest(httpCheckpointStoragePlugin, { tokenFile: 't' })).rejects.toThrow(/checkpoints\.url/);
    await expect(loadPluginForTest(httpCheckpointStoragePlugin, { url: 'ftp://x', tokenFile: 't' })).rejects.toThrow(
      /expected an http:\/\/ or https:\/\/ URL/,
    );
    await expect(loadPluginForTest(httpCheckpointStoragePlugin, { url: 'http://x' })).rejects.toThrow(/checkpoints\.tokenFile/);
    await expect(loadPluginForTest(httpCheckpointStoragePlugin, { url: 'http://x', tokenFile: 't', token: TOKEN })).rejects.toThrow(
      /set token or tokenFile, not both/,
    );
  });
});
