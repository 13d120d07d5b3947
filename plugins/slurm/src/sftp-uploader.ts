import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  packageFileSize,
  PRIVATE_DIRECTORY_MODE,
  PRIVATE_FILE_MODE,
  UploaderError,
  type Logger,
  type Uploader,
  type UploadRequest,
} from '@ardea/core/plugin';
import type { SFTPWrapper } from 'ssh2';
import { call, NO_SUCH_FILE, sftpCode } from './sftp-files.js';
import type { SshSettings } from './slurm-config.js';
import { SshConnection, SshError } from './ssh-connection.js';

export interface SftpUploaderOptions {
  readonly ssh: SshSettings;
  /** Absolute directory on the cluster's shared filesystem. */
  readonly directory: string;
}

const TEMPORARY_FILE = /^\..*\.tmp$/;

/**
 * Copies topology packages over SFTP into a directory of the cluster's shared filesystem, as
 * `<directory>/<topology>/<topology id>/<file>`, and hands out the `file://` URI of that path: every
 * node of the cluster mounts the shared filesystem, so executors read the package where it lies.
 * Uploads go to a temporary name first and are renamed into place, so an executor never reads half
 * a package.
 */
export class SftpUploader implements Uploader {
  private readonly ssh: SshConnection;
  private readonly directory: string;
  private readonly logger: Logger;

  constructor(options: SftpUploaderOptions, logger: Logger) {
    this.ssh = new SshConnection(options.ssh, 'uploader');
    this.directory = path.posix.normalize(options.directory).replace(/(.)\/$/, '$1');
    this.logger = logger;
  }

