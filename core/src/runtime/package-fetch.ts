import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describeError, UploaderError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE } from '../fs/private-files.js';
import type { Logger } from '../logging/index.js';
import type { Uploader } from '../spi/uploader.js';

const execFileAsync = promisify(execFile);

/** File name of the bundle, uploaded alone or at the root of a package archive. */
export const BUNDLE_FILE = 'topology.mjs';
/**
 * File name of a package archive (gzipped tar): the bundle and the installed `node_modules` of its
 * externals beside it. A package URI whose path ends in `.tar.gz` is unpacked before it is imported.
 */
export const PACKAGE_ARCHIVE_FILE = 'topology.tar.gz';

/** How long fetching one package may take, answer and body included. */
export const PACKAGE_FETCH_TIMEOUT_MS = 120_000;

export interface LocalPackageOptions {
  /** Where the uploader put the package (the execution state's `packageUri`). */
  readonly uri: string;
  /** The package's SHA-256 (hex) as the submitter uploaded it; checked when known. */
  readonly sha256?: string | undefined;
  /** A private directory for fetched copies, such as `<container working directory>/package-cache`. */
  readonly cacheDirectory: string;
  /** The cluster's uploader: when it can fetch, every package is fetched through it. */
  readonly uploader?: Uploader | undefined;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

/**
 * Makes the topology package at `uri` available on this machine and resolves to the `file://` URL
 * the instance workers import. `file://` packages are read where they lie; `http://` and `https://`
 * ones (a signed URL, see the `http` uploader), and any URI the cluster's uploader fetches itself,
 * are copied into the cache directory first. A copy is checked against `sha256` before anything
 * imports it; a copy already in the cache with the right checksum is used without fetching again,
 * so a container restarted while the package server is down still starts.
 *
 * A package archive ({@link PACKAGE_ARCHIVE_FILE}) is checked, then unpacked once into
 * `topology-<sha256>/` of the cache directory, and the URL is that of the bundle inside it, so Node
 * resolves the externals from the `node_modules` beside it.
 */
export async function localPackageUrl(options: LocalPackageOptions): Promise<string> {
  const { uri, sha256, uploader } = options;
  let url: URL;
  try {
    url = new URL(uri);
  } catch (error) {
    throw new UploaderError(`cannot load topology package '${uri}': not a URI`, { cause: error, code: 'package.invalid-uri' });
  }
  const scheme = url.protocol;
  const archive = url.pathname.endsWith('.tar.gz');
  const key = sha256 ?? createHash('sha256').update(uri).digest('hex');
  const unpacked = path.join(options.cacheDirectory, `topology-${key}`);
  if (archive && sha256 && existsSync(path.join(unpacked, BUNDLE_FILE))) {
    options.logger.info('topology package taken from the cache', { uri: displayedPackageUri(uri), directory: unpacked });
    return pathToFileURL(path.join(unpacked, BUNDLE_FILE)).href;
  }
  const suffix = archive ? '.tar.gz' : '.mjs';
  let local: string | undefined;
  const fetcher = uploader?.fetch?.bind(uploader);
  if (fetcher) local = await cachedCopy(options, suffix, (destination, signal) => fetcher({ uri, destination, signal }));
  else if (scheme === 'file:') {
    if (sha256) await checkSha256(fileURLToPath(uri), sha256, uri);
    if (!archive) return uri;
    local = fileURLToPath(uri);
  } else if (scheme === 'http:' || scheme === 'https:')
    local = await cachedCopy(options, suffix, (destination, signal) => download(uri, destination, signal));
  if (local !== undefined) {
    if (!archive) return pathToFileURL(local).href;
    await unpackArchive(local, unpacked, options);
    // A fetched archive is not needed once unpacked: the unpacked directory is what the cache keeps.
    if (scheme !== 'file:' || fetcher) await rm(local, { force: true });
    await removeOtherCopies(options.cacheDirectory, path.basename(unpacked), options.logger);
    return pathToFileURL(path.join(unpacked, BUNDLE_FILE)).href;
  }
  throw new UploaderError(
    `cannot load topology package ${uri}: this executor reads file://, http:// and https:// packages, and the cluster's uploader does not fetch '${scheme}' URIs itself; use an uploader whose URIs containers can read (localfs on a shared filesystem, or http)`,
    { code: 'package.unsupported-scheme' },
  );
}

/** Resolves to the path of a checked copy of the package in the cache directory. */
async function cachedCopy(
  options: LocalPackageOptions,
  suffix: string,
  fetch: (destination: string, signal: AbortSignal) => Promise<void>,
): Promise<string> {
  const { uri, sha256, cacheDirectory, logger } = options;
  // Named by content when the checksum is known, so containers that share a directory share a copy.
  const target = path.join(cacheDirectory, `topology-${sha256 ?? createHash('sha256').update(uri).digest('hex')}${suffix}`);
  await makePrivateDirectory(cacheDirectory, { repair: true });
  if (sha256 && (await sha256Of(target).catch(() => undefined)) === sha256) {
    logger.info('topology package taken from the cache', { uri: displayedPackageUri(uri), file: target });
    return target;
  }
  const temporary = path.join(cacheDirectory, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const signal = AbortSignal.timeout(options.timeoutMs ?? PACKAGE_FETCH_TIMEOUT_MS);
  try {
    try {
      await fetch(temporary, signal);
    } catch (error) {
      if (error instanceof UploaderError) throw error;
      const why = signal.aborted
        ? `it did not arrive within ${(options.timeoutMs ?? PACKAGE_FETCH_TIMEOUT_MS) / 1000} s`
        : describeError(error);
      throw new UploaderError(`cannot fetch topology package ${displayedPackageUri(uri)}: ${why}`, {
        cause: error,
        code: 'package.fetch-failed',
      });
    }
    if (sha256) await checkSha256(temporary, sha256, uri);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  logger.info('topology package fetched', { uri: displayedPackageUri(uri), file: target });
  await removeOtherCopies(cacheDirectory, path.basename(target), logger);
  return target;
}

/**
 * Unpacks a package archive into `directory`, all or nothing: into a temporary directory first,
 * renamed into place once complete. Only regular files and directories with relative paths that
 * stay inside are accepted (no links, no absolute or `..` members), and nothing takes the owner
 * recorded in the archive.
 */
async function unpackArchive(archive: string, directory: string, options: LocalPackageOptions): Promise<void> {
  const shown = displayedPackageUri(options.uri);
  const fail = (reason: string, cause?: unknown) =>
    new UploaderError(`cannot unpack topology package ${shown} (${archive}): ${reason}`, {
      ...(cause === undefined ? {} : { cause }),
      code: 'package.unpack-failed',
    });
  let names: string[];
  let kinds: string[];
  try {
    names = (await execFileAsync('tar', ['-tzf', archive], { maxBuffer: 256 * 1024 * 1024 })).stdout.split('\n').filter(Boolean);
    kinds = (await execFileAsync('tar', ['-tvzf', archive], { maxBuffer: 256 * 1024 * 1024 })).stdout.split('\n').filter(Boolean);
  } catch (error) {
    throw fail(`it is not a readable gzipped tar archive: ${describeError(error)}`, error);
  }
  const unsafe = names.find((name) => path.isAbsolute(name) || name.split(/[\\/]/).includes('..'));
  if (unsafe !== undefined) throw fail(`its member '${unsafe}' would land outside the directory it is unpacked into`);
  const link = kinds.find((line) => line[0] !== '-' && line[0] !== 'd');
  if (link !== undefined || kinds.length !== names.length)
    throw fail(`it holds something other than files and directories (${link ?? 'a name with a line break'})`);
  if (!names.some((name) => name.replace(/^\.\//, '') === BUNDLE_FILE)) throw fail(`it has no ${BUNDLE_FILE} at its root`);
  await makePrivateDirectory(options.cacheDirectory, { repair: true });
  const temporary = path.join(options.cacheDirectory, `.${path.basename(directory)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await makePrivateDirectory(temporary);
    await execFileAsync('tar', ['-xzf', archive, '-C', temporary, '--no-same-owner'], { maxBuffer: 16 * 1024 * 1024 });
    // Another container sharing the cache may have unpacked the same package meanwhile, and may be
    // importing from it: a checked copy in place is kept, never replaced.
    if (options.sha256 && existsSync(path.join(directory, BUNDLE_FILE))) {
      await rm(temporary, { recursive: true, force: true });
      return;
    }
    await rm(directory, { recursive: true, force: true });
    await rename(temporary, directory);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    // The rename lost a race with another container unpacking the same package.
    if (options.sha256 && existsSync(path.join(directory, BUNDLE_FILE))) return;
    throw fail(describeError(error), error);
  }
  options.logger.info('topology package unpacked', { uri: shown, directory });
}

/**
 * A container runs one package; copies of earlier ones (an earlier submission under the same name
 * reuses the working directory) are removed, so the cache holds one copy whatever happened before.
 */
async function removeOtherCopies(cacheDirectory: string, keep: string, logger: Logger): Promise<void> {
  try {
    for (const name of await readdir(cacheDirectory)) {
      if (name !== keep && /^topology-[0-9a-f]{64}(\.mjs|\.tar\.gz)?$/.test(name))
        await rm(path.join(cacheDirectory, name), { recursive: true, force: true });
    }
  } catch (error) {
    logger.warn('could not remove an earlier copy of a topology package', { directory: cacheDirectory, error: describeError(error) });
  }
}

async function download(uri: string, destination: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(uri, { signal });
  if (!response.ok || !response.body) {
    const said = (await response.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 200);
    throw new UploaderError(
      `cannot fetch topology package ${displayedPackageUri(uri)}: the server answered HTTP ${response.status}${said ? `: ${said}` : ''}`,
      {
        code: 'package.fetch-failed',
      },
    );
  }
  await pipeline(
    Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
    createWriteStream(destination, { flags: 'wx', mode: PRIVATE_FILE_MODE }),
    { signal },
  );
}

async function checkSha256(file: string, expected: string, uri: string): Promise<void> {
  let actual: string;
  try {
    actual = await sha256Of(file);
  } catch (error) {
    throw new UploaderError(`cannot read topology package ${displayedPackageUri(uri)} (${file}): ${describeError(error)}`, {
      cause: error,
      code: 'package.unreadable',
    });
  }
  if (actual !== expected) {
    throw new UploaderError(
      `topology package ${displayedPackageUri(uri)} is not the one submitted: its SHA-256 is ${actual}, ` +
        `the submitter uploaded ${expected}; it was replaced or damaged — submit the topology again`,
      { code: 'package.checksum' },
    );
  }
}

/** The SHA-256 (hex) of a file. */
export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A package URI as messages and logs show it: without its query, which may be a signature that grants reading it. */
export function displayedPackageUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (!url.search) return uri;
    url.search = '';
    return `${url.href}?…`;
  } catch {
    return uri;
  }
}
