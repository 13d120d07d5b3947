import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Context } from 'hono';

/** What keeps idle, slow or too many clients from holding a server. */
export interface ConnectionLimits {
  /** Connections beyond this many are closed as they arrive. */
  readonly maxConnections: number;
  /** A connection must have sent a request's headers within this long, or it is closed. */
  readonly headersTimeoutMs: number;
  /** A request must have arrived whole (headers and body) within this long, or it is closed. */
  readonly requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
}

/** A node `http.Server` serving a Hono app's `fetch`, with the timeouts and the connection cap of `limits`. */
export function createLimitedServer(fetch: Parameters<typeof getRequestListener>[0], limits: ConnectionLimits): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often expired headers and request timeouts are enforced; the default (30 s) would let
      // a stalled connection outlive its timeout by that much.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 4)),
    },
    getRequestListener(fetch, { overrideGlobalObjects: false }),
  );
  server.maxConnections = limits.maxConnections;
  return server;
}

/** Listens on `host` and `port` (0: any free port); resolves to the base URL (`http://127.0.0.1:41234`). */
export async function listenOn(server: http.Server, host: string, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://${host.includes(':') ? `[${host}]` : host}:${portOf(server)}`;
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo | null)?.port ?? 0;
}

/** Closes the server and every connection it holds. */
export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Whether an `Authorization` header carries `Bearer <token>`. Both sides are hashed first, so the
 * comparison takes the same time whatever was sent, and its length says nothing either.
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = sha256(`Bearer ${token}`);
  return (header) => timingSafeEqual(sha256(header ?? ''), expected);
}

/** Compares two strings in constant time (over their hashes). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The one error shape every answer other than a success has. */
export interface JsonErrorBody {
  readonly error: string;
  readonly code: string;
}

export function errorReply(c: Context, status: number, code: string, error: string): Response {
  return c.json({ error, code } satisfies JsonErrorBody, status as 400);
}