  async upload(request: UploadRequest): Promise<string> {
    const source = path.resolve(request.packagePath);
    const fileName = path.basename(source);
    assertSegment(request.topologyName, 'topology name', source);
    assertSegment(request.topologyId, 'topology id', source);
    const targetDirectory = path.posix.join(this.directory, request.topologyName, request.topologyId);
    const target = path.posix.join(targetDirectory, fileName);
    const fail = (reason: string, cause?: unknown) =>
      new UploaderError(`cannot upload topology package ${source} to ${this.ssh.target}:${target}: ${reason}`, {
        ...(cause === undefined ? {} : { cause }),
        ...(cause instanceof SshError ? { code: cause.code } : {}),
      });

    if (request.signal?.aborted) throw fail('the upload was aborted', request.signal.reason);
    const size = await packageFileSize(source, fail);

    try {
      await this.ssh.withSftp(async (sftp) => {
        await makeDirectories(sftp, targetDirectory);
        const temporary = path.posix.join(targetDirectory, `.${fileName}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
        try {
          // The jobs run as the SSH user, so the package can be its alone, like Ardea's local files.
          const output = sftp.createWriteStream(temporary, { mode: PRIVATE_FILE_MODE });
          // The remote handle is closed only after 'finish'; the rename must wait for that.
          const closed = new Promise<void>((resolve) => output.once('close', () => resolve()));
          await pipeline(createReadStream(source), output, request.signal ? { signal: request.signal } : {});
          await closed;
          request.signal?.throwIfAborted();
          await renameOver(sftp, temporary, target);
        } catch (error) {
          await call<void>((done) => sftp.unlink(temporary, done)).catch(() => undefined);
          await removeEmptyDirectories(sftp, targetDirectory, this.directory);
          throw error;
        }
        await this.removeOtherPackages(sftp, targetDirectory, fileName);
      });
    } catch (error) {
      throw fail(request.signal?.aborted ? 'the upload was aborted' : reason(error), error);
    }
    const uri = pathToFileURL(target).href;
    this.logger.info('topology package uploaded', {
      topology: request.topologyName,
      topologyId: request.topologyId,
      uri,
      bytes: size,
      host: this.ssh.address,
    });
    return uri;
  }

  async undo(uri: string): Promise<void> {
    const file = this.packageFileOf(uri);
    try {
      await this.ssh.withSftp(async (sftp) => {
        try {
          await call<void>((done) => sftp.unlink(file, done));
        } catch (error) {
          if (sftpCode(error) !== NO_SUCH_FILE) throw error;
        }
        await removeEmptyDirectories(sftp, path.posix.dirname(file), this.directory);
      });
    } catch (error) {
      throw new UploaderError(`cannot remove uploaded package ${this.ssh.target}:${file} (${uri}): ${reason(error)}`, {
        cause: error,
        ...(error instanceof SshError ? { code: error.code } : {}),
      });
    }
    this.logger.info('topology package removed', { uri, host: this.ssh.address });
  }

  /** Ends the SFTP connection; the uploader connects again when used. */
  async close(): Promise<void> {
    await this.ssh.close();
  }

  /** The file `uri` names, if this uploader could have stored it: `<directory>/<name>/<id>/<file>`. */
  private packageFileOf(uri: string): string {
    let file: string;
    try {
      const url = new URL(uri);
      if (url.protocol !== 'file:') throw new Error(`it is a ${url.protocol} URI`);
      file = path.posix.normalize(fileURLToPath(url));
    } catch (error) {
      throw new UploaderError(`the sftp uploader only removes the file:// URIs it hands out; '${uri}' is not one (${reason(error)})`, {
        cause: error,
      });
    }
    const relative = path.posix.relative(this.directory, file);
    const segments = relative.split('/');
    if (!relative || relative.startsWith('..') || path.posix.isAbsolute(relative) || segments.length !== 3) {
      throw new UploaderError(
        `refusing to remove ${file} (${uri}): it is not a package under the upload ` +
          `directory ${this.directory} (expected <topology>/<topology id>/<file>)`,
      );
    }
    return file;
  }

  /** An upload replaces the topology id's package, even when the new package file has another name. */
  private async removeOtherPackages(sftp: SFTPWrapper, directory: string, keep: string): Promise<void> {
    try {
      const entries = await call<Array<{ filename: string }>>((done) => sftp.readdir(directory, done));
      for (const { filename } of entries) {
        if (filename !== keep && !TEMPORARY_FILE.test(filename))
          await call<void>((done) => sftp.unlink(path.posix.join(directory, filename), done));
      }
    } catch (error) {
      this.logger.warn('could not remove a replaced topology package', { directory, error: reason(error) });
    }
  }
}

/** Creates `directory` and any missing parents, down from the first one that exists. */
async function makeDirectories(sftp: SFTPWrapper, directory: string): Promise<void> {
  const missing: string[] = [];
  for (let current = directory; ; current = path.posix.dirname(current)) {
    const exists = await call<{ isDirectory(): boolean }>((done) => sftp.stat(current, done)).then(
      (stats) => {
        if (!stats.isDirectory()) throw new Error(`${current} exists but is not a directory`);
        return true;
      },
      (error: unknown) => {
        if (sftpCode(error) === NO_SUCH_FILE) return false;
        throw error;
      },
    );
    if (exists) break;
    missing.unshift(current);
    if (current === '/' || current === path.posix.dirname(current)) break;
  }
  for (const next of missing) {
    await call<void>((done) => sftp.mkdir(next, { mode: PRIVATE_DIRECTORY_MODE }, done)).catch(async (error: unknown) => {
      // Another upload may have created it meanwhile.
      const stats = await call<{ isDirectory(): boolean }>((done) => sftp.stat(next, done)).catch(() => undefined);
      if (!stats?.isDirectory()) throw new Error(`cannot create directory ${next}: ${reason(error)}`, { cause: error });
    });
  }
}

/** Removes the id and topology directories once empty; the upload directory itself stays. */
async function removeEmptyDirectories(sftp: SFTPWrapper, directory: string, root: string): Promise<void> {
  for (const candidate of [directory, path.posix.dirname(directory)]) {
    const relative = path.posix.relative(root, candidate);
    if (!relative || relative.startsWith('..')) return;
    try {
      await call<void>((done) => sftp.rmdir(candidate, done));
    } catch (error) {
      if (sftpCode(error) === NO_SUCH_FILE) continue;
      // Not empty: another package or upload is there, and it must stay.
      return;
    }
  }
}

/** Replaces `target` atomically where the server supports OpenSSH's posix-rename, else unlink + rename. */
async function renameOver(sftp: SFTPWrapper, source: string, target: string): Promise<void> {
  try {
    await call<void>((done) => sftp.ext_openssh_rename(source, target, done));
    return;
  } catch (error) {
    if (!/not support/i.test(reason(error))) throw error;
  }
  await call<void>((done) => sftp.unlink(target, done)).catch((error: unknown) => {
    if (sftpCode(error) !== NO_SUCH_FILE) throw error;
  });
  await call<void>((done) => sftp.rename(source, target, done));
}

function assertSegment(value: unknown, what: string, source: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.startsWith('.') || /[/\\\0]/.test(value)) {
    throw new UploaderError(
      `cannot upload topology package ${source}: the ${what} ${JSON.stringify(value)} ` +
        `is not usable as a directory name (no '/', '\\', NUL or leading '.')`,
    );
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
