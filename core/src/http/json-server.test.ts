import net from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { SchedulerError } from '../errors/index.js';
import { SilentLogger } from '../logging/index.js';
import { HttpRequestError, JsonHttpServer, jsonRoute, type JsonServerLimits } from './json-server.js';

const SECRET = 'json-server-test-secret';
const servers: JsonHttpServer[] = [];
const events: string[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  events.length = 0;
});

const routes = [
  jsonRoute({ method: 'GET', path: '/status', handle: () => ({ ok: true }) }),
  jsonRoute({
    method: 'GET',
    path: '/metrics',
    query: z.object({ windowMs: z.coerce.number().int().positive().optional() }).strict(),
    handle: ({ query }) => ({ windowMs: query.windowMs ?? null }),
  }),
  jsonRoute({
    method: 'POST',
    path: '/restart',
    body: z.object({ containerId: z.number().int().nonnegative().optional() }).strict().optional(),
    handle: ({ body }) => ({ restarted: body?.containerId ?? 'all' }),
  }),
  jsonRoute({
    method: 'POST',
    path: '/changes',
    body: z.array(z.object({ key: z.string(), value: z.unknown() }).strict()),
    handle: ({ body }) => ({ count: body.length }),
  }),
  jsonRoute({
    method: 'POST',
    path: '/kill',
    handle: ({ afterResponse }) => {
      afterResponse(() => events.push('after response'));
      events.push('handled');
      return { killed: true };
    },
  }),
  jsonRoute({
    method: 'POST',
    path: '/fail',
    body: z.object({ how: z.enum(['request', 'refused', 'bug']) }).strict(),
    handle: ({ body }) => {
      if (body.how === 'request') throw new HttpRequestError(400, 'no such component', { code: 'runtime-config.invalid' });
      if (body.how === 'refused') throw new SchedulerError('container 3 is running already', { code: 'scheduler.conflict' });
      throw new TypeError('cannot read properties of undefined');
    },
  }),
];

async function start(limits: Partial<JsonServerLimits> = {}): Promise<string> {
  const server = new JsonHttpServer({ name: 'test', secret: SECRET, routes, logger: new SilentLogger(), limits });
  servers.push(server);
  return server.listen('127.0.0.1');
}

