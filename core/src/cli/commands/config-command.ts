import YAML from 'yaml';
import type { ClusterConfig } from '../../config/cluster-config.js';
import type { ResolvedCluster } from '../../app/ardea-container.js';
import { formatBytes, Resources } from '../../model/resources.js';
import type { CliIo, ClusterCommandOptions } from '../cli-io.js';
import { resolveCluster } from './open-cluster.js';

export async function configCommand(io: CliIo, cluster: string, options: ClusterCommandOptions & { json?: boolean }): Promise<void> {
  const resolved = await resolveCluster(io, cluster, options);
  const view = configView(resolved);
  if (options.json) {
    io.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  const config = resolved.config;
  const header = [
    `# cluster ${config.cluster}: ${config.directory ?? 'built in'}`,
    `# ARDEA_HOME: ${config.home}`,
    ...Object.entries(config.sources).map(([concern, source]) => `# ${concern}: ${source}`),
    ...config.overrides.map((o) => `# --config-property ${o.key}=${JSON.stringify(o.value)}`),
  ];
  io.stdout.write(`${header.join('\n')}\n${YAML.stringify(view.concerns)}`);
}

/** The merged config in the shape of the YAML files, so what is printed can be pasted back into them. */
export function configView(resolved: ResolvedCluster): {
  cluster: string;
  directory: string | null;
  home: string;
  concerns: Record<string, unknown>;
} {
  const config: ClusterConfig = resolved.config;
  const settings = config.packing.settings;
  return {
    cluster: config.cluster,
    directory: config.directory ?? null,
    home: config.home,
    concerns: {
      scheduler: { plugin: resolved.scheduler.name, executorCommand: config.executorCommand, ...(resolved.scheduler.config as object) },
      statemgr: { plugin: resolved.statemgr.name, ...(resolved.statemgr.config as object) },
      uploader: { plugin: resolved.uploader.name, ...(resolved.uploader.config as object) },
      packing: {
        algorithm: config.packing.algorithm,
        repackingAlgorithm: config.packing.repackingAlgorithm,
        plugins: config.packing.plugins,
        containers: settings.containers,
        maxInstancesPerContainer: settings.maxInstancesPerContainer,
        instance: humanResources(settings.instanceDefaults),
        container: humanResources(settings.containerMax),
        padding: { ...humanResources(settings.padding.fixed), percent: settings.padding.percent },
        minInstance: { cpu: settings.minInstance.cpu, ram: formatBytes(settings.minInstance.ramBytes) },
        sortBy: settings.sortBy,
      },
      healthmgr: config.healthmgr,
      checkpoints: { plugin: resolved.checkpoints.name, ...hideToken(resolved.checkpoints.config) },
    },
  };
}

/** A token set in a file is printed as set, not as itself: what is printed is pasted into tickets and chats. */
function hideToken(config: unknown): object {
  const section = { ...(config as Record<string, unknown>) };
  if (section.token !== undefined) section.token = '(set)';
  return section;
}

function humanResources(r: Resources): { cpu: number; ram: string; disk: string } {
  return { cpu: r.cpu, ram: formatBytes(r.ramBytes), disk: formatBytes(r.diskBytes) };
}
