import { CheckpointError, describeError } from '../errors/index.js';
import { SilentLogger, type Logger } from '../logging/index.js';
import type { CheckpointManifest, CheckpointStorage, CheckpointTopology } from '../spi/checkpoint-storage.js';
import { readTokenFile } from '../uploader/token-file.js';
import {
  assertCheckpointId,
  assertPart,
  assertRun,
  CHECKPOINT_CODES,
  checkpointPaths,
  describeRun,
  parseManifest,
  PART_NOT_FOUND_CODE,
} from './checkpoint-contract.js';

export interface HttpCheckpointStorageOptions {
  /** The package server's base URL, as this process reaches it. */
  readonly url: string;
  /** The server's bearer token; the containers get it this way, by value with the cluster config. */
  readonly token?: string | undefined;
  /** A file holding the token instead, read at each call, so that a changed file takes effect at once. */
  readonly tokenFile?: string | undefined;
  /** How long one call may take, the transfer of a part included. */
  readonly timeoutMs: number;
}

type Method = 'GET' | 'PUT' | 'DELETE';

interface CallOptions {
  readonly body?: ReadableStream<Uint8Array> | string;
  readonly headers?: Record<string, string>;
  /** A 404 with this code is an answer (resolves to undefined), not a failure. */
  readonly missingCode?: string;
  /** Any 404 counts as done (removing what a server never had). */
  readonly absentIsDone?: boolean;
}

/**
 * The built-in `http` checkpoint storage: the checkpoints live on the package server (`ardea
 * package-server`) that the `http` uploader uses, which every container of a pool without a shared
 * filesystem reaches already. Each call carries the server's bearer token.
 *
 * A loaded part is read into one buffer of the size the server announces, so a part of hundreds of
 * megabytes is in memory once; a stored part is sent from the caller's buffer, slice by slice.
 */
export class HttpCheckpointStorage implements CheckpointStorage {
  private readonly url: URL;
  private readonly logger: Logger;

  constructor(
    private readonly options: HttpCheckpointStorageOptions,
    logger: Logger = new SilentLogger(),
  ) {
    if (options.token === undefined && options.tokenFile === undefined)
      throw new CheckpointError('the http checkpoint storage needs the package server token: set checkpoints.tokenFile');
    this.url = baseUrl(options.url);
    this.logger = logger.child({ component: 'checkpoints', plugin: 'http' });
  }

