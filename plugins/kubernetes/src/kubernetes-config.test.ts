import { describe, expect, it } from 'vitest';
import { kubernetesSchedulerConfigSchema } from './kubernetes-config.js';

function issues(config: unknown): string[] {
  const parsed = kubernetesSchedulerConfigSchema.safeParse(config);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('scheduler.yaml of the kubernetes pool', () => {
  it('needs nothing: every key has a default', () => {
    expect(kubernetesSchedulerConfigSchema.parse({})).toEqual({
      namespace: 'default',
      serviceAccountName: 'ardea',
      image: 'ardea/ardea:0.1.0',
      imagePullSecrets: [],
      nodeSelector: {},
      tolerations: [],
      env: [],
      volumes: [],
      volumeMounts: [],
      labels: {},
      annotations: {},
      terminationGracePeriodSeconds: 30,
      resourceRequestMode: 'EQUAL_TO_LIMIT',
      container0: { cpus: 1, memoryMb: 1024 },
      submitTimeoutMs: 120_000,
      killTimeoutMs: 120_000,
    });
  });

  it('rejects unknown keys and names Kubernetes would refuse', () => {
    expect(issues({ namespce: 'x' })).toEqual([expect.stringMatching(/namespce/)]);
    expect(issues({ namespace: 'Stream_Jobs' })).toEqual(['namespace: a Kubernetes namespace name (a DNS label)']);
    expect(issues({ resourceRequestMode: 'HALF' })[0]).toMatch(/^resourceRequestMode: /);
    expect(issues({ env: [{ name: '1X', value: 'v' }] })).toEqual(['env.0.name: an environment variable name']);
    expect(issues({ env: [{ name: 'ARDEA_CONTAINER_ID', value: '3' }] })).toEqual([
      'env: may not set ARDEA_CONTAINER_ID: the plugin sets it from the pod ordinal',
    ]);
  });

  it('checks volumes, mounts and tolerations against the Kubernetes schema, with the path of the bad field', () => {
    expect(issues({ volumes: [{ name: 'data', hostPath: { path: 42 } }] })).toEqual([
      'volumes.0.hostPath.path: not a valid Kubernetes volume: must be string',
    ]);
    expect(issues({ volumes: [{ emptyDir: {} }] })).toEqual(['volumes.0: not a valid Kubernetes volume: must have required property name']);
    expect(issues({ tolerations: [{ key: 'dedicated', tolerationSeconds: 'ten' }] })).toEqual([
      'tolerations.0.tolerationSeconds: not a valid Kubernetes toleration: must be integer',
    ]);
    expect(issues({ volumes: [{ name: 'data', emptyDir: {} }], volumeMounts: [{ name: 'date', mountPath: '/data' }] })).toEqual([
      "volumeMounts.0.name: mounts volume 'date', which is not in volumes (data)",
    ]);
    expect(issues({ volumeMounts: [{ name: 'data' }] })[0]).toMatch(
      /^volumeMounts\.0: not a valid Kubernetes volumeMount: must have required property mountPath/,
    );
  });

  it('keeps the labels the plugin finds its objects by for itself', () => {
    expect(issues({ labels: { 'ardea.io/topology': 'other' } })[0]).toMatch(/^labels: labels may not set/);
    expect(issues({ labels: { 'app.kubernetes.io/name': 'mine' } })[0]).toMatch(/^labels: labels may not set/);
    expect(issues({ labels: { team: 'a b' } })[0]).toMatch(/^labels\.team: a Kubernetes label value/);
    expect(issues({ labels: { team: 'data', 'example.com/tier': 'gold' } })).toEqual([]);
  });
});
