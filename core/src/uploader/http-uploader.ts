import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ArdeaError, describeError, UploaderError } from '../errors/index.js';
import { SilentLogger, type Logger } from '../logging/index.js';
import { displayedPackageUri } from '../runtime/package-fetch.js';
import type { Uploader, UploadRequest } from '../spi/uploader.js';
import { packageFileSize } from './package-file.js';
import { PACKAGE_ROUTE_PREFIX, packagePath } from './package-server.js';
import { readTokenFile } from './token-file.js';

export interface HttpUploaderOptions {
  /** The package server's base URL, as this machine reaches it (`http://127.0.0.1:8478`). */
  readonly url: string;
  /** The base URL containers reach it at, when it differs from `url`; package URIs start with it. */
  readonly publicUrl?: string | undefined;
  /** A file holding the bearer token for storing and removing packages; read at each upload and undo. */
  readonly tokenFile: string;
  /** How long one upload or removal may take. */
  readonly timeoutMs: number;
}

/**
 * The built-in `http` uploader: PUTs the package to a package server (`ardea package-server`) and
 * hands out the signed URL the server answers with, which containers fetch without any credential
 * of their own; `undo` DELETEs it. The token is read from `tokenFile` only when a package is
 * stored or removed, so processes that never do either (the containers) never need it.
 */
export class HttpUploader implements Uploader {
  private readonly url: URL;
  private readonly publicUrl: URL;
  private readonly logger: Logger;

  constructor(
    private readonly options: HttpUploaderOptions,
    logger: Logger = new SilentLogger(),
  ) {
    this.url = baseUrl(options.url);
    this.publicUrl = baseUrl(options.publicUrl ?? options.url);
    this.logger = logger.child({ component: 'uploader', plugin: 'http' });
  }

  async upload(request: UploadRequest): Promise<string> {
    const source = path.resolve(request.packagePath);
    const location = { topologyName: request.topologyName, topologyId: request.topologyId, fileName: path.basename(source) };
    const target = new URL(packagePath(location), this.url);
    const fail = failure(`cannot upload topology package ${source} to ${target.href}`);
    if (request.signal?.aborted) throw fail('the upload was aborted', request.signal.reason);
    const size = await packageFileSize(source, fail);
    const token = await this.token(fail);
    const answer = await this.call(target, 'PUT', token, fail, request.signal, {
      body: Readable.toWeb(createReadStream(source)) as ReadableStream,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    const stored = answer as { location?: unknown } | null;
    if (typeof stored?.location !== 'string' || !stored.location.startsWith(`${PACKAGE_ROUTE_PREFIX}/`)) {
      throw fail(
        `the server answered without the package's location (${JSON.stringify(answer)?.slice(0, 200)}); ` +
          `is ${this.url.href} an Ardea package server?`,
      );
    }
    const uri = new URL(stored.location, this.publicUrl).href;
    this.logger.info('topology package uploaded', {
      topology: request.topologyName,
      topologyId: request.topologyId,
      uri: displayedPackageUri(uri),
      bytes: size,
    });
    return uri;
  }

  async undo(uri: string): Promise<void> {
    const relative = this.packagePathOf(uri);
    const target = new URL(relative, this.url);
    const fail = failure(`cannot remove uploaded package ${displayedPackageUri(uri)} from ${target.href}`);
    await this.call(target, 'DELETE', await this.token(fail), fail);
    this.logger.info('topology package removed', { uri: displayedPackageUri(uri) });
  }

  /** Read at each call, so that a changed token file takes effect without a restart. */
  private token(fail: Failure): Promise<string> {
    return readTokenFile(this.options.tokenFile, 'uploader.tokenFile').catch((error: unknown) => {
      throw fail(describeError(error), error);
    });
  }

  /** `packages/<topology>/<id>/<file>` of a URI this uploader handed out; anything else is refused. */
  private packagePathOf(uri: string): string {
    let url: URL;
    try {
      url = new URL(uri);
    } catch (error) {
      throw new UploaderError(`cannot remove uploaded package '${uri}': not a URI`, { cause: error });
    }
    const base = this.publicUrl.href;
    const relative = url.href.startsWith(base) ? url.pathname.slice(this.publicUrl.pathname.length) : undefined;
    const segments = relative?.split('/') ?? [];
    if (
      url.origin !== this.publicUrl.origin ||
      segments.length !== 4 ||
      segments[0] !== PACKAGE_ROUTE_PREFIX ||
      segments.some((segment) => segment === '')
    ) {
      throw new UploaderError(
        `the http uploader only removes the package URLs it hands out ` +
          `(${base}${PACKAGE_ROUTE_PREFIX}/<topology>/<id>/<file>); '${displayedPackageUri(uri)}' is not one`,
      );
    }
    return relative!;
  }

  /** One call to the package server; 2xx answers resolve to the JSON body (null when empty), 404 on DELETE counts as done. */
  private async call(
    target: URL,
    method: 'PUT' | 'DELETE',
    token: string,
    fail: Failure,
    abort?: AbortSignal,
    init: { body?: ReadableStream; headers?: Record<string, string> } = {},
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = abort ? AbortSignal.any([abort, timeout]) : timeout;
    let status: number;
    let text: string;
    try {
      const response = await fetch(target, {
        method,
        headers: { authorization: `Bearer ${token}`, ...init.headers },
        ...(init.body ? { body: init.body, duplex: 'half' } : {}),
        signal,
      } as RequestInit);
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (abort?.aborted) throw fail('the upload was aborted', error);
      if (timeout.aborted) throw fail(`the package server did not answer within ${this.options.timeoutMs} ms`, error);
      throw fail(`the package server is not reachable (${describeError(error)}); is 'ardea package-server' running there?`, error);
    }
    if (method === 'DELETE' && status === 404) return null;
    let body: unknown = null;
    try {
      body = text === '' ? null : (JSON.parse(text) as unknown);
    } catch {
      // Not JSON: reported below by status, or as a missing location.
    }
    if (status >= 200 && status < 300) return body;
    const said =
      typeof (body as { error?: unknown } | null)?.error === 'string'
        ? (body as { error: string }).error
        : text.replace(/\s+/g, ' ').trim().slice(0, 200);
    const hint = status === 401 ? '; uploader.tokenFile must hold the token the server was started with' : '';
    throw fail(`the package server refused ${method} (HTTP ${status}): ${said || '(no message)'}${hint}`);
  }
}

type Failure = (reason: string, cause?: unknown) => UploaderError;

/** Builds the errors of one operation: `<what>: <reason>`, keeping the code of an Ardea error it wraps. */
function failure(what: string): Failure {
  return (reason, cause) =>
    new UploaderError(`${what}: ${reason}`, {
      ...(cause === undefined ? {} : { cause }),
      ...(cause instanceof ArdeaError ? { code: cause.code } : {}),
    });
}

/** A base URL that relative package paths resolve under, whatever path prefix it has. */
function baseUrl(text: string): URL {
  const url = new URL(text);
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  url.search = '';
  url.hash = '';
  return url;
}
