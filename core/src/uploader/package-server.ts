import { createHmac, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { ArdeaError, describeError, UploaderError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE } from '../fs/private-files.js';
import {
  bearerCheck,
  closeServer,
  createLimitedServer,
  errorReply,
  listenOn,
  portOf,
  sameSecret,
  type ConnectionLimits,
} from '../http/hardened-server.js';
import { DEFAULT_MAX_CHECKPOINT_PART_BYTES, mountCheckpointRoutes } from '../checkpoint/checkpoint-routes.js';
import { LocalFsCheckpointStorage } from '../checkpoint/local-fs-checkpoint-storage.js';
import type { Logger } from '../logging/index.js';
import { LocalFsUploader, type PackageLocation } from './local-fs-uploader.js';
import { checkpointTokenFor } from '../checkpoint/container-config.js';

/** The query parameter that carries a package URL's signature. */
export const SIGNATURE_PARAMETER = 'signature';

/** Where packages live on a package server, under its base URL. */
export const PACKAGE_ROUTE_PREFIX = 'packages';

export interface PackageServerOptions {
  /** Where packages are kept, as `<directory>/<topology>/<topology id>/<file>`; private to its owner. */
  readonly directory: string;
  /** The bearer token PUT and DELETE must carry. */
  readonly token: string;
  readonly logger: Logger;
  /** Larger packages are refused with 413 (default 512 MiB). */
  readonly maxPackageBytes?: number;
  /** Larger checkpoint parts are refused with 413 (default 1 GiB). */
  readonly maxCheckpointPartBytes?: number;
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * Whether the directory itself may be made private (default true); false for one shared on
   * purpose, which keeps its mode (a warning says when others may enter it).
   */
  readonly repairDirectory?: boolean;
}

export const DEFAULT_MAX_PACKAGE_BYTES = 512 * 1024 * 1024;

/** A package may take minutes to arrive over a slow link; headers and idle connections may not. */
const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 600_000,
  keepAliveTimeoutMs: 5_000,
};

/** The signing key, kept beside the packages; a leading `.` keeps it out of the topology names. */
const KEY_FILE = '.url-signing-key';
/** Where checkpoints are kept, in the `localfs` checkpoint layout; hidden for the same reason. */
export const CHECKPOINTS_SUBDIRECTORY = '.checkpoints';

type Env = { Bindings: HttpBindings };

/**
 * Serves topology packages to containers that share no filesystem with the submitting machine
 * (the `http` uploader's server; `ardea package-server`). `PUT /packages/<topology>/<id>/<file>`
 * stores a package and `DELETE` removes it, both with the bearer token; the PUT answers with the
 * package's location signed with the server's own key, and `GET` serves the package only at that
 * signed location. A signature never expires (containers restart at any time) and stops working
 * when the package is removed. Storage is a {@link LocalFsUploader} over the directory, so packages
 * are written atomically and kept private.
 *
 * It also keeps the checkpoints of the `http` checkpoint storage under `checkpoints/` (see
 * {@link mountCheckpointRoutes}), in `<directory>/.checkpoints`, since every pool that reaches it
 * for packages reaches it for checkpoints too.
 */
export class PackageServer {
  private readonly server: http.Server;
  private readonly store: LocalFsUploader;
  private readonly logger: Logger;
  private readonly maxPackageBytes: number;
  private key: Promise<Buffer> | undefined;

  constructor(private readonly options: PackageServerOptions) {
    if (options.token.length < 16) throw new UploaderError('the package server needs a bearer token of at least 16 characters');
    this.logger = options.logger.child({ server: 'package server' });
    this.store = new LocalFsUploader({ directory: options.directory, repairRoot: options.repairDirectory ?? true }, this.logger);
    this.maxPackageBytes = options.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
    const authorized = bearerCheck(options.token);
    const app = new Hono<Env>();
    const route = `/${PACKAGE_ROUTE_PREFIX}/:topology/:id/:file`;
    app.put(route, (c) => (authorized(c.req.header('authorization')) ? this.put(c) : unauthorized(c)));
    app.delete(route, (c) => (authorized(c.req.header('authorization')) ? this.remove(c) : unauthorized(c)));
    app.get(route, (c) => this.get(c));
    mountCheckpointRoutes(app, {
      storage: new LocalFsCheckpointStorage({ directory: path.join(this.store.packageDirectory, CHECKPOINTS_SUBDIRECTORY) }, this.logger),
      authorized: (header, topology) =>
        authorized(header) || (topology !== '' && bearerCheck(checkpointTokenFor(options.token, topology))(header)),
      maxPartBytes: options.maxCheckpointPartBytes ?? DEFAULT_MAX_CHECKPOINT_PART_BYTES,
      logger: this.logger,
    });
    app.notFound((c) => errorReply(c, 404, 'http.not-found', `no route ${c.req.method} ${c.req.path}`));
    app.onError((error, c) => {
      if (error instanceof ArdeaError && error.code === 'uploader.invalid-name')
        return errorReply(c, 400, 'http.invalid-request', error.message);
      this.logger.error('request failed', { method: c.req.method, path: c.req.path, error: describeError(error) });
      return errorReply(c, 500, 'http.internal', describeError(error));
    });
    this.server = createLimitedServer(app.fetch, { ...DEFAULT_LIMITS, ...options.limits });
  }

