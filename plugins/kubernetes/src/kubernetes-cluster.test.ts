import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SchedulerError, type PackingPlan } from '@ardea/core/plugin';
import { describeWithService } from '@ardea/core/testing';
import { kubeGet, LOOPBACK_KUBERNETES } from '@ardea/test-support/kubernetes';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import type { KubernetesScheduler } from './kubernetes-scheduler.js';
import {
  adminClients,
  createNamespace,
  deleteNamespace,
  leftovers,
  rbacVariant,
  schedulerFor,
  sleepRequest,
  TEST_POD_SETTINGS,
  userKubeconfig,
} from './test-support.js';

const slow = { timeout: 60_000, interval: 250 };
let directory = '';
let namespace = '';
let kubeconfig = '';
const extraNamespaces: string[] = [];
/** Topologies a test scheduled, killed after it whatever happened. */
const scheduled: Array<{ scheduler: KubernetesScheduler; topologyName: string }> = [];

function scheduler(settings: Record<string, unknown> = {}, inNamespace = namespace): KubernetesScheduler {
  return schedulerFor(kubeconfig, { namespace: inNamespace, ...TEST_POD_SETTINGS, ...settings });
}

async function scheduleSleepers(on: KubernetesScheduler, topologyName: string, containers: number): Promise<void> {
  scheduled.push({ scheduler: on, topologyName });
  await on.schedule(sleepRequest(topologyName, containers));
}

/** Pod name → uid of the topology's pods, as the admin sees them. */
async function podUids(inNamespace: string, topologyName: string): Promise<Record<string, string>> {
  const pods = await adminClients().core.listNamespacedPod({ namespace: inNamespace, labelSelector: `ardea.io/topology=${topologyName}` });
  return Object.fromEntries(
    pods.items.filter((pod) => !pod.metadata?.deletionTimestamp).map((pod) => [pod.metadata!.name!, pod.metadata!.uid!]),
  );
}

async function allRunning(on: KubernetesScheduler, topologyName: string, containers: number): Promise<void> {
  await vi.waitFor(async () => {
    const status = await on.status(topologyName);
    expect(status.map((container) => container.containerId)).toEqual(Array.from({ length: containers + 1 }, (_, id) => id));
    for (const container of status) expect(container.state, `container ${container.containerId}`).toBe('running');
  }, slow);
}

function plan(topologyName: string, containers: number, cpu = 0.1): PackingPlan {
  return sleepRequest(topologyName, containers, cpu).packingPlan;
}

