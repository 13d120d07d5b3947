import {
  CONTAINER_INDEX_PLACEHOLDER,
  MiB,
  SchedulerError,
  type ContainerPlan,
  type ExecutorSpec,
  type PackingPlan,
} from '@ardea/core/plugin';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { describe, expect, it } from 'vitest';
import { kubernetesSchedulerConfigSchema, type KubernetesSchedulerConfig } from './kubernetes-config.js';
import {
  containerCommand,
  executorSecret,
  executorsStatefulSet,
  headlessService,
  homogeneousResources,
  managerStatefulSet,
  podName,
  topologyObjectNames,
  validated,
  type ManifestInput,
} from './manifests.js';

const executor: ExecutorSpec = {
  argv: ['ardea-executor', '--topology', 'word-count', '--container', CONTAINER_INDEX_PLACEHOLDER],
  env: { ARDEA_CLUSTER_CONFIG: '{"statemgr":{"password":"s3cret"}}' },
};
const owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'word-count-manager', uid: 'uid-1' };

function container(id: number, cpu: number, ramMb: number, scheduled?: { cpu: number; ramMb: number }): ContainerPlan {
  return {
    id,
    instances: [],
    required: { cpu, ramBytes: ramMb * MiB, diskBytes: 0 },
    ...(scheduled ? { scheduled: { cpu: scheduled.cpu, ramBytes: scheduled.ramMb * MiB, diskBytes: 0 } } : {}),
  };
}

function input(config: Partial<Record<keyof KubernetesSchedulerConfig, unknown>> = {}, topologyName = 'word-count'): ManifestInput {
  return { topologyName, names: topologyObjectNames(topologyName), config: kubernetesSchedulerConfigSchema.parse(config) };
}

