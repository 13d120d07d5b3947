import { loadClusterConfig } from '../../config/cluster-config.js';
import { resolveClusterPlugins, ResolvedCluster } from '../../app/ardea-container.js';
import type { CliIo, ClusterCommandOptions } from '../cli-io.js';

/** Loads and validates a cluster's config and plugins as every cluster command does. */
export async function resolveCluster(io: CliIo, cluster: string, options: ClusterCommandOptions): Promise<ResolvedCluster> {
  const config = loadClusterConfig({ cluster, overrides: options.configProperty, env: io.env, cwd: io.cwd });
  return resolveClusterPlugins(config);
}
