import { createHmac } from 'node:crypto';
import path from 'node:path';
import type { ClusterConfig } from '../config/cluster-config.js';
import { readTokenFileSync } from '../uploader/token-file.js';

/**
 * The cluster config as the processes the cluster starts get it. Its `http` checkpoint storage is
 * the one part that must differ there: the containers reach the package server at its public URL,
 * and need the server's token, which this machine keeps in a file they do not have. So the section
 * they get names `publicUrl` as its `url` and carries a token of the topology's own
 * ({@link checkpointTokenFor}), never the server's: user code runs in the containers, and with the
 * server's token it could replace another topology's package or read its state. Like the rest of the
 * config by value, a pool delivers it as privately as a process environment (see docs/security.md).
 * Applying it to a config that came by value changes nothing.
 */
export function clusterConfigForContainers(config: ClusterConfig, topologyName: string): ClusterConfig {
  if (config.checkpoints.plugin !== 'http') return config;
  const { publicUrl, tokenFile, ...section } = config.checkpoints.config;
  const forContainers: Record<string, unknown> = { plugin: 'http', ...section };
  if (typeof publicUrl === 'string') forContainers.url = publicUrl;
  // Already a topology's token: the config came by value.
  if (section.topologyToken === true) return config;
  delete forContainers.topologyToken;
  const serverToken =
    typeof section.token === 'string'
      ? section.token
      : typeof tokenFile === 'string'
        ? readTokenFileSync(path.resolve(config.home, tokenFile), 'checkpoints.tokenFile')
        : undefined;
  if (serverToken !== undefined) {
    forContainers.token = checkpointTokenFor(serverToken, topologyName);
    forContainers.topologyToken = true;
  }
  return { ...config, sections: { ...config.sections, checkpoints: forContainers } };
}

/**
 * The token that opens the checkpoints of one topology (every run of that name) and nothing else on
 * a package server: derived from the server's token, so the server checks it without a list, and a
 * container that holds it can reach no other topology's state and no package.
 */
export function checkpointTokenFor(serverToken: string, topologyName: string): string {
  return createHmac('sha256', serverToken).update(`ardea-checkpoints:${topologyName}`).digest('hex');
}