await describeWithService(LOOPBACK_KUBERNETES, 'the kubernetes pool on the loopback cluster: objects, scaling, restarts, refusals', () => {
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-k8s-cluster-'));
    namespace = await createNamespace('ardea-cluster');
    kubeconfig = await userKubeconfig(directory);
  }, 60_000);

  afterEach(async () => {
    for (const { scheduler: owner, topologyName } of scheduled.splice(0)) await owner.kill(topologyName).catch(() => undefined);
  }, 120_000);

  afterAll(async () => {
    for (const created of [namespace, ...extraNamespaces]) if (created) await deleteNamespace(created);
    await rm(directory, { recursive: true, force: true });
  }, 60_000);

  it('lays a topology out as two StatefulSets by ordinal, a headless Service and a Secret, owned by the manager set', async () => {
    const pool = scheduler();
    await scheduleSleepers(pool, 'layout', 2);
    await allRunning(pool, 'layout', 2);
    const { apps, core } = adminClients();
    const manager = await apps.readNamespacedStatefulSet({ namespace, name: 'layout-manager' });
    const executors = await apps.readNamespacedStatefulSet({ namespace, name: 'layout-executors' });
    expect(manager.spec?.replicas).toBe(1);
    expect(executors.spec).toMatchObject({ replicas: 2, ordinals: { start: 1 }, serviceName: 'layout', podManagementPolicy: 'Parallel' });
    const owner = { kind: 'StatefulSet', name: 'layout-manager', uid: manager.metadata!.uid };
    const service = await core.readNamespacedService({ namespace, name: 'layout' });
    const secret = await core.readNamespacedSecret({ namespace, name: 'layout-executor' });
    expect(service.spec?.clusterIP).toBe('None');
    for (const owned of [executors, service, secret]) expect(owned.metadata?.ownerReferences).toEqual([expect.objectContaining(owner)]);

    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'ardea.io/topology=layout' });
    const byName = Object.fromEntries(pods.items.map((pod) => [pod.metadata!.name!, pod]));
    expect(Object.keys(byName).sort()).toEqual(['layout-executors-1', 'layout-executors-2', 'layout-manager-0']);
    expect(byName['layout-executors-2']!.metadata!.labels!['apps.kubernetes.io/pod-index']).toBe('2');
    // The executor's environment reaches the pods through the Secret only.
    expect(JSON.stringify(pods.items)).not.toContain('ARDEA_CLUSTER_CONFIG');

    const status = await pool.status('layout');
    expect(status.map((container) => [container.containerId, container.handle, container.restarts])).toEqual([
      [0, 'layout-manager-0', 0],
      [1, 'layout-executors-1', 0],
      [2, 'layout-executors-2', 0],
    ]);
    const links = await pool.jobLinks('layout');
    expect(links).toHaveLength(3);
    for (const link of links) expect((await kubeGet(new URL(link).pathname)).status, link).toBe(200);
  });

  it('restart of one container replaces that pod only; kill leaves no object behind', async () => {
    const pool = scheduler();
    await scheduleSleepers(pool, 'restart', 2);
    await allRunning(pool, 'restart', 2);
    const before = await podUids(namespace, 'restart');
    await pool.restart('restart', 1);
    await vi.waitFor(async () => {
      const after = await podUids(namespace, 'restart');
      expect(after['restart-executors-1']).toBeDefined();
      expect(after['restart-executors-1']).not.toBe(before['restart-executors-1']);
      expect(after['restart-manager-0']).toBe(before['restart-manager-0']);
      expect(after['restart-executors-2']).toBe(before['restart-executors-2']);
    }, slow);
    await allRunning(pool, 'restart', 2);
    await expect(pool.restart('restart', 3)).rejects.toThrow(/the topology has no container 3; its containers are 0\.\.2/);

    await pool.kill('restart');
    expect(await leftovers(namespace, 'restart')).toEqual([]);
  });

  it('resources larger than any node: the kube-scheduler says why, and nothing is left', async () => {
    const pool = scheduler();
    scheduled.push({ scheduler: pool, topologyName: 'huge' });
    const error = await pool.schedule(sleepRequest('huge', 1, 10_000)).then(
      () => undefined,
      (failure: unknown) => failure as SchedulerError,
    );
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error!.code).toBe('kubernetes.unschedulable');
    expect(error!.message).toMatch(/no node can run pod huge-executors-1: 0\/\d+ nodes are available: .*Insufficient cpu/);
    expect(error!.message).toContain('each executor pod asks for cpu 10k, memory 64Mi');
    expect(error!.message).toContain('give the containers fewer resources (packing.yaml, or container0 in scheduler.yaml)');
    expect(await leftovers(namespace, 'huge')).toEqual([]);
  });

  it('update adds pods at the size of the largest added container, and rolls back an addition no node can take', async () => {
    const pool = scheduler();
    await scheduleSleepers(pool, 'grow', 1);
    await allRunning(pool, 'grow', 1);
    const before = await podUids(namespace, 'grow');

    const tooBig: PackingPlan = {
      ...plan('grow', 2),
      containers: [plan('grow', 1).containers[0]!, { ...plan('grow', 2, 10_000).containers[1]! }],
    };
    await expect(
      pool.update({ topologyName: 'grow', current: plan('grow', 1), proposed: tooBig, executor: sleepRequest('grow', 2).executor }),
    ).rejects.toThrow(/no node can run pod grow-executors-2: .*Insufficient cpu/);
    const executors = await adminClients().apps.readNamespacedStatefulSet({ namespace, name: 'grow-executors' });
    expect(executors.spec?.replicas).toBe(1);
    await vi.waitFor(async () => expect(await podUids(namespace, 'grow')).toEqual(before), slow);
    expect(executors.spec?.template.spec?.containers[0]?.resources?.limits?.cpu).toBe('100m');

    const bigger: PackingPlan = {
      ...plan('grow', 2),
      containers: [plan('grow', 1).containers[0]!, { ...plan('grow', 2, 0.2).containers[1]! }],
    };
    const realised = await pool.update({
      topologyName: 'grow',
      current: plan('grow', 1),
      proposed: bigger,
      executor: sleepRequest('grow', 2).executor,
    });
    expect(realised.containers.map((container) => [container.id, container.scheduled?.cpu])).toEqual([
      [1, 0.1],
      [2, 0.2],
    ]);
    await allRunning(pool, 'grow', 2);
    const pods = await adminClients().core.listNamespacedPod({ namespace, labelSelector: 'ardea.io/topology=grow' });
    const cpu = Object.fromEntries(pods.items.map((pod) => [pod.metadata!.name!, pod.spec!.containers[0]!.resources!.limits!.cpu]));
    // OnDelete: the running pod keeps its size; the added one gets the new template's.
    expect(cpu).toEqual({ 'grow-manager-0': '100m', 'grow-executors-1': '100m', 'grow-executors-2': '200m' });
    expect((await podUids(namespace, 'grow'))['grow-executors-1']).toBe(before['grow-executors-1']);
  });

  it('a Role without delete on pods: restart of a container names the verb and resource Kubernetes refused', async () => {
    const noPodDelete = await rbacVariant(directory, 'no-pod-delete.yaml', (manifest) =>
      manifest.replace('resources: [pods]\n    verbs: [list, delete, deletecollection]', 'resources: [pods]\n    verbs: [list]'),
    );
    const restricted = await createNamespace('ardea-cluster-rbac', noPodDelete);
    extraNamespaces.push(restricted);
    const pool = scheduler({}, restricted);
    await scheduleSleepers(pool, 'limited', 1);
    const error = await pool.restart('limited', 1).then(
      () => undefined,
      (failure: unknown) => failure as SchedulerError,
    );
    expect(error?.code).toBe('kubernetes.forbidden');
    expect(error?.message).toContain(
      `delete pods ${restricted}/limited-executors-1 failed: ` +
        'pods "limited-executors-1" is forbidden: User "ardea-user" cannot delete resource "pods"',
    );
    expect(error?.message).toContain(`RBAC does not allow the kubeconfig ${kubeconfig} to 'delete' 'pods' in namespace ${restricted}`);
    await expect(pool.restart('limited')).rejects.toThrow(/to 'deletecollection' 'pods'/);
  });
});
