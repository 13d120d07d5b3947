import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UploaderError } from '../errors/index.js';
import { makePrivateDirectory, PRIVATE_FILE_MODE, securePrivateTree } from '../fs/private-files.js';
import { SilentLogger, type Logger } from '../logging/index.js';
import type { Uploader, UploadRequest } from '../spi/uploader.js';
import { packageFileSize } from './package-file.js';
import { syncDirectory, syncFile } from '../fs/durable-files.js';

export interface LocalFsUploaderOptions {
  /** Where packages go, as `<directory>/<topologyName>/<topologyId>/<package file name>`. Containers must see it at the same path. */
  readonly directory: string;
  /**
   * Whether the directory itself may be made private (default true). False for a directory
   * configured outside ARDEA_HOME: it is left as it is, with a warning when others may enter it.
   */
  readonly repairRoot?: boolean;
}

const TEMPORARY_FILE = /^\..*\.tmp$/;

/** Where a package goes: `<directory>/<topologyName>/<topologyId>/<fileName>`. */
export interface PackageLocation {
  readonly topologyName: string;
  readonly topologyId: string;
  readonly fileName: string;
}

/**
 * The built-in `localfs` uploader: copies the package into a directory every container can read at
 * the same path (the local machine, or a filesystem shared by a pool's hosts) and hands out a
 * `file://` URI.
 */
export class LocalFsUploader implements Uploader {
  private readonly directory: string;
  private readonly repairRoot: boolean;
  private readonly logger: Logger;
  private secured: Promise<void> | undefined;

  constructor(options: LocalFsUploaderOptions, logger: Logger = new SilentLogger()) {
    if (!options.directory) throw new UploaderError('the local uploader needs a directory');
    this.directory = path.resolve(options.directory);
    this.repairRoot = options.repairRoot ?? true;
    this.logger = logger.child({ component: 'uploader' });
  }

  /** The resolved package directory. */
  get packageDirectory(): string {
    return this.directory;
  }

  async upload(request: UploadRequest): Promise<string> {
    const source = path.resolve(request.packagePath);
    const target = { topologyName: request.topologyName, topologyId: request.topologyId, fileName: path.basename(source) };
    const fail = this.failure(source, target);
    if (request.signal?.aborted) throw fail('the upload was aborted', request.signal.reason);
    const file = this.packageFile(target, source);
    const size = await packageFileSize(source, fail);
    await this.store(target, createReadStream(source), { signal: request.signal, shownAs: source });
    const uri = pathToFileURL(file).href;
    this.logger.info('topology package uploaded', { topology: request.topologyName, topologyId: request.topologyId, uri, bytes: size });
    return uri;
  }

