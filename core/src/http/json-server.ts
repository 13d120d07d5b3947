import type http from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { ArdeaError, describeError, describeSchemaIssue } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import {
  bearerCheck,
  closeServer,
  createLimitedServer,
  errorReply as reply,
  listenOn,
  portOf,
  type ConnectionLimits,
} from './hardened-server.js';

export type { JsonErrorBody } from './hardened-server.js';

/** What a JSON server accepts before a handler runs. */
export interface JsonServerLimits extends ConnectionLimits {
  /** Larger request bodies are answered with 413 before they are parsed. */
  readonly maxBodyBytes: number;
}

export const DEFAULT_JSON_SERVER_LIMITS: JsonServerLimits = {
  maxBodyBytes: 1024 * 1024,
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

export interface JsonRequest<B, Q> {
  /** The parsed, schema-checked body; undefined when the request had none. */
  readonly body: B;
  /** The schema-checked query parameters. */
  readonly query: Q;
  /** Runs `action` once the response has been written (e.g. exit after answering a kill). */
  afterResponse(action: () => void): void;
}

export interface JsonRoute<B = unknown, Q = unknown> {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Schema of the JSON body; an empty body is checked as `undefined`. POST routes without one accept no body or `{}`. */
  readonly body?: z.ZodType<B>;
  /** Schema of the query parameters, as an object of strings; without one, any query is rejected. */
  readonly query?: z.ZodType<Q>;
  /** Resolves to the JSON answer (status 200); throws {@link HttpRequestError} to answer with another status. */
  readonly handle: (request: JsonRequest<B, Q>) => unknown;
}

/** Declares a route, inferring the handler's body and query types from the schemas. */
export function jsonRoute<B = undefined, Q = Record<string, never>>(route: JsonRoute<B, Q>): JsonRoute {
  return route as unknown as JsonRoute;
}

/** Thrown by a handler to answer with `status`; the message goes to the caller as `error`. */
export class HttpRequestError extends ArdeaError {
  constructor(
    readonly status: number,
    message: string,
    options: { cause?: unknown; code?: string } = {},
  ) {
    super(message, { ...options, code: options.code ?? `http.${status}` });
  }
}

export interface JsonServerOptions {
  /** Names the server in logs: `scheduler service`, `topology master controller`. */
  readonly name: string;
  /** Every request must carry `Authorization: Bearer <secret>`. */
  readonly secret: string;
  readonly routes: readonly JsonRoute[];
  readonly logger: Logger;
  readonly limits?: Partial<JsonServerLimits>;
}

type Env = { Bindings: HttpBindings };

/**
 * An authenticated JSON API on a node `http.Server`: a bearer check in constant time (401), unknown
 * routes (404), a body limit (413), schema-checked bodies and queries (400 naming the field), and
 * timeouts and a connection cap that keep idle or slow clients from holding the server. Handler
 * failures become one JSON shape, `{error, code}`: an {@link HttpRequestError} its own status, any
 * other {@link ArdeaError} 409 (the request was understood and refused), anything else 500.
 */
export class JsonHttpServer {
  private readonly server: http.Server;
  private readonly logger: Logger;
  readonly limits: JsonServerLimits;

  constructor(options: JsonServerOptions) {
    this.limits = { ...DEFAULT_JSON_SERVER_LIMITS, ...options.limits };
    this.logger = options.logger.child({ server: options.name });
    const app = new Hono<Env>();
    const authorized = bearerCheck(options.secret);
    app.use('*', async (c, next) => {
      if (!authorized(c.req.header('authorization'))) return reply(c, 401, 'http.unauthorized', 'missing or wrong topology secret');
      return next();
    });
    app.use(
      '*',
      bodyLimit({
        maxSize: this.limits.maxBodyBytes,
        onError: (c) => reply(c, 413, 'http.body-too-large', `request body larger than ${this.limits.maxBodyBytes} bytes`),
      }),
    );
    for (const route of options.routes) {
      const handler = (c: Context<Env>) => this.serve(c, route);
      if (route.method === 'GET') app.get(route.path, handler);
      else app.post(route.path, handler);
    }
    app.notFound((c) => reply(c, 404, 'http.not-found', `no route ${c.req.method} ${c.req.path}`));
    app.onError((error, c) => {
      if (error instanceof HttpRequestError) return reply(c, error.status, error.code, error.message);
      if (error instanceof ArdeaError) {
        this.logger.warn('request refused', { method: c.req.method, path: c.req.path, error: describeError(error) });
        return reply(c, 409, error.code, error.message);
      }
      this.logger.error('request failed', { method: c.req.method, path: c.req.path, error: describeError(error) });
      return reply(c, 500, 'http.internal', describeError(error));
    });
    this.server = createLimitedServer(app.fetch, this.limits);
  }

  /** Listens on `host`, port 0; resolves to the base URL (`http://127.0.0.1:41234`). */
  listen(host: string): Promise<string> {
    return listenOn(this.server, host);
  }

  get port(): number {
    return portOf(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async serve(c: Context<Env>, route: JsonRoute): Promise<Response> {
    const query = route.query ? check(route.query, Object.fromEntries(new URL(c.req.url).searchParams), 'query') : noQuery(c);
    const body = route.method === 'POST' ? check(route.body ?? NO_BODY, parseBody(await c.req.text()), 'body') : undefined;
    const outgoing = c.env.outgoing;
    const answer = await route.handle({ body, query, afterResponse: (action) => outgoing.once('finish', action) });
    return c.json(answer ?? null, 200);
  }
}

/** POST routes that take nothing accept an empty body or `{}`. */
const NO_BODY = z.object({}).strict().optional();

function noQuery(c: Context): Record<string, never> {
  const keys = [...new URL(c.req.url).searchParams.keys()];
  if (keys.length > 0) throw invalid(`query: takes no parameters, got ${keys.join(', ')}`);
  return {};
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalid(`request body is not JSON (${describeError(error)})`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((issue) => {
    const described = describeSchemaIssue(issue, { style: 'accessor', prefix: where });
    return `${described.path}: ${described.message}`;
  });
  throw invalid(issues.join('; '));
}

function invalid(message: string): HttpRequestError {
  return new HttpRequestError(400, message, { code: 'http.invalid-request' });
}
