import { fileURLToPath } from 'node:url';
import type { ClusterConfig } from '../config/cluster-config.js';
import { CONFIG_PROPERTIES_ENV } from '../runtime/executor-env.js';
import { CONTAINER_INDEX_PLACEHOLDER, type ExecutorSpec } from '../spi/scheduler.js';

const EXECUTOR_MAIN = fileURLToPath(new URL('../runtime/executor-main.js', import.meta.url));

/** How a cluster names itself to its own processes: its directory, or `local`. */
export function clusterArgument(config: ClusterConfig): string {
  return config.directory ?? config.cluster;
}

export function propertiesEnv(config: ClusterConfig): Record<string, string> {
  return {
    ARDEA_HOME: config.home,
    [CONFIG_PROPERTIES_ENV]: JSON.stringify(config.overrides.map((o) => `${o.key}=${JSON.stringify(o.value)}`)),
  };
}

/**
 * The command that starts one container of a topology: this Node binary running the core's executor.
 * Pools that run containers elsewhere must have the same Ardea installation at the same path there
 * (a shared filesystem on Slurm, the image on Kubernetes).
 */
export function executorSpec(config: ClusterConfig, topologyName: string): ExecutorSpec {
  return {
    argv: [process.execPath, EXECUTOR_MAIN, '--cluster', clusterArgument(config), '--topology', topologyName, '--container', CONTAINER_INDEX_PLACEHOLDER],
    env: propertiesEnv(config),
  };
}
