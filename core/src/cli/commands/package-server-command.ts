import path from 'node:path';
import { ardeaHome } from '../../config/cluster-config.js';
import { ConfigError } from '../../errors/index.js';
import { isUnder } from '../../fs/private-files.js';
import { StreamLogger } from '../../logging/index.js';
import { parseByteAmount } from '../../model/resources.js';
import { DEFAULT_MAX_CHECKPOINT_PART_BYTES } from '../../checkpoint/checkpoint-routes.js';
import { DEFAULT_MAX_PACKAGE_BYTES, PackageServer } from '../../uploader/package-server.js';
import { readOrCreateTokenFile } from '../../uploader/token-file.js';
import type { CliIo } from '../cli-io.js';

export const DEFAULT_PACKAGE_SERVER_PORT = 8478;

export interface PackageServerCommandOptions {
  readonly host: string;
  readonly port: string;
  readonly dir: string;
  readonly tokenFile: string;
  readonly maxPackageSize?: string;
  readonly maxCheckpointPartSize?: string;
}

/**
 * `ardea package-server`: serves topology packages for the `http` uploader, and checkpoints for the
 * `http` checkpoint storage, until SIGINT or SIGTERM
 * (or `stop` resolves). Prints the URL it listens on to stdout and logs JSON lines to stderr.
 */
export async function packageServerCommand(
  io: CliIo,
  options: PackageServerCommandOptions,
  stop: Promise<unknown> = signalled(),
): Promise<void> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port must be a port number (0 picks a free one), not '${options.port}'`);
  const maxPackageBytes = options.maxPackageSize === undefined ? DEFAULT_MAX_PACKAGE_BYTES : parseByteAmount(options.maxPackageSize);
  if (maxPackageBytes === undefined || maxPackageBytes <= 0)
    throw new ConfigError(`--max-package-size must be a byte amount such as 512MiB, not '${options.maxPackageSize}'`);
  const maxCheckpointPartBytes =
    options.maxCheckpointPartSize === undefined ? DEFAULT_MAX_CHECKPOINT_PART_BYTES : parseByteAmount(options.maxCheckpointPartSize);
  if (maxCheckpointPartBytes === undefined || maxCheckpointPartBytes <= 0)
    throw new ConfigError(`--max-checkpoint-part-size must be a byte amount such as 2GiB, not '${options.maxCheckpointPartSize}'`);
  const directory = path.resolve(io.cwd, options.dir);
  const tokenFile = path.resolve(io.cwd, options.tokenFile);
  const logger = new StreamLogger({ level: 'info', format: 'json', stream: io.stderr });
  const { token, created } = await readOrCreateTokenFile(tokenFile, '--token-file');
  if (created) logger.info('created a token file with a new random token; give it to the uploader as uploader.tokenFile', { tokenFile });
  if (!isLoopback(options.host)) {
    logger.warn(
      'listening beyond loopback: packages and the token cross the network unencrypted; ' +
        'put a TLS proxy in front of the server or keep it on a network only the cluster uses',
      { host: options.host },
    );
  }
  const server = new PackageServer({
    directory,
    token,
    logger,
    maxPackageBytes,
    maxCheckpointPartBytes,
    repairDirectory: isUnder(directory, ardeaHome(io.env)),
  });
  const url = await server.listen(options.host, port);
  io.stdout.write(`package server listening on ${url} (packages in ${directory})\n`);
  await stop;
  await server.close();
  logger.info('package server stopped');
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
