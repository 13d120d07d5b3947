import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SchedulerError } from '@ardea/core/plugin';
import { describeWithService } from '@ardea/core/testing';
import { adminKubeconfig, LOOPBACK_KUBERNETES_CONTROL_PLANE } from '@ardea/test-support/kubernetes';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { topologyObjectNames } from './manifests.js';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  leftovers,
  rbacVariant,
  schedulerFor,
  sleepRequest,
  userKubeconfig,
} from './test-support.js';

/** How schedule fails: its SchedulerError, which a test then reads. */
async function scheduleFailure(scheduler: ReturnType<typeof schedulerFor>, topologyName: string): Promise<SchedulerError> {
  const error = await scheduler.schedule(sleepRequest(topologyName, 2)).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(SchedulerError);
  return error as SchedulerError;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let directory = '';
const namespaces: string[] = [];

async function namespace(prefix: string, rbac?: string): Promise<string> {
  const created = await createNamespace(prefix, rbac);
  namespaces.push(created);
  return created;
}

await describeWithService(LOOPBACK_KUBERNETES_CONTROL_PLANE, 'the kubernetes pool on bad input, against a real API server', () => {
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-k8s-errors-'));
  });

  afterAll(async () => {
    for (const created of namespaces) await deleteNamespace(created);
    await rm(directory, { recursive: true, force: true });
  });

  it('a wrong token: 401, the credentials to check, nothing created', async () => {
    const ns = await namespace('ardea-err-token');
    const kubeconfig = await userKubeconfig(directory, 'not-a-token');
    const error = await scheduleFailure(schedulerFor(kubeconfig, { namespace: ns }), 'wc');
    expect(error.code).toBe('kubernetes.unauthorized');
    expect(error.message).toBe(
      `cannot schedule topology 'wc' on Kubernetes (namespace ${ns}): create statefulsets.apps ${ns}/wc-manager failed: ` +
        'Unauthorized (401); the API server at https://127.0.0.1:6443 did not accept the credentials of the kubeconfig ' +
        `${kubeconfig}: check the token or client certificate of its user`,
    );
    expect(await leftovers(ns, 'wc')).toEqual([]);
  });

  it('a user the Role is not bound to: 403 with the verb and resource Kubernetes refused', async () => {
    const unbound = await rbacVariant(directory, 'unbound.yaml', (manifest) => manifest.replace('name: ardea-user', 'name: someone-else'));
    const ns = await namespace('ardea-err-unbound', unbound);
    const error = await scheduleFailure(schedulerFor(await userKubeconfig(directory), { namespace: ns }), 'wc');
    expect(error.code).toBe('kubernetes.forbidden');
    expect(error.message).toContain(
      'statefulsets.apps is forbidden: User "ardea-user" cannot create resource "statefulsets" in API group "apps" ' +
        `in the namespace "${ns}" (403 Forbidden)`,
    );
    expect(error.message).toContain(
      `to 'create' 'statefulsets' in API group 'apps' in namespace ${ns}: grant the Role in plugins/kubernetes/rbac/ardea-deployer.yaml`,
    );
    expect(await leftovers(ns, 'wc')).toEqual([]);
  });

  it('a Role missing one permission: 403 naming it, and what schedule created before is removed', async () => {
    const noServices = await rbacVariant(directory, 'no-services.yaml', (manifest) =>
      manifest.replace(
        'resources: [services]\n    verbs: [create, delete, deletecollection]',
        'resources: [services]\n    verbs: [delete, deletecollection]',
      ),
    );
    const ns = await namespace('ardea-err-rbac', noServices);
    const error = await scheduleFailure(schedulerFor(await userKubeconfig(directory), { namespace: ns }), 'wc');
    expect(error.message).toContain(
      `create services ${ns}/wc failed: services is forbidden: User "ardea-user" cannot create resource "services"`,
    );
    expect(error.message).toContain(`to 'create' 'services' in namespace ${ns}`);
    expect(await leftovers(ns, 'wc')).toEqual([]);
  });

  it('an unreachable API server: where it tried and what to check', async () => {
    const port = await closedPort();
    const kubeconfig = await userKubeconfig(directory, undefined, `https://127.0.0.1:${port}`);
    const error = await scheduleFailure(schedulerFor(kubeconfig, { namespace: 'default' }), 'wc');
    expect(error.code).toBe('kubernetes.unreachable');
    expect(error.message).toBe(
      `cannot schedule topology 'wc' on Kubernetes (namespace default): the Kubernetes API server at https://127.0.0.1:${port} is ` +
        `unreachable (ECONNREFUSED) while trying to create statefulsets.apps default/wc-manager: is the cluster up, and is the server ` +
        `of the kubeconfig ${kubeconfig} right?`,
    );
  });

  it('a namespace that does not exist: create it or fix namespace (a user without rights there gets a 403 that says so too)', async () => {
    const missing = `ardea-missing-${process.pid}`;
    const asAdmin = await scheduleFailure(schedulerFor(adminKubeconfig, { namespace: missing }), 'wc');
    expect(asAdmin.code).toBe('kubernetes.no-namespace');
    expect(asAdmin.message).toBe(
      `cannot schedule topology 'wc' on Kubernetes (namespace ${missing}): create statefulsets.apps ${missing}/wc-manager failed: ` +
        `namespaces "${missing}" not found (404 NotFound); namespace '${missing}' does not exist: create it ` +
        `(kubectl create namespace ${missing}) or set 'namespace' in scheduler.yaml to an existing one`,
    );
    const asUser = await scheduleFailure(schedulerFor(await userKubeconfig(directory), { namespace: missing }), 'wc');
    expect(asUser.code).toBe('kubernetes.forbidden');
    expect(asUser.message).toContain(
      `if namespace ${missing} is not the one you meant (or does not exist: Kubernetes then answers 403 too), ` +
        "fix 'namespace' in scheduler.yaml",
    );
  });

  it('a service account that does not exist: the StatefulSet controller says so, and nothing is left', async () => {
    const ns = await namespace('ardea-err-sa');
    const scheduler = schedulerFor(await userKubeconfig(directory), { namespace: ns, serviceAccountName: 'nobody' });
    const error = await scheduleFailure(scheduler, 'wc');
    expect(error.code).toBe('kubernetes.failed-create');
    expect(error.message).toMatch(
      /the StatefulSet controller cannot create the pods of wc-(manager|executors): .*serviceaccount "nobody" not found/,
    );
    expect(error.message).toContain("create the ServiceAccount 'nobody'");
    expect(await leftovers(ns, 'wc')).toEqual([]);
  });

  it('an object that is in the way: 409 names it and says to kill first; only what schedule created is removed', async () => {
    const ns = await namespace('ardea-err-exists');
    const names = topologyObjectNames('wc');
    await kubectl('create', 'secret', 'generic', names.secret, '-n', ns, '--from-literal=A=b');
    await kubectl('label', 'secret', names.secret, '-n', ns, 'app.kubernetes.io/name=ardea', `ardea.io/topology=${names.base}`);
    const error = await scheduleFailure(schedulerFor(await userKubeconfig(directory), { namespace: ns }, 'streams'), 'wc');
    expect(error.code).toBe('kubernetes.already-exists');
    expect(error.message).toContain(
      `create secrets ${ns}/wc-executor failed: secrets "wc-executor" already exists (409 AlreadyExists); topology 'wc' is already ` +
        "scheduled, or a failed run left this object behind: run 'ardea kill streams wc' first",
    );
    expect(await leftovers(ns, 'wc')).toEqual(['secret/wc-executor']);
  });

  it('a topology that is not there: status, restart and update reject, kill succeeds', async () => {
    const ns = await namespace('ardea-err-unknown');
    const scheduler = schedulerFor(await userKubeconfig(directory), { namespace: ns });
    await expect(scheduler.status('ghost')).rejects.toMatchObject({
      code: 'kubernetes.not-scheduled',
      message:
        `cannot get the status of topology 'ghost' on Kubernetes (namespace ${ns}): it is not scheduled there (no StatefulSet ` +
        `ghost-executors); 'kubectl get statefulsets -n ${ns} -l app.kubernetes.io/name=ardea,ardea.io/topology=ghost' shows what there is`,
    });
    await expect(scheduler.restart('ghost', 1)).rejects.toBeInstanceOf(SchedulerError);
    await expect(scheduler.restart('ghost')).rejects.toBeInstanceOf(SchedulerError);
    const plan = sleepRequest('ghost', 1).packingPlan;
    await expect(
      scheduler.update({ topologyName: 'ghost', current: plan, proposed: plan, executor: sleepRequest('ghost', 1).executor }),
    ).rejects.toBeInstanceOf(SchedulerError);
    await expect(scheduler.kill('ghost')).resolves.toBeUndefined();
  });
});