  /**
   * Writes `source` as the package `<directory>/<topologyName>/<topologyId>/<fileName>`, replacing
   * the topology id's earlier package, and resolves to the file's path. The copy is written under a
   * temporary name, fsynced and renamed into place, so a reader never sees half a package; a failed
   * or aborted write leaves nothing behind. `shownAs` names the source in messages.
   */
  async store(
    target: PackageLocation,
    source: Readable,
    options: { readonly signal?: AbortSignal | undefined; readonly shownAs: string },
  ): Promise<string> {
    const { signal, shownAs } = options;
    const fail = this.failure(shownAs, target);
    const file = this.packageFile(target, shownAs);
    const targetDirectory = path.dirname(file);
    if (signal?.aborted) throw fail('the upload was aborted', signal.reason);
    const temporary = path.join(targetDirectory, `.${target.fileName}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      // Packages hold the topology's code and config: its owner's alone, like the rest of Ardea's files.
      this.secured ??= makePrivateDirectory(this.directory)
        .then(() =>
          securePrivateTree(this.directory, {
            what: 'package directory',
            logger: this.logger,
            repairRoot: this.repairRoot,
            recursive: true,
          }),
        )
        .catch((error: unknown) => {
          this.secured = undefined;
          throw error;
        });
      await this.secured;
      await makePrivateDirectory(targetDirectory, { repair: true });
      await pipeline(source, createWriteStream(temporary, { flags: 'wx', mode: PRIVATE_FILE_MODE }), signal ? { signal } : {});
      await syncFile(temporary);
      signal?.throwIfAborted();
      // Renaming a complete, fsynced copy means a container never fetches half a package.
      await rename(temporary, file);
      await syncDirectory(targetDirectory);
    } catch (error) {
      source.destroy();
      await rm(temporary, { force: true }).catch(() => undefined);
      await this.removeEmptyDirectories(targetDirectory);
      if (error instanceof UploaderError) throw error;
      throw fail(signal?.aborted ? 'the upload was aborted' : reason(error), error);
    }
    await this.removeOtherPackages(targetDirectory, target.fileName);
    return file;
  }

  /**
   * The file a package with these names is stored as. Rejects names that are not plain directory
   * and file names (`/`, `\`, NUL, a leading `.`), so no name reaches outside the directory.
   */
  packageFile(target: PackageLocation, shownAs = target.fileName): string {
    assertSegment(target.topologyName, 'topology name', shownAs);
    assertSegment(target.topologyId, 'topology id', shownAs);
    assertSegment(target.fileName, 'package file name', shownAs);
    return path.join(this.directory, target.topologyName, target.topologyId, target.fileName);
  }

  private failure(source: string, target: PackageLocation): (why: string, cause?: unknown) => UploaderError {
    const destination = path.join(this.directory, target.topologyName, target.topologyId, target.fileName);
    return (why, cause) =>
      new UploaderError(`cannot upload topology package ${source} to ${destination}: ${why}`, cause === undefined ? {} : { cause });
  }

  async undo(uri: string): Promise<void> {
    const file = this.packageFileOf(uri);
    try {
      await rm(file, { force: true });
    } catch (error) {
      throw new UploaderError(`cannot remove uploaded package ${file} (${uri}): ${reason(error)}`, { cause: error });
    }
    await this.removeEmptyDirectories(path.dirname(file));
    this.logger.info('topology package removed', { uri });
  }

  /** The file `uri` names, if it is one this uploader could have stored: `<directory>/<name>/<id>/<file>`. */
  private packageFileOf(uri: string): string {
    let url: URL;
    try {
      url = new URL(uri);
    } catch (error) {
      throw new UploaderError(`cannot remove uploaded package '${uri}': not a URI`, { cause: error });
    }
    if (url.protocol !== 'file:') {
      throw new UploaderError(`the localfs uploader only removes the file:// URIs it hands out; '${uri}' is not one`);
    }
    let file: string;
    try {
      file = path.resolve(fileURLToPath(url));
    } catch (error) {
      throw new UploaderError(`cannot remove uploaded package '${uri}': ${reason(error)}`, { cause: error });
    }
    const relative = path.relative(this.directory, file);
    const segments = relative.split(path.sep);
    if (!relative || path.isAbsolute(relative) || segments[0] === '..' || segments.length !== 3) {
      throw new UploaderError(
        `refusing to remove ${file} (${uri}): it is not a package under the upload ` +
          `directory ${this.directory} (expected <topology>/<topology id>/<file>)`,
      );
    }
    return file;
  }

  /** Removes the id and topology directories once empty; the upload directory itself stays. */
  private async removeEmptyDirectories(targetDirectory: string): Promise<void> {
    for (const directory of [targetDirectory, path.dirname(targetDirectory)]) {
      if (path.relative(this.directory, directory) === '' || path.relative(this.directory, directory).startsWith('..')) return;
      try {
        await rmdir(directory);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        // Not empty (another package or upload is there): expected, and it must stay.
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        this.logger.debug('could not remove an empty package directory', { directory, error });
        return;
      }
    }
  }

  /** An upload replaces the topology id's package, even when the new package file has another name. */
  private async removeOtherPackages(targetDirectory: string, keep: string): Promise<void> {
    try {
      for (const name of await readdir(targetDirectory)) {
        if (name !== keep && !TEMPORARY_FILE.test(name)) await rm(path.join(targetDirectory, name), { force: true });
      }
    } catch (error) {
      this.logger.warn('could not remove a replaced topology package', { directory: targetDirectory, error });
    }
  }
}

function assertSegment(value: unknown, what: string, source: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value === '.' || value === '..' || value.startsWith('.') || /[/\\\0]/.test(value)) {
    throw new UploaderError(
      `cannot upload topology package ${source}: the ${what} ${JSON.stringify(value)} is not usable as ` +
        `a ${what === 'package file name' ? 'file' : 'directory'} name (no '/', '\\', NUL or leading '.')`,
      { code: 'uploader.invalid-name' },
    );
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
