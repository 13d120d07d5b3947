import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeSchedulerConformance, describeWithService } from '@ardea/core/testing';
import { LOOPBACK_KUBERNETES } from '@ardea/test-support/kubernetes';
import { afterAll, beforeAll } from 'vitest';
import { createNamespace, deleteNamespace, schedulerFor, TEST_POD_SETTINGS, userKubeconfig } from './test-support.js';

let directory = '';
let namespace = '';
let kubeconfig = '';

await describeWithService(LOOPBACK_KUBERNETES, 'the kubernetes pool on the loopback cluster, as ardea-user', () => {
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-k8s-conformance-'));
    namespace = await createNamespace('ardea-conformance');
    kubeconfig = await userKubeconfig(directory);
  }, 60_000);

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
    await rm(directory, { recursive: true, force: true });
  }, 60_000);

  // Probes are local processes of the node agent, on this machine: they write where the suite reads.
  describeSchedulerConformance('kubernetes', {
    create: async () => schedulerFor(kubeconfig, { namespace, ...TEST_POD_SETTINGS }),
    recoversCrashedContainers: true,
    containerIdentity: 'ordinal',
    reportsHosts: true,
    // Pods start through the API server, the StatefulSet controller, the kube-scheduler and the node
    // agent; a crashed probe comes back after the agent's back-off.
    timeoutMs: 60_000,
  });
});
