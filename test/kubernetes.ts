/**
 * Where the tests find the loopback Kubernetes control plane of `scripts/k8s-up.sh`, and the service
 * requirements that skip (or, under `CI=true`, fail) the tests that need it.
 */
import type { ServiceRequirement } from '@ardea/core/testing';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import os from 'node:os';
import path from 'node:path';

export const K8S_VERSION = process.env.K8S_VERSION ?? 'v1.36.3';
/** The run directory k8s-up.sh writes: kubeconfigs, the CA, logs, the node agent's pods. */
export const kubeRunDirectory = path.join(
  process.env.ARDEA_CACHE ?? path.join(os.homedir(), '.cache', 'ardea'),
  `k8s-${K8S_VERSION}`,
  'run',
);
/** The admin's kubeconfig (system:masters); tests use it to look behind the plugin's back and to grant RBAC. */
export const adminKubeconfig = path.join(kubeRunDirectory, 'admin.kubeconfig');
export const KUBE_API_URL = 'https://127.0.0.1:6443';
/** The Node the node agent that k8s-up.sh starts registers. */
export const NODE_NAME = 'ardea-node';
/** Token of `ardea-user`, who has no rights until a test binds the deployer role to it. */
export const USER_TOKEN = process.env.ARDEA_K8S_USER_TOKEN ?? 'ardea-user-token';
export const ADMIN_TOKEN = process.env.ARDEA_K8S_TOKEN ?? 'ardea-admin-token';

/** GET on the API server as the admin; resolves to the status code and body. */
export function kubeGet(apiPath: string): Promise<{ status: number; body: string }> {
  const ca = readFileSync(path.join(kubeRunDirectory, 'pki', 'ca.crt'));
  return new Promise((resolve, reject) => {
    const req = request(`${KUBE_API_URL}${apiPath}`, { ca, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${KUBE_API_URL} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function probeControlPlane(): Promise<string | undefined> {
  if (!existsSync(adminKubeconfig)) return `no kubeconfig at ${adminKubeconfig}`;
  const ready = await kubeGet('/readyz').catch((error: Error) => ({ status: 0, body: error.message }));
  return ready.status === 200 ? undefined : `${KUBE_API_URL}/readyz answered ${ready.status}: ${ready.body.trim().slice(0, 200)}`;
}

/** The control plane alone: etcd, kube-apiserver, controller-manager and scheduler answer. */
export const LOOPBACK_KUBERNETES_CONTROL_PLANE: ServiceRequirement = {
  name: 'the loopback Kubernetes control plane',
  probe: probeControlPlane,
  startHint: 'bash scripts/k8s-up.sh',
};

/** The control plane and the node agent, whose Node is Ready: pods run. */
export const LOOPBACK_KUBERNETES: ServiceRequirement = {
  name: 'the loopback Kubernetes cluster (control plane and node agent)',
  probe: async () => {
    const controlPlane = await probeControlPlane();
    if (controlPlane) return controlPlane;
    const node = await kubeGet(`/api/v1/nodes/${NODE_NAME}`);
    if (node.status !== 200) return `node ${NODE_NAME} is not registered (${node.status})`;
    const conditions = (JSON.parse(node.body) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
    return conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? undefined : `node ${NODE_NAME} is not Ready`;
  },
  startHint: 'bash scripts/k8s-up.sh',
};