async function call(
  base: string,
  method: string,
  route: string,
  body?: string | ReadableStream,
  headers: Record<string, string> = { authorization: `Bearer ${SECRET}` },
) {
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body, duplex: 'half' }),
  } as RequestInit);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function rawConnection(base: string): Promise<net.Socket> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: net.Socket): Promise<void> {
  socket.resume();
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('JsonHttpServer', () => {
  it('answers routes with JSON once the bearer token is right', async () => {
    const base = await start();
    expect(await call(base, 'GET', '/status')).toEqual({ status: 200, body: { ok: true } });
    expect(await call(base, 'GET', '/metrics?windowMs=2000')).toEqual({ status: 200, body: { windowMs: 2000 } });
    expect(await call(base, 'POST', '/restart', '{"containerId":2}')).toEqual({ status: 200, body: { restarted: 2 } });
    expect(await call(base, 'POST', '/restart')).toEqual({ status: 200, body: { restarted: 'all' } });
    expect(await call(base, 'POST', '/changes', '[{"key":"rate","value":3}]')).toEqual({ status: 200, body: { count: 1 } });
  });

  it('answers 401 to any request without the right token, known route or not, before reading its body', async () => {
    const base = await start({ maxBodyBytes: 10 });
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: SECRET },
      { authorization: `Bearer ${SECRET}x` },
    ] as Array<Record<string, string>>) {
      for (const [method, route, body] of [
        ['GET', '/status'],
        ['POST', '/restart', '{"containerId":"2"}'],
        ['POST', '/kill', 'x'.repeat(1000)],
        ['GET', '/nowhere'],
      ] as const) {
        expect(await call(base, method, route, body, headers)).toEqual({
          status: 401,
          body: { error: 'missing or wrong topology secret', code: 'http.unauthorized' },
        });
      }
    }
    expect(events).toEqual([]);
  });

  it('answers 404 naming the method and path of an unknown route', async () => {
    const base = await start();
    expect(await call(base, 'GET', '/kill')).toEqual({ status: 404, body: { error: 'no route GET /kill', code: 'http.not-found' } });
    expect(await call(base, 'POST', '/nowhere', '{}')).toEqual({
      status: 404,
      body: { error: 'no route POST /nowhere', code: 'http.not-found' },
    });
  });

  it.each([
    ['/restart', '{"containerId":"2"}', 'body.containerId: Invalid input: expected number, received string'],
    ['/restart', '{"containerId":1.5}', 'body.containerId: Invalid input: expected int, received number'],
    ['/restart', '{"containerId":1,"executor":{"argv":["sh"]}}', 'body.executor: unknown key'],
    ['/restart', '{', 'request body is not JSON'],
    ['/restart', 'null', 'body: Invalid input: expected object, received null'],
    ['/changes', '{"key":"rate"}', 'body: Invalid input: expected array, received object'],
    ['/changes', '[{"key":"rate","value":1},{"key":7,"value":1}]', 'body[1].key: Invalid input: expected string, received number'],
    ['/changes', '[{"key":"rate"}]', 'body[0].value'],
    ['/kill', '{"now":true}', 'body.now: unknown key'],
    ['/kill', '[]', 'body: Invalid input: expected object, received array'],
  ])('answers 400 naming what is wrong in POST %s %s', async (route, body, message) => {
    const base = await start();
    const answer = await call(base, 'POST', route, body);
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('http.invalid-request');
    expect(answer.body.error).toContain(message);
    expect(events).toEqual([]);
  });

  it('answers 400 to a query its route does not take', async () => {
    const base = await start();
    expect(await call(base, 'GET', '/metrics?windowMs=soon')).toEqual({
      status: 400,
      body: { error: 'query.windowMs: Invalid input: expected number, received NaN', code: 'http.invalid-request' },
    });
    expect(await call(base, 'GET', '/metrics?window=1')).toMatchObject({ status: 400, body: { error: 'query.window: unknown key' } });
    expect(await call(base, 'GET', '/status?verbose=1')).toMatchObject({
      status: 400,
      body: { error: 'query: takes no parameters, got verbose' },
    });
  });

  it('answers 413 to a body over the limit, whether its length is declared or streamed', async () => {
    const base = await start({ maxBodyBytes: 1024 });
    const large = JSON.stringify([{ key: 'padding', value: 'x'.repeat(2048) }]);
    const tooLarge = { status: 413, body: { error: 'request body larger than 1024 bytes', code: 'http.body-too-large' } };
    expect(await call(base, 'POST', '/changes', large)).toEqual(tooLarge);
    const streamed = Readable.toWeb(Readable.from([Buffer.from(large.slice(0, 600)), Buffer.from(large.slice(600))])) as ReadableStream;
    expect(await call(base, 'POST', '/changes', streamed)).toEqual(tooLarge);
    expect(await call(base, 'POST', '/changes', JSON.stringify([{ key: 'small', value: 1 }]))).toEqual({ status: 200, body: { count: 1 } });
  });

  it('maps handler failures to one error shape: a request error its status, a refusal 409, a bug 500', async () => {
    const base = await start();
    expect(await call(base, 'POST', '/fail', '{"how":"request"}')).toEqual({
      status: 400,
      body: { error: 'no such component', code: 'runtime-config.invalid' },
    });
    expect(await call(base, 'POST', '/fail', '{"how":"refused"}')).toEqual({
      status: 409,
      body: { error: 'container 3 is running already', code: 'scheduler.conflict' },
    });
    expect(await call(base, 'POST', '/fail', '{"how":"bug"}')).toEqual({
      status: 500,
      body: { error: 'cannot read properties of undefined', code: 'http.internal' },
    });
  });

  it('runs after-response work once the answer is written', async () => {
    const base = await start();
    expect(await call(base, 'POST', '/kill')).toEqual({ status: 200, body: { killed: true } });
    await vi.waitFor(() => expect(events).toEqual(['handled', 'after response']));
  });

  it('closes a connection that sends nothing, or never finishes its headers, after the headers timeout', async () => {
    const base = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const silent = await rawConnection(base);
    const slow = await rawConnection(base);
    slow.write('GET /status HTTP/1.1\r\nHost: x\r\n');
    const dribble = setInterval(() => slow.writable && slow.write('X-Padding: 1\r\n'), 50);
    try {
      await Promise.all([closed(silent), closed(slow)]);
    } finally {
      clearInterval(dribble);
    }
  });

  it('closes an idle kept-alive connection after the keep-alive timeout', async () => {
    const base = await start({ keepAliveTimeoutMs: 200 });
    const socket = await rawConnection(base);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write(`GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n\r\n`);
    await closed(socket);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toContain('{"ok":true}');
  });

  it('closes connections beyond its cap as they arrive, and serves again once some are gone', async () => {
    const base = await start({ maxConnections: 2 });
    const held = [await rawConnection(base), await rawConnection(base)];
    const extra = await rawConnection(base);
    await closed(extra);
    for (const socket of held) socket.destroy();
    await vi.waitFor(async () => expect((await call(base, 'GET', '/status')).status).toBe(200));
  });
});
