import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Scheduler } from '@ardea/core/plugin';
import { assertPluginDescriptor, loadPluginForTest } from '@ardea/core/testing';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kubernetesPlugin, { KubernetesScheduler } from './index.js';
import { loadKubeConfig, SERVICE_ACCOUNT_TOKEN } from './kube-client.js';
import { containerStatus } from './kubernetes-scheduler.js';

let directory = '';

function kubeconfigText(server: string, contexts: string[] = ['main']): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: c, cluster: {server: "${server}"}}]`,
    'users: [{name: u, user: {token: t}}]',
    `contexts: [${contexts.map((name) => `{name: ${name}, context: {cluster: c, user: u}}`).join(', ')}]`,
    `current-context: ${contexts[0]}`,
    '',
  ].join('\n');
}

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-k8s-index-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('@ardea/plugin-kubernetes descriptor', () => {
  it('default-exports the kubernetes scheduler: library mode, ordinal container identity', async () => {
    assertPluginDescriptor(kubernetesPlugin, '@ardea/plugin-kubernetes');
    expect([kubernetesPlugin.name, kubernetesPlugin.kind]).toEqual(['kubernetes', 'scheduler']);
    const clusterDirectory = path.join(directory, 'cluster');
    await mkdir(clusterDirectory, { recursive: true });
    await writeFile(path.join(clusterDirectory, 'kube.yaml'), kubeconfigText('https://k8s.example.com:6443'));
    // Relative to the cluster directory, as every path in a cluster's config.
    const loaded = await loadPluginForTest(kubernetesPlugin, { kubeconfig: 'kube.yaml', namespace: 'streams' }, { clusterDirectory });
    const scheduler = loaded.get<Scheduler>(Scheduler);
    expect(scheduler).toBeInstanceOf(KubernetesScheduler);
    expect(scheduler.mode).toBe('library');
    expect(scheduler.containerIdentity).toBe('ordinal');
    expect(await scheduler.jobLinks('wc')).toEqual([
      'https://k8s.example.com:6443/apis/apps/v1/namespaces/streams/statefulsets/wc-manager',
      'https://k8s.example.com:6443/apis/apps/v1/namespaces/streams/statefulsets/wc-executors',
      'https://k8s.example.com:6443/api/v1/namespaces/streams/services/wc',
    ]);
    await loaded.close();
  });

  it('rejects a config with an unknown key as a ConfigError naming it', async () => {
    await expect(loadPluginForTest(kubernetesPlugin, { namespce: 'streams' })).rejects.toThrow(/namespce/);
  });
});

describe('where the API credentials come from', () => {
  it('the configured kubeconfig, with the chosen context; a missing file or context is a clear error', async () => {
    const file = path.join(directory, 'two-contexts.yaml');
    await writeFile(file, kubeconfigText('https://a.example.com', ['first', 'second']));
    const loaded = loadKubeConfig({ kubeconfig: file, context: 'second' }, {});
    expect(loaded.server).toBe('https://a.example.com');
    expect(loaded.credentials).toBe(`the kubeconfig ${file} (context second)`);
    expect(loaded.kubeConfig.getCurrentContext()).toBe('second');
    expect(() => loadKubeConfig({ kubeconfig: file, context: 'third' }, {})).toThrow(
      `the kubeconfig ${file} has no context 'third' (scheduler.context); it has first, second`,
    );
    expect(() => loadKubeConfig({ kubeconfig: path.join(directory, 'none.yaml') }, {})).toThrow(
      /the kubeconfig .*none\.yaml \(scheduler\.kubeconfig\) does not exist/,
    );
  });

  it('$KUBECONFIG when none is configured', async () => {
    const file = path.join(directory, 'env.yaml');
    await writeFile(file, kubeconfigText('https://env.example.com'));
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file;
    try {
      const loaded = loadKubeConfig({}, process.env);
      expect(loaded.server).toBe('https://env.example.com');
      expect(loaded.credentials).toBe(`the kubeconfig ${file} ($KUBECONFIG)`);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("the pod's service account when running in a pod, even with a kubeconfig configured", async () => {
    const root = path.join(directory, 'pod-root');
    const accountDirectory = path.dirname(path.join(root, SERVICE_ACCOUNT_TOKEN));
    await mkdir(accountDirectory, { recursive: true });
    await writeFile(path.join(accountDirectory, 'token'), 'pod-token');
    await writeFile(path.join(accountDirectory, 'ca.crt'), 'not read until a call');
    await writeFile(path.join(accountDirectory, 'namespace'), 'streams');
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    try {
      const loaded = loadKubeConfig({ kubeconfig: path.join(directory, 'ignored.yaml') }, process.env, root);
      expect(loaded.server).toBe('https://10.0.0.1:443');
      expect(loaded.credentials).toBe("the pod's service account");
      // Outside a pod (no token file) the same settings use the kubeconfig.
      expect(() =>
        loadKubeConfig({ kubeconfig: path.join(directory, 'ignored.yaml') }, process.env, path.join(directory, 'elsewhere')),
      ).toThrow(/ignored\.yaml \(scheduler\.kubeconfig\) does not exist/);
    } finally {
      for (const [key, value] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});

describe('container status from pods', () => {
  const pod = (status: V1Pod['status'], deleting = false, nodeName?: string): V1Pod => ({
    metadata: { name: 'wc-executors-1', ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    ...(nodeName ? { spec: { containers: [], nodeName } } : {}),
    status,
  });

  it('running once its container runs and is ready, with the restart count and the node it is bound to', () => {
    const running = pod(
      {
        phase: 'Running',
        conditions: [{ type: 'PodScheduled', status: 'True' }],
        containerStatuses: [{ name: 'executor', image: 'i', imageID: '', ready: true, restartCount: 2, state: { running: {} } }],
      },
      false,
      'node-7',
    );
    expect(containerStatus(1, 'wc-executors-1', [running])).toEqual({
      containerId: 1,
      state: 'running',
      handle: 'wc-executors-1',
      restarts: 2,
      host: 'node-7',
    });
  });

  it('pending while not created or not placed, with the kube-scheduler message', () => {
    expect(containerStatus(1, 'wc-executors-1', [])).toEqual({
      containerId: 1,
      state: 'pending',
      restarts: 0,
      message: 'pod wc-executors-1 is not created yet',
    });
    const unschedulable = pod({
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' },
      ],
    });
    expect(containerStatus(1, 'wc-executors-1', [unschedulable])).toMatchObject({
      state: 'pending',
      message: 'pod wc-executors-1 is not scheduled: 0/1 nodes are available: 1 Insufficient cpu.',
    });
  });

  it('restarting in CrashLoopBackOff or while its pod is replaced; failed with the reason when the pod failed', () => {
    const crashing = pod({
      phase: 'Running',
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      containerStatuses: [
        {
          name: 'executor',
          image: 'i',
          imageID: '',
          ready: false,
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error' } },
        },
      ],
    });
    expect(containerStatus(1, 'wc-executors-1', [crashing])).toEqual({
      containerId: 1,
      state: 'restarting',
      handle: 'wc-executors-1',
      restarts: 3,
      message: 'pod wc-executors-1: CrashLoopBackOff: back-off 40s restarting failed container; it last exited with code 1 (Error)',
    });
    expect(containerStatus(1, 'wc-executors-1', [pod({ phase: 'Running' }, true)]).state).toBe('restarting');
    const failed = pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    expect(containerStatus(1, 'wc-executors-1', [failed])).toMatchObject({
      state: 'failed',
      message: 'pod wc-executors-1 is Failed (Evicted: The node was low on resource: memory.)',
    });
  });
});