/** The manifest as it would be sent. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read deep into the JSON sent
function sent<T extends Parameters<typeof validated>[0]>(manifest: T): any {
  return validated(manifest, 'word-count');
}

describe('topology object names', () => {
  it('uses a DNS-label topology name as it is, and folds others with a hash so each set name fits in 52 characters', () => {
    expect(topologyObjectNames('word-count')).toEqual({
      base: 'word-count',
      manager: 'word-count-manager',
      executors: 'word-count-executors',
      secret: 'word-count-executor',
    });
    const long = topologyObjectNames(`Very_Long_${'x'.repeat(60)}`);
    expect(long.executors.length).toBeLessThanOrEqual(52);
    expect(long.base).toMatch(/^very-long-x+-[0-9a-f]{8}$/);
    expect(topologyObjectNames('Word_Count').base).not.toBe(topologyObjectNames('word-count').base);
    expect(podName(topologyObjectNames('word-count'), 0)).toBe('word-count-manager-0');
    expect(podName(topologyObjectNames('word-count'), 3)).toBe('word-count-executors-3');
  });
});

describe('the executor command in the pod spec', () => {
  it('takes the container index from the pod ordinal and keeps every other $ literal', () => {
    expect(containerCommand(['/usr/bin/ardea-executor', '--container', CONTAINER_INDEX_PLACEHOLDER, '--id=c{{container}}'])).toEqual([
      '/usr/bin/ardea-executor',
      '--container',
      '$(ARDEA_CONTAINER_ID)',
      '--id=c$(ARDEA_CONTAINER_ID)',
    ]);
    // Kubernetes turns $$ into $ and expands $(VAR): a literal $(HOME) or $$ must come out as written.
    expect(containerCommand(['echo', '$(HOME)', 'a$$b', 'cost: 5$'])).toEqual(['echo', '$$(HOME)', 'a$$$$b', 'cost: 5$$']);
  });
});

describe('manifests of a topology', () => {
  const plan: PackingPlan = { topologyId: 'wc-1', containers: [container(1, 1.5, 700), container(2, 2, 512)] };

  it('runs container 0 in the manager set and containers 1..N in the executors set by ordinal, sized like the largest container', () => {
    const resources = homogeneousResources(plan);
    expect(resources).toEqual({ cpu: 2, ramBytes: 700 * MiB, diskBytes: 0 });
    const manager = sent(managerStatefulSet(input(), executor));
    const executors = sent(executorsStatefulSet(input(), 2, executor, resources, owner));
    expect(manager.metadata.name).toBe('word-count-manager');
    expect(manager.spec).toMatchObject({
      replicas: 1,
      serviceName: 'word-count',
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
    });
    expect(manager.spec.ordinals).toBeUndefined();
    expect(executors.metadata.name).toBe('word-count-executors');
    expect(executors.spec).toMatchObject({
      replicas: 2,
      ordinals: { start: 1 },
      serviceName: 'word-count',
      podManagementPolicy: 'Parallel',
    });
    expect(executors.metadata.ownerReferences).toEqual([{ ...owner, controller: false, blockOwnerDeletion: true }]);
    expect(manager.metadata.ownerReferences).toBeUndefined();

    const pod = executors.spec.template.spec;
    expect(pod.containers[0].resources).toEqual({ limits: { cpu: '2000m', memory: '700Mi' }, requests: { cpu: '2000m', memory: '700Mi' } });
    expect(manager.spec.template.spec.containers[0].resources.limits).toEqual({ cpu: '1000m', memory: '1024Mi' });
    expect(pod.serviceAccountName).toBe('ardea');
    expect(manager.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBe(30);
  });

  it('labels every object and selects each set by role', () => {
    const common = { 'app.kubernetes.io/name': 'ardea', 'app.kubernetes.io/managed-by': 'ardea', 'ardea.io/topology': 'word-count' };
    const manager = sent(managerStatefulSet(input({ labels: { team: 'data' } }), executor));
    const executors = sent(executorsStatefulSet(input(), 1, executor, homogeneousResources(plan), owner));
    const service = sent(headlessService(input(), owner));
    const secret = sent(executorSecret(input(), executor, owner));
    for (const object of [manager, executors, service, secret]) {
      expect(object.metadata.labels).toMatchObject(common);
      expect(object.metadata.annotations['ardea.io/topology-name']).toBe('word-count');
    }
    expect(manager.metadata.labels.team).toBe('data');
    expect(manager.spec.selector.matchLabels).toEqual({ ...common, 'ardea.io/role': 'manager' });
    expect(manager.spec.template.metadata.labels).toEqual({ ...common, team: 'data', 'ardea.io/role': 'manager' });
    expect(executors.spec.selector.matchLabels).toEqual({ ...common, 'ardea.io/role': 'executors' });
    expect(service.spec).toEqual({ clusterIP: 'None', publishNotReadyAddresses: true, selector: common });
    expect(service.metadata.ownerReferences[0].uid).toBe('uid-1');
    expect(secret.metadata.ownerReferences[0].uid).toBe('uid-1');
  });

  it('keeps the executor environment in the Secret, out of the pod spec; container id from the pod index, address from the pod IP', () => {
    const executors = sent(
      executorsStatefulSet(input({ env: [{ name: 'TZ', value: 'UTC' }] }), 1, executor, homogeneousResources(plan), owner),
    );
    const secret = sent(executorSecret(input(), executor, owner));
    expect(secret.metadata.name).toBe('word-count-executor');
    expect(secret.stringData).toEqual(executor.env);
    expect(JSON.stringify(executors)).not.toContain('s3cret');
    const main = executors.spec.template.spec.containers[0];
    expect(main.envFrom).toEqual([{ secretRef: { name: 'word-count-executor' } }]);
    expect(main.env).toEqual([
      { name: 'ARDEA_CONTAINER_ID', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
      { name: 'ARDEA_LISTEN_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'TZ', value: 'UTC' },
    ]);
    expect(main.command).toEqual(['ardea-executor', '--topology', 'word-count', '--container', '$(ARDEA_CONTAINER_ID)']);
    expect(main.args).toBeUndefined();
  });

  it('passes image, pull secrets, node selector, tolerations, volumes and mounts through from scheduler.yaml', () => {
    const config = {
      image: 'registry.example.com/ardea:1.2',
      imagePullPolicy: 'IfNotPresent',
      imagePullSecrets: ['regcred'],
      nodeSelector: { 'node.example.com/pool': 'stream' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'stream', effect: 'NoSchedule' }],
      volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Gi' } }],
      volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
      annotations: { 'prometheus.io/scrape': 'true' },
      terminationGracePeriodSeconds: 5,
      resourceRequestMode: 'NOT_SET',
      container0: { cpus: 0.25, memoryMb: 300 },
    };
    const manager = sent(managerStatefulSet(input(config), executor));
    const pod = manager.spec.template.spec;
    expect(pod).toMatchObject({
      nodeSelector: config.nodeSelector,
      tolerations: config.tolerations,
      imagePullSecrets: [{ name: 'regcred' }],
      volumes: config.volumes,
      terminationGracePeriodSeconds: 5,
    });
    expect(pod.containers[0]).toMatchObject({ image: config.image, imagePullPolicy: 'IfNotPresent', volumeMounts: config.volumeMounts });
    expect(pod.containers[0].resources).toEqual({ limits: { cpu: '250m', memory: '300Mi' } });
    expect(manager.spec.template.metadata.annotations['prometheus.io/scrape']).toBe('true');
  });

  it('rounds the granted size up to whole millicores and MiB, and takes what a pool granted before over what is required', () => {
    const odd: PackingPlan = { topologyId: 'x', containers: [container(1, 0.0004, 0.3), container(2, 1, 100, { cpu: 3, ramMb: 200 })] };
    expect(homogeneousResources(odd)).toEqual({ cpu: 3, ramBytes: 200 * MiB, diskBytes: 0 });
    const tiny: PackingPlan = { topologyId: 'x', containers: [container(1, 0.0004, 0.3)] };
    expect(homogeneousResources(tiny)).toEqual({ cpu: 0.001, ramBytes: MiB, diskBytes: 0 });
  });

  it('refuses a manifest Kubernetes would refuse, naming the object, the field and the scheduler.yaml key', () => {
    const bad = executorsStatefulSet(input(), 1, executor, homogeneousResources(plan), owner);
    (bad.spec!.template.spec!.volumes as unknown[]) = [{ name: 'data', hostPath: { path: 42 } }];
    expect(() => validated(bad, 'word-count')).toThrow(SchedulerError);
    expect(() => validated(bad, 'word-count')).toThrow(
      'the StatefulSet word-count-executors it would send is not valid Kubernetes: ' +
        "spec.template.spec.volumes.0.hostPath.path must be string (from 'volumes' in scheduler.yaml: fix it there)",
    );
    const noSelector = new StatefulSet({ metadata: { name: 'x' }, spec: { serviceName: 'x', template: {} } as never });
    expect(() => validated(noSelector, 'word-count')).toThrow(/spec must have required property selector/);
  });
});