  async store(topology: CheckpointTopology, checkpointId: number, part: string, data: Uint8Array): Promise<void> {
    checkPart(topology, checkpointId, part, 'store');
    const target = this.resolve(checkpointPaths.part(topology, checkpointId, part));
    const fail = failure(`cannot store part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)} at ${target.href}`);
    if (!(data instanceof Uint8Array)) throw fail('the data is not a Uint8Array');
    await this.call(target, 'PUT', fail, {
      body: streamOf(data),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) },
    });
    this.logger.debug('checkpoint part stored', { ...topology, checkpointId, part, bytes: data.byteLength });
  }

  async load(topology: CheckpointTopology, checkpointId: number, part: string): Promise<Uint8Array | undefined> {
    checkPart(topology, checkpointId, part, 'load');
    const target = this.resolve(checkpointPaths.part(topology, checkpointId, part));
    const fail = failure(`cannot load part '${part}' of checkpoint ${checkpointId} of ${describeRun(topology)} from ${target.href}`);
    const response = await this.call(target, 'GET', fail, { missingCode: PART_NOT_FOUND_CODE });
    if (!response) return undefined;
    return readBody(response, fail);
  }

  async commit(topology: CheckpointTopology, manifest: CheckpointManifest): Promise<void> {
    assertRun(topology, 'commit a checkpoint');
    const id = (manifest as Partial<CheckpointManifest> | undefined)?.checkpointId;
    const what = `cannot commit checkpoint ${String(id)} of ${describeRun(topology)}`;
    const checked = parseManifest(manifest, what);
    const target = this.resolve(checkpointPaths.manifest(topology, checked.checkpointId));
    await this.call(target, 'PUT', failure(`${what} at ${target.href}`), {
      body: JSON.stringify(checked),
      headers: { 'content-type': 'application/json' },
    });
  }

  async latest(topology: CheckpointTopology): Promise<CheckpointManifest | undefined> {
    assertRun(topology, 'read the latest checkpoint');
    const target = this.resolve(checkpointPaths.latest(topology));
    const fail = failure(`cannot read the latest checkpoint of ${describeRun(topology)} from ${target.href}`);
    const response = (await this.call(target, 'GET', fail))!;
    let body: unknown;
    try {
      body = JSON.parse(await response.text());
    } catch (error) {
      throw fail(`the answer is not JSON; is ${this.url.href} an Ardea package server?`, error);
    }
    if (typeof body !== 'object' || body === null || !('manifest' in body))
      throw fail(`the answer has no manifest; is ${this.url.href} an Ardea package server of this version?`);
    const manifest = (body as { manifest: unknown }).manifest;
    return manifest === null ? undefined : parseManifest(manifest, `the latest checkpoint of ${describeRun(topology)} from ${target.href}`);
  }

  async prune(topology: CheckpointTopology, belowCheckpointId: number): Promise<void> {
    assertRun(topology, 'prune checkpoints');
    assertCheckpointId(belowCheckpointId, 'prune checkpoints', topology);
    const target = this.resolve(checkpointPaths.prune(topology, belowCheckpointId));
    await this.call(
      target,
      'DELETE',
      failure(`cannot prune the checkpoints below ${belowCheckpointId} of ${describeRun(topology)} at ${target.href}`),
    );
  }

  async dispose(topology: CheckpointTopology): Promise<void> {
    assertRun(topology, 'remove the checkpoints');
    const target = this.resolve(checkpointPaths.run(topology));
    await this.call(target, 'DELETE', failure(`cannot remove the checkpoints of ${describeRun(topology)} at ${target.href}`), {
      absentIsDone: true,
    });
    this.logger.debug('checkpoints removed', { ...topology });
  }

  private resolve(relative: string): URL {
    return new URL(relative, this.url);
  }

  private async token(fail: Failure): Promise<string> {
    if (this.options.token !== undefined) return this.options.token;
    try {
      return await readTokenFile(this.options.tokenFile!, 'checkpoints.tokenFile');
    } catch (error) {
      throw fail(describeError(error), error);
    }
  }

  /** One call; resolves to the response of a 2xx answer, or undefined for an answered absence. */
  private async call(target: URL, method: Method, fail: Failure, options: CallOptions = {}): Promise<Response | undefined> {
    const token = await this.token(fail);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers: { authorization: `Bearer ${token}`, ...options.headers },
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.body instanceof ReadableStream ? { duplex: 'half' } : {}),
        signal: timeout,
      } as RequestInit);
    } catch (error) {
      if (timeout.aborted)
        throw fail(
          `the package server did not answer within ${this.options.timeoutMs} ms; raise checkpoints.timeoutMs or see the server's log`,
          error,
        );
      throw fail(
        `the package server is not reachable (${describeError(error)}); start 'ardea package-server' there, ` +
          `or correct checkpoints.url (or the uploader's url it defaults to)`,
        error,
      );
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let said: { error?: unknown; code?: unknown } = {};
    try {
      said = JSON.parse(text) as typeof said;
    } catch {
      // Not JSON: a proxy or another server; reported by status below.
    }
    const code = typeof said?.code === 'string' ? said.code : undefined;
    const message = typeof said?.error === 'string' ? said.error : text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(no message)';
    if (response.status === 404 && (options.absentIsDone || (options.missingCode !== undefined && code === options.missingCode)))
      return undefined;
    if (code?.startsWith('checkpoint.')) throw fail(message, undefined, code);
    const hint =
      response.status === 401
        ? '; checkpoints.tokenFile (or the uploader.tokenFile it defaults to) must hold the token the server was started with'
        : response.status === 404
          ? `; is ${this.url.href} a package server of an Ardea version that keeps checkpoints?`
          : response.status >= 500
            ? '; see the package server log'
            : '';
    throw fail(`the package server refused ${method} (HTTP ${response.status}): ${message}${hint}`);
  }
}

type Failure = (reason: string, cause?: unknown, code?: string) => CheckpointError;

/** Builds the errors of one operation: `<what>: <reason>`, keeping the code the server sent. */
function failure(what: string): Failure {
  return (reason, cause, code) =>
    new CheckpointError(`${what}: ${reason}`, {
      ...(cause === undefined ? {} : { cause }),
      code: code ?? (cause instanceof CheckpointError ? cause.code : CHECKPOINT_CODES.failed),
    });
}

function checkPart(topology: CheckpointTopology, checkpointId: number, part: string, operation: 'store' | 'load'): void {
  assertRun(topology, `${operation} a checkpoint part`);
  assertCheckpointId(checkpointId, `${operation} a checkpoint part`, topology);
  assertPart(part, operation, topology, checkpointId);
}

/** Slices sent one after the other: fetch would copy a Uint8Array body whole before sending it. */
const SLICE_BYTES = 1024 * 1024;

function streamOf(data: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(offset + SLICE_BYTES, data.byteLength);
      controller.enqueue(data.subarray(offset, end));
      offset = end;
    },
  });
}

/** The whole body in one buffer of the announced size: chunks are copied into it as they arrive, never gathered first. */
async function readBody(response: Response, fail: Failure): Promise<Uint8Array> {
  const announced = Number(response.headers.get('content-length') ?? Number.NaN);
  try {
    if (!response.body) return new Uint8Array(0);
    if (!Number.isSafeInteger(announced) || announced < 0) return new Uint8Array(await response.arrayBuffer());
    const bytes = Buffer.allocUnsafe(announced);
    let offset = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (offset + value.byteLength > announced) {
        await reader.cancel();
        throw fail(`the server sent more than the ${announced} bytes it announced`);
      }
      bytes.set(value, offset);
      offset += value.byteLength;
    }
    if (offset !== announced) throw fail(`the server sent ${offset} of the ${announced} bytes it announced; try again`);
    return bytes;
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw fail(`the transfer broke off (${describeError(error)}); try again`, error);
  }
}

/** A base URL that relative checkpoint paths resolve under, whatever path prefix it has. */
function baseUrl(text: string): URL {
  const url = new URL(text);
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  url.search = '';
  url.hash = '';
  return url;
}
