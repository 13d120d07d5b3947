/**
 * Where the tests find the loopback YARN of `scripts/yarn-up.sh` (a ResourceManager with the Services
 * API and one NodeManager), and the service requirement that skips (or, under `CI=true`, fails) the
 * tests that need it.
 */
import type { ServiceRequirement } from '@ardea/core/testing';
import os from 'node:os';
import path from 'node:path';

export const HADOOP_VERSION = process.env.HADOOP_VERSION ?? '3.4.2';
export const YARN_RM = process.env.YARN_RM ?? `http://127.0.0.1:${process.env.YARN_RM_PORT ?? '8088'}`;
/** The run directory yarn-up.sh writes: configuration, daemon logs, the NodeManager's container logs. */
export const yarnRunDirectory = path.join(
  process.env.ARDEA_CACHE ?? path.join(os.homedir(), '.cache', 'ardea'),
  `yarn-${HADOOP_VERSION}`,
  'run',
);
/** The user the tests act as towards YARN (`user.name`). */
export const YARN_USER = os.userInfo().username;

/** GET on the ResourceManager, as `YARN_USER`; resolves to the status code and the parsed body. */
export async function yarnGet(apiPath: string): Promise<{ status: number; body: unknown }> {
  const separator = apiPath.includes('?') ? '&' : '?';
  const response = await fetch(`${YARN_RM}${apiPath}${separator}user.name=${encodeURIComponent(YARN_USER)}`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (an error page): kept as text.
  }
  return { status: response.status, body };
}

/** The ResourceManager answers, its Services API is on, and the NodeManager is RUNNING: containers start. */
export const LOOPBACK_YARN: ServiceRequirement = {
  name: 'the loopback YARN (ResourceManager with the Services API, and a NodeManager)',
  probe: async () => {
    try {
      const nodes = await yarnGet('/ws/v1/cluster/nodes');
      const list = (nodes.body as { nodes?: { node?: { state: string }[] } | null }).nodes?.node ?? [];
      if (!list.some((node) => node.state === 'RUNNING')) return `no NodeManager is RUNNING at ${YARN_RM}/ws/v1/cluster/nodes`;
      const version = await yarnGet('/app/v1/services/version');
      return version.status === 200 ? undefined : `${YARN_RM}/app/v1/services/version answered ${version.status}`;
    } catch (error) {
      return `${YARN_RM} does not answer: ${(error as Error).message}`;
    }
  },
  startHint: 'bash scripts/yarn-up.sh',
};
