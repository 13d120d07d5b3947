import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerCommandLine, resolveEnvironment, type ObjectSource } from './env.js';
import { ContainerConfigError } from './errors.js';
import { renderResource } from './quantity.js';

const placement = { podIP: '127.0.0.7', hostIP: '127.0.0.1', allocatable: { cpu: '4', memory: '8Gi' } };

function podWith(container: V1Container): V1Pod {
  return {
    metadata: {
      name: 'wc-executors-2',
      namespace: 'team',
      uid: 'u-1',
      labels: { 'apps.kubernetes.io/pod-index': '2', app: 'wc' },
      annotations: { note: 'hi' },
    },
    spec: { nodeName: 'ardea-node', serviceAccountName: 'runner', containers: [container] },
  };
}

const objects: ObjectSource = {
  secret: async (_namespace, name) => (name === 'creds' ? new Map([['password', Buffer.from('s3cret')]]) : undefined),
  configMap: async (_namespace, name) =>
    name === 'settings'
      ? new Map([
          ['LEVEL', Buffer.from('debug')],
          ['bad=key', Buffer.from('x')],
        ])
      : undefined,
};

async function envOf(container: V1Container): Promise<Record<string, string>> {
  return resolveEnvironment(podWith(container), container, placement, { PATH: '/bin', KUBERNETES_SERVICE_HOST: '127.0.0.1' }, objects);
}

describe('resolveEnvironment', () => {
  it('gives the downward API, Secret and ConfigMap values, later entries overriding earlier ones', async () => {
    const env = await envOf({
      name: 'main',
      envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
        { name: 'NOTE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['note']" } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'LEVEL' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'MEMORY_MI', valueFrom: { resourceFieldRef: { resource: 'requests.memory', divisor: '1Mi' } } },
        { name: 'KUBERNETES_SERVICE_HOST', value: 'overridden' },
        { name: 'COMBINED', value: '$(POD_NAME)/$(INDEX)/$$(INDEX)/$(LATER)' },
        { name: 'LATER', value: 'late' },
      ],
      resources: { requests: { memory: '256Mi' } },
    });
    expect(env).toEqual({
      PATH: '/bin',
      KUBERNETES_SERVICE_HOST: 'overridden',
      CFG_LEVEL: 'debug',
      POD_NAME: 'wc-executors-2',
      POD_NAMESPACE: 'team',
      INDEX: '2',
      NOTE: 'hi',
      POD_IP: '127.0.0.7',
      NODE: 'ardea-node',
      SA: 'runner',
      PASSWORD: 's3cret',
      LEVEL: 'debug',
      CPU: '4',
      MEMORY_MI: '256',
      // A reference to a variable defined later stays literal, as in Kubernetes.
      COMBINED: 'wc-executors-2/2/$(INDEX)/$(LATER)',
      LATER: 'late',
    });
  });

  it('keeps a container waiting with CreateContainerConfigError for a missing Secret or key, unless optional', async () => {
    const missingSecret = envOf({ name: 'main', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] });
    await expect(missingSecret).rejects.toThrow(ContainerConfigError);
    await expect(missingSecret).rejects.toMatchObject({ reason: 'CreateContainerConfigError', message: 'secret "nope" not found' });
    await expect(
      envOf({ name: 'main', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } }] }),
    ).rejects.toThrow("couldn't find key user in Secret team/creds");
    await expect(envOf({ name: 'main', envFrom: [{ configMapRef: { name: 'gone' } }] })).rejects.toThrow('configmap "gone" not found');
    const optional = await envOf({
      name: 'main',
      envFrom: [{ secretRef: { name: 'gone', optional: true } }],
      env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'user', optional: true } } }],
    });
    expect(optional).toEqual({ PATH: '/bin', KUBERNETES_SERVICE_HOST: '127.0.0.1' });
  });

  it('expands command and args from the final environment', () => {
    const line = containerCommandLine(
      { name: 'main', command: ['run', '--shard=$(INDEX)'], args: ['$(POD_NAME)', '$$(POD_NAME)'] },
      {
        INDEX: '3',
        POD_NAME: 'p-3',
      },
    );
    expect(line).toEqual(['run', '--shard=3', 'p-3', '$(POD_NAME)']);
  });
});

describe('renderResource (downward API resource values)', () => {
  it('divides by the divisor and rounds up', () => {
    expect(renderResource('250m', undefined)).toBe('1');
    expect(renderResource('250m', '1m')).toBe('250');
    expect(renderResource('1Gi', '1Mi')).toBe('1024');
    expect(renderResource('1e9', '1M')).toBe('1000');
    expect(renderResource('1.5', undefined)).toBe('2');
  });
});