  /** Listens on `host` and `port` (0: a free one); resolves to the base URL. */
  async listen(host: string, port = 0): Promise<string> {
    await this.signingKey();
    const url = await listenOn(this.server, host, port);
    this.logger.info('package server listening', { url, directory: this.store.packageDirectory });
    return url;
  }

  get port(): number {
    return portOf(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async put(c: Context<Env>): Promise<Response> {
    const location = locationOf(c);
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > this.maxPackageBytes) return tooLarge(c, this.maxPackageBytes);
    let received = 0;
    let overLimit = false;
    const limit = this.maxPackageBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > limit) {
          overLimit = true;
          done(new UploaderError(`package larger than ${limit} bytes`));
        } else done(null, chunk);
      },
    });
    const body = c.env.incoming.pipe(counter);
    c.env.incoming.once('error', (error) => counter.destroy(error));
    try {
      await this.store.store(location, body, { shownAs: `PUT ${c.req.path}` });
    } catch (error) {
      if (overLimit) return tooLarge(c, limit);
      throw error;
    }
    this.logger.info('package stored', { ...location, bytes: received });
    const signature = await this.sign(location);
    return c.json({ location: `${packagePath(location)}?${SIGNATURE_PARAMETER}=${signature}` }, 201);
  }

  private async remove(c: Context<Env>): Promise<Response> {
    const location = locationOf(c);
    await this.store.undo(pathToFileURL(this.store.packageFile(location)).href);
    return c.body(null, 204);
  }

  private async get(c: Context<Env>): Promise<Response> {
    const location = locationOf(c);
    const signature = c.req.query(SIGNATURE_PARAMETER) ?? '';
    // Checked before the file is looked at, so an unsigned request learns nothing about what exists.
    if (!sameSecret(signature, await this.sign(location))) {
      return errorReply(
        c,
        403,
        'http.forbidden',
        `missing or wrong ${SIGNATURE_PARAMETER}; packages are served only at the signed URL their upload returned`,
      );
    }
    let handle;
    try {
      handle = await open(this.store.packageFile(location), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return errorReply(c, 404, 'package.not-found', `no package ${packagePath(location)}; it was removed, or never uploaded`);
      throw error;
    }
    const { size } = await handle.stat();
    const stream = handle.createReadStream();
    stream.once('error', (error) => this.logger.warn('serving a package failed', { ...location, error: describeError(error) }));
    this.logger.info('package served', { ...location, bytes: size, to: c.env.incoming.socket.remoteAddress });
    return c.body(Readable.toWeb(stream) as unknown as ReadableStream, 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    });
  }

  private async sign(location: PackageLocation): Promise<string> {
    return createHmac('sha256', await this.signingKey())
      .update(`${location.topologyName}/${location.topologyId}/${location.fileName}`)
      .digest('base64url');
  }

  /**
   * The key signed URLs are made with: kept in the package directory, so that URLs stay valid when
   * the server restarts, and never derived from the upload token, so that changing the token does
   * not break the URLs of running topologies.
   */
  private signingKey(): Promise<Buffer> {
    this.key ??= (async () => {
      const file = path.join(this.store.packageDirectory, KEY_FILE);
      await makePrivateDirectory(this.store.packageDirectory);
      try {
        await writeFile(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: PRIVATE_FILE_MODE });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
      if (key.length < 32)
        throw new UploaderError(
          `the package server's signing key ${file} is damaged; remove it (URLs handed out so far stop working) and start the server again`,
        );
      return key;
    })().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }
}

/** `packages/<topology>/<id>/<file>`, each part URI-encoded: relative to a package server's base URL. */
export function packagePath(location: PackageLocation): string {
  return [PACKAGE_ROUTE_PREFIX, location.topologyName, location.topologyId, location.fileName].map(encodeURIComponent).join('/');
}

function locationOf(c: Context<Env>): PackageLocation {
  return { topologyName: c.req.param('topology') ?? '', topologyId: c.req.param('id') ?? '', fileName: c.req.param('file') ?? '' };
}

function unauthorized(c: Context): Response {
  return errorReply(c, 401, 'http.unauthorized', 'missing or wrong package server token');
}

function tooLarge(c: Context, limit: number): Response {
  return errorReply(c, 413, 'http.body-too-large', `package larger than ${limit} bytes; raise the server's --max-package-size`);
}
