/**
 * What the plugin's tests against the loopback cluster share: a fresh namespace with the RBAC
 * manifest applied, kubeconfigs for `ardea-user`, a scheduler acting as that user, and the admin's
 * view of what a topology left behind.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { SilentLogger } from '@ardea/core/plugin';
import { adminKubeconfig, KUBE_API_URL, kubeRunDirectory, USER_TOKEN } from '@ardea/test-support/kubernetes';
import { kubernetesSchedulerConfigSchema } from './kubernetes-config.js';
import { KubernetesScheduler } from './kubernetes-scheduler.js';
import { loadKubeConfig } from './kube-client.js';
import { topologyObjectNames, topologySelector } from './manifests.js';

const run = promisify(execFile);
export const RBAC_MANIFEST = fileURLToPath(new URL('../rbac/ardea-deployer.yaml', import.meta.url));
export const CA_FILE = path.join(kubeRunDirectory, 'pki', 'ca.crt');

export function adminClients(): { apps: AppsV1Api; core: CoreV1Api } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(adminKubeconfig);
  return { apps: kubeConfig.makeApiClient(AppsV1Api), core: kubeConfig.makeApiClient(CoreV1Api) };
}

/** kubectl as the admin. */
export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', adminKubeconfig, ...args], { timeout: 60_000 });
  return stdout;
}

/** A namespace of its own for one test file, with the deployer Role (or `rbac`, a variant of it) applied. */
export async function createNamespace(prefix: string, rbac = RBAC_MANIFEST): Promise<string> {
  const namespace = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  await kubectl('create', 'namespace', namespace);
  await kubectl('apply', '-n', namespace, '-f', rbac);
  return namespace;
}

export async function deleteNamespace(namespace: string): Promise<void> {
  await kubectl('delete', 'namespace', namespace, '--ignore-not-found', '--wait=false');
}

/** The deployer manifest with `edit` applied to its text, written to `directory`. */
export async function rbacVariant(directory: string, name: string, edit: (manifest: string) => string): Promise<string> {
  const file = path.join(directory, name);
  await writeFile(file, edit(await readFile(RBAC_MANIFEST, 'utf8')));
  return file;
}

/** A kubeconfig for the loopback API server with `token` (default: ardea-user's), at `server`. */
export async function userKubeconfig(directory: string, token = USER_TOKEN, server = KUBE_API_URL): Promise<string> {
  const file = path.join(directory, `user-${randomBytes(3).toString('hex')}.kubeconfig`);
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: loopback, cluster: {server: "${server}", certificate-authority: "${CA_FILE}"}}]`,
      `users: [{name: user, user: {token: "${token}"}}]`,
      'contexts: [{name: loopback, context: {cluster: loopback, user: user}}]',
      'current-context: loopback',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/** A scheduler as a user configures it in scheduler.yaml (`config`), through `kubeconfig`. */
export function schedulerFor(kubeconfig: string, config: Record<string, unknown>, cluster = 'loopback'): KubernetesScheduler {
  const parsed = kubernetesSchedulerConfigSchema.parse({ ...config, kubeconfig });
  const loaded = loadKubeConfig({ kubeconfig });
  return new KubernetesScheduler(
    {
      config: parsed,
      kubeConfig: loaded.kubeConfig,
      endpoint: { server: loaded.server, credentials: loaded.credentials, cluster },
      pollIntervalMs: 200,
    },
    new SilentLogger(),
  );
}

/** Every object of the topology the admin can see: StatefulSets, Services, Secrets and pods, by kind/name. */
export async function leftovers(namespace: string, topologyName: string): Promise<string[]> {
  const { apps, core } = adminClients();
  const labelSelector = topologySelector(topologyObjectNames(topologyName));
  const query = { namespace, labelSelector };
  const [sets, services, secrets, pods] = await Promise.all([
    apps.listNamespacedStatefulSet(query),
    core.listNamespacedService(query),
    core.listNamespacedSecret(query),
    core.listNamespacedPod(query),
  ]);
  return [
    ...sets.items.map((o) => `statefulset/${o.metadata!.name!}`),
    ...services.items.map((o) => `service/${o.metadata!.name!}`),
    ...secrets.items.map((o) => `secret/${o.metadata!.name!}`),
    ...pods.items.map((o) => `pod/${o.metadata!.name!}`),
  ];
}

export { sleepRequest } from '@ardea/test-support';

/**
 * scheduler.yaml settings of the tests' pods: container 0 small, so that the probe plans fit the
 * node agent's node; a short grace period, since probes stop at once on SIGTERM anyway.
 * `ARDEA_K8S_TEST_NODE` pins the pods to another node (tolerating its `ardea.io/dedicated` taint),
 * for running these tests against a node agent of one's own.
 */
export const TEST_POD_SETTINGS: Record<string, unknown> = {
  container0: { cpus: 0.1, memoryMb: 128 },
  terminationGracePeriodSeconds: 5,
  ...(process.env.ARDEA_K8S_TEST_NODE
    ? {
        nodeSelector: { 'kubernetes.io/hostname': process.env.ARDEA_K8S_TEST_NODE },
        tolerations: [{ key: 'ardea.io/dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      }
    : {}),
};
