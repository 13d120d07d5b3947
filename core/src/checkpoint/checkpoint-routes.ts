import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { CheckpointError, describeError } from '../errors/index.js';
import { errorReply } from '../http/hardened-server.js';
import type { Logger } from '../logging/index.js';
import type { CheckpointTopology } from '../spi/checkpoint-storage.js';
import { CHECKPOINT_CODES, CHECKPOINT_ROUTE_PREFIX, PART_NOT_FOUND_CODE } from './checkpoint-contract.js';
import type { LocalFsCheckpointStorage } from './local-fs-checkpoint-storage.js';

/** Parts larger than this are refused with 413 unless the server is told otherwise. */
export const DEFAULT_MAX_CHECKPOINT_PART_BYTES = 1024 * 1024 * 1024;

/** A manifest lists one entry per instance: even tens of thousands of them fit well below this. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface CheckpointRoutesOptions {
  /** Where the checkpoints are kept, in the same layout as the `localfs` checkpoint storage. */
  readonly storage: LocalFsCheckpointStorage;
  /** Whether a request's `Authorization` header opens the checkpoints of `topology`: the server's token, or that topology's own. */
  readonly authorized: (header: string | undefined, topology: string) => boolean;
  readonly maxPartBytes: number;
  readonly logger: Logger;
}

type Env = { Bindings: HttpBindings };

/** How a storage's refusal travels: the status the client maps back, and the same code. */
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  [CHECKPOINT_CODES.invalidName]: 400,
  [CHECKPOINT_CODES.invalidManifest]: 400,
  [CHECKPOINT_CODES.notAboveLatest]: 409,
  [CHECKPOINT_CODES.missingPart]: 409,
  [CHECKPOINT_CODES.tooLarge]: 413,
};

/**
 * Serves a checkpoint storage over HTTP on the package server, for the `http` checkpoint storage of
 * pools whose containers share no filesystem. Every route needs the server's bearer token, reading
 * included: checkpoints hold the topologies' state, and unlike packages there is no URL to sign,
 * since every container reads and writes them. The token is checked before a body is read.
 */
