import { clusterConfigForContainers } from '../checkpoint/container-config.js';
import { CLUSTER_CONFIG_ENV, clusterConfigToValue, type ClusterConfig } from '../config/cluster-config.js';
import { CONTAINER_INDEX_PLACEHOLDER, type ExecutorSpec } from '../spi/scheduler.js';

/**
 * The environment that hands a cluster's config by value to a process it starts, as such a process
 * needs it ({@link clusterConfigForContainers}: an `http` checkpoint storage's token goes with it).
 */
export function clusterConfigEnv(config: ClusterConfig, topologyName: string): Record<string, string> {
  return { [CLUSTER_CONFIG_ENV]: clusterConfigToValue(clusterConfigForContainers(config, topologyName)) };
}

/**
 * The command that starts one container of a topology: the cluster's executor command (by default
 * `ardea-executor`, looked up on the container's PATH), the topology and the container index, with
 * the cluster config by value in the environment. Nothing in it names a path of this machine, so a
 * pool can start it wherever the executor is installed; the package comes by URI.
 */
export function executorSpec(config: ClusterConfig, topologyName: string): ExecutorSpec {
  return {
    argv: [config.executorCommand, '--topology', topologyName, '--container', CONTAINER_INDEX_PLACEHOLDER],
    env: clusterConfigEnv(config, topologyName),
  };
}
