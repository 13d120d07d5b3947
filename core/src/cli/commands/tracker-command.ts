import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createArdea } from '../../app/ardea.js';
import { ardeaHome } from '../../config/cluster-config.js';
import { ConfigError, describeError } from '../../errors/index.js';
import type { TrackedCluster } from '../../tracker/backend.js';
import { isLoopbackAddress } from '../../tracker/auth.js';
import { loadSinkModules, sinksOf } from '../../tracker/sinks.js';
import { createTracker, DEFAULT_SINK_INTERVAL_MS } from '../../tracker/tracker.js';
import { readOrCreateTokenFile } from '../../uploader/token-file.js';
import { cliLogger, type CliIo } from '../cli-io.js';

export const DEFAULT_TRACKER_PORT = 8888;
/** Where the token lives when the tracker needs one and no `--token-file` is given. */
export const DEFAULT_TRACKER_TOKEN_FILE = 'tracker.token';

export interface TrackerCommandOptions {
  readonly host: string;
  readonly port: string;
  /** Empty: `local` and every cluster under `$ARDEA_HOME/clusters`. */
  readonly cluster: string[];
  readonly tokenFile?: string;
  /** Require the token on loopback too. */
  readonly requireToken?: boolean;
  readonly sinkModule: string[];
  /** Seconds between the polls that feed the sinks (default 10). */
  readonly sinkInterval?: string;
  readonly verbose?: boolean;
}

/**
 * `ardea tracker`: serves the tracker's REST API, web UI and Prometheus `/metrics` over the
 * topologies of several clusters until SIGINT or SIGTERM (or `stop` resolves). Prints one line with
 * its URL to stdout, and where its token is when it asks for one.
 */
export async function trackerCommand(io: CliIo, options: TrackerCommandOptions, stop: Promise<unknown> = signalled()): Promise<void> {
  const port = Number(options.port);
  if (!/^\d+$/.test(options.port) || port > 65535)
    throw new ConfigError(`--port must be a port number (0 picks a free one), not '${options.port}'`, { code: 'cli.bad-value' });
  const sinkIntervalSeconds = options.sinkInterval === undefined ? DEFAULT_SINK_INTERVAL_MS / 1000 : Number(options.sinkInterval);
  if (!Number.isFinite(sinkIntervalSeconds) || sinkIntervalSeconds < 1 || sinkIntervalSeconds > 86_400)
    throw new ConfigError(`--sink-interval must be a number of seconds from 1 to 86400, not '${options.sinkInterval}'`, {
      code: 'cli.bad-value',
    });
  const logger = cliLogger(io, options.verbose);
  const home = ardeaHome(io.env);
  const needsToken = options.requireToken === true || options.tokenFile !== undefined || !isLoopbackAddress(options.host);
  const tokenFile = needsToken ? path.resolve(io.cwd, options.tokenFile ?? path.join(home, DEFAULT_TRACKER_TOKEN_FILE)) : undefined;
  const token = tokenFile === undefined ? undefined : await readOrCreateTokenFile(tokenFile, '--token-file');
  const sinks = await sinksOf(await loadSinkModules(options.sinkModule, io.cwd), logger);

  let clusters: TrackedCluster[];
  try {
    clusters = await openClusters(io, options.cluster, logger);
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.close()));
    throw error;
  }
  let tracker;
  try {
    tracker = createTracker({
      clusters,
      host: options.host,
      port,
      ...(token ? { token: token.token } : {}),
      logger,
      sinks,
      sinkIntervalMs: sinkIntervalSeconds * 1000,
    });
  } catch (error) {
    await Promise.all([...clusters.map((cluster) => cluster.close()), ...sinks.map((sink) => sink.close())]);
    throw error;
  }
  try {
    const url = await tracker.listen();
    const served = clusters.map((cluster) => cluster.config.cluster).join(', ');
    const auth = tokenFile ? `; bearer token in ${tokenFile}${token?.created ? ' (new)' : ''}, for the UI open ${url}/#token=<token>` : '';
    io.stdout.write(
      `tracker listening on ${url} (clusters: ${served}${sinks.length ? `; sinks: ${sinks.map((s) => s.name).join(', ')}` : ''})${auth}\n`,
    );
    if (!isLoopbackAddress(options.host))
      logger.warn('listening beyond loopback: the API and its token cross the network unencrypted; put a TLS proxy in front of it', {
        host: options.host,
      });
    await stop;
  } finally {
    await tracker.close();
  }
}

/**
 * Opens an `Ardea` per cluster. Named clusters must open; of the default set (`local` and every
 * directory under `$ARDEA_HOME/clusters`), one whose config is broken is left out with a warning,
 * so that one bad cluster directory does not keep the others from being seen.
 */
async function openClusters(io: CliIo, named: readonly string[], logger: ReturnType<typeof cliLogger>): Promise<TrackedCluster[]> {
  const explicit = named.length > 0;
  const names = explicit ? [...new Set(named)] : ['local', ...(await clusterDirectories(ardeaHome(io.env)))];
  const opened: TrackedCluster[] = [];
  try {
    for (const cluster of names) {
      try {
        opened.push(await createArdea({ cluster, env: io.env, cwd: io.cwd, logger }));
      } catch (error) {
        if (explicit) throw error;
        logger.warn(`cluster ${cluster} left out: ${describeError(error)}`);
      }
    }
  } catch (error) {
    await Promise.all(opened.map((cluster) => cluster.close()));
    throw error;
  }
  return opened;
}

async function clusterDirectories(home: string): Promise<string[]> {
  try {
    const entries = await readdir(path.join(home, 'clusters'), { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory() && entry.name !== 'local' && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