export function mountCheckpointRoutes(app: Hono<Env>, options: CheckpointRoutesOptions): void {
  const { storage, logger, maxPartBytes } = options;
  const base = `/${CHECKPOINT_ROUTE_PREFIX}/:topology/:id`;
  const checkpoint = ':checkpoint{[0-9]+}';

  app.use(`/${CHECKPOINT_ROUTE_PREFIX}/*`, async (c, next) => {
    const topology = safeDecode(c.req.path.split('/')[2] ?? '');
    if (!options.authorized(c.req.header('authorization'), topology)) {
      return errorReply(c, 401, 'http.unauthorized', 'missing or wrong package server token; every checkpoint request needs it');
    }
    await next();
    return undefined;
  });

  app.put(
    `${base}/${checkpoint}/:part`,
    guarded(logger, async (c) => {
      const run = runOf(c);
      const id = checkpointIdOf(c);
      const part = c.req.param('part') ?? '';
      const declared = Number(c.req.header('content-length') ?? Number.NaN);
      if (declared > maxPartBytes) return tooLarge(c, maxPartBytes);
      const limited = limitTo(c.env.incoming, maxPartBytes);
      const bytes = await storage.storeStream(run, id, part, limited);
      logger.debug('checkpoint part stored', { ...run, checkpointId: id, part, bytes });
      return c.body(null, 204);
    }),
  );

  app.get(
    `${base}/${checkpoint}/:part`,
    guarded(logger, async (c) => {
      const run = runOf(c);
      const id = checkpointIdOf(c);
      const part = c.req.param('part') ?? '';
      const opened = await storage.openPart(run, id, part);
      if (!opened)
        return errorReply(c, 404, PART_NOT_FOUND_CODE, `no part '${part}' of checkpoint ${id}; it was never stored, or was pruned`);
      const stream = opened.handle.createReadStream();
      stream.once('error', (error) =>
        logger.warn('serving a checkpoint part failed', { ...run, checkpointId: id, part, error: describeError(error) }),
      );
      return c.body(Readable.toWeb(stream) as unknown as ReadableStream, 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(opened.size),
      });
    }),
  );

  app.put(
    `${base}/${checkpoint}`,
    guarded(logger, async (c) => {
      const run = runOf(c);
      const id = checkpointIdOf(c);
      const text = await readLimited(c.env.incoming, MAX_MANIFEST_BYTES);
      let manifest: unknown;
      try {
        manifest = JSON.parse(text);
      } catch (error) {
        throw new CheckpointError(`the manifest of checkpoint ${id} is not JSON`, { cause: error, code: CHECKPOINT_CODES.invalidManifest });
      }
      const stated = (manifest as { checkpointId?: unknown } | null)?.checkpointId;
      if (stated !== id)
        throw new CheckpointError(`the manifest sent to checkpoint ${id} is for checkpoint ${String(stated)}`, {
          code: CHECKPOINT_CODES.invalidManifest,
        });
      await storage.commit(run, manifest as Parameters<LocalFsCheckpointStorage['commit']>[1]);
      logger.info('checkpoint committed', { ...run, checkpointId: id });
      return c.body(null, 204);
    }),
  );

  app.get(
    `${base}/latest`,
    guarded(logger, async (c) => c.json({ manifest: (await storage.latest(runOf(c))) ?? null }, 200)),
  );

  app.delete(
    `${base}/below/${checkpoint}`,
    guarded(logger, async (c) => {
      await storage.prune(runOf(c), checkpointIdOf(c));
      return c.body(null, 204);
    }),
  );

  app.delete(
    base,
    guarded(logger, async (c) => {
      const run = runOf(c);
      await storage.dispose(run);
      logger.info('checkpoints removed', { ...run });
      return c.body(null, 204);
    }),
  );
}

/** Answers a storage's refusal with its status and code; anything else is logged and answered 500. */
function guarded(logger: Logger, handler: (c: Context<Env>) => Promise<Response>): (c: Context<Env>) => Promise<Response> {
  return async (c) => {
    try {
      return await handler(c);
    } catch (error) {
      const code = error instanceof CheckpointError ? error.code : undefined;
      const status = code === undefined ? undefined : STATUS_OF_CODE[code];
      if (status !== undefined) return errorReply(c, status, code!, describeError(error));
      logger.error('checkpoint request failed', { method: c.req.method, path: c.req.path, error: describeError(error) });
      return errorReply(c, 500, code ?? 'http.internal', describeError(error));
    }
  };
}

function runOf(c: Context<Env>): CheckpointTopology {
  return { topologyName: c.req.param('topology') ?? '', topologyId: c.req.param('id') ?? '' };
}

function checkpointIdOf(c: Context<Env>): number {
  return Number(c.req.param('checkpoint'));
}

function tooLarge(c: Context, limit: number): Response {
  return errorReply(
    c,
    413,
    CHECKPOINT_CODES.tooLarge,
    `checkpoint part larger than ${limit} bytes; raise the server's --max-checkpoint-part-size, or keep less state per instance`,
  );
}

/** The request body, failing with a 413-coded error once it passes `limit` bytes. */
function limitTo(incoming: IncomingMessage, limit: number): Readable {
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      if (received > limit)
        done(
          new CheckpointError(`checkpoint part larger than ${limit} bytes; raise the server's --max-checkpoint-part-size`, {
            code: CHECKPOINT_CODES.tooLarge,
          }),
        );
      else done(null, chunk);
    },
  });
  incoming.once('error', (error) => counter.destroy(error));
  return incoming.pipe(counter);
}

async function readLimited(incoming: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limit) {
      incoming.resume();
      throw new CheckpointError(`a checkpoint manifest larger than ${limit} bytes`, { code: CHECKPOINT_CODES.tooLarge });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}
