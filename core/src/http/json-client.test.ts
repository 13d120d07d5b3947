import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ArdeaError, SchedulerError, TopologyError } from '../errors/index.js';
import { SilentLogger } from '../logging/index.js';
import { JsonHttpClient } from './json-client.js';
import { HttpRequestError, JsonHttpServer, jsonRoute } from './json-server.js';

const SECRET = 'json-client-test-secret';
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function server(): Promise<string> {
  const json = new JsonHttpServer({
    name: 'test',
    secret: SECRET,
    logger: new SilentLogger(),
    routes: [
      jsonRoute({ method: 'GET', path: '/echo', query: z.object({ n: z.string() }).strict(), handle: ({ query }) => ({ n: query.n }) }),
      jsonRoute({ method: 'POST', path: '/sum', body: z.array(z.number()), handle: ({ body }) => body.reduce((a, b) => a + b, 0) }),
      jsonRoute({
        method: 'POST',
        path: '/refuse',
        handle: () => {
          throw new HttpRequestError(400, "topology 'wc' has no component 'nope'", { code: 'runtime-config.invalid' });
        },
      }),
    ],
  });
  cleanups.push(() => json.close());
  return json.listen('127.0.0.1');
}

/** A server whose kernel accepts connections while nothing reads them: a stopped process. */
async function silentServer(): Promise<string> {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  return `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
}

const client = (baseUrl: string, bearer = SECRET, timeoutMs?: number) =>
  new JsonHttpClient({
    baseUrl,
    bearer,
    target: "the topology master of 'wc'",
    error: TopologyError,
    advice: "check 'ardea status local wc'",
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

async function failure(promise: Promise<unknown>): Promise<ArdeaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TopologyError);
  return error as ArdeaError;
}

describe('JsonHttpClient', () => {
  it('sends the bearer token and JSON, and returns the parsed answer', async () => {
    const api = client(await server());
    expect(await api.get('/echo?n=7')).toEqual({ n: '7' });
    expect(await api.post('/sum', [1, 2, 3])).toBe(6);
  });

  it("raises a refusal as the given error with the server's message and code", async () => {
    const api = client(await server());
    const refused = await failure(api.post('/refuse'));
    expect(refused.message).toBe("the topology master of 'wc' refused POST /refuse (HTTP 400): topology 'wc' has no component 'nope'");
    expect(refused.code).toBe('runtime-config.invalid');
    const unauthorised = await failure(client(await server(), 'wrong').get('/echo?n=1'));
    expect(unauthorised.message).toBe("the topology master of 'wc' refused GET /echo (HTTP 401): missing or wrong topology secret");
    expect(unauthorised.code).toBe('http.unauthorized');
  });

  it('gives up on a server that accepts the connection but never answers, naming it and what to do', async () => {
    const base = await silentServer();
    const timedOut = await failure(client(base, SECRET, 300).get('/metrics?instances=true'));
    expect(timedOut.message).toBe(
      `the topology master of 'wc' at ${new URL(base).host} did not answer GET /metrics within 0.3 s; check 'ardea status local wc'`,
    );
    expect(timedOut.code).toBe('http.timeout');
  });

  it('reports a server that is not listening as unreachable', async () => {
    const base = await silentServer();
    await cleanups.pop()!();
    const unreachable = await failure(client(base).get('/status'));
    expect(unreachable.message).toMatch(
      new RegExp(`^the topology master of 'wc' at ${new URL(base).host} is not reachable \\(.+\\); check 'ardea status local wc'$`),
    );
    expect(unreachable.code).toBe('http.unreachable');
  });

  it('reports an answer that is not JSON with an excerpt of it', async () => {
    const sockets: net.Socket[] = [];
    const plain = net.createServer((socket) => {
      sockets.push(socket);
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\nConnection: close\r\n\r\nupstream!!!');
    });
    await new Promise<void>((resolve) => plain.listen({ host: '127.0.0.1', port: 0 }, resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    });
    const base = `http://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
    const broken = await failure(client(base).get('/status'));
    expect(broken.message).toBe(
      `the topology master of 'wc' at ${new URL(base).host} answered GET /status with HTTP 502 and a body that is not JSON: upstream!!!`,
    );
    expect(broken.code).toBe('http.invalid-response');
    expect(broken).not.toBeInstanceOf(SchedulerError);
  });
});
