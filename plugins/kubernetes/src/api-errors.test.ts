import { ApiException } from '@kubernetes/client-node';
import { SchedulerError } from '@ardea/core/plugin';
import { describe, expect, it } from 'vitest';
import { isNotFound, kubernetesError, type KubernetesCall } from './api-errors.js';

const endpoint = { server: 'https://k8s.example.com:6443', credentials: 'the kubeconfig /home/me/.kube/config', cluster: 'prod' };
const action = "cannot schedule topology 'wc' on Kubernetes (namespace streams)";
const createSet: KubernetesCall = {
  verb: 'create',
  resource: 'statefulsets',
  group: 'apps',
  namespace: 'streams',
  name: 'wc-manager',
  topologyName: 'wc',
};

/** An ApiException as client-node 1.4 throws it: the Status JSON as a string body. */
function apiException(code: number, status: object | undefined, phrase = 'Unknown API Status Code!'): ApiException<unknown> {
  const body =
    status === undefined ? undefined : JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...status });
  return new ApiException(code, phrase, body, { 'content-type': 'application/json' });
}

describe('API errors as users read them', () => {
  it('403: the API server says who may not do what, and the message points to the Role to grant', () => {
    const error = kubernetesError(
      apiException(403, {
        message:
          'statefulsets.apps is forbidden: User "ardea-user" cannot create resource "statefulsets" in API group "apps" ' +
          'in the namespace "streams"',
        reason: 'Forbidden',
        details: { group: 'apps', kind: 'statefulsets' },
        code: 403,
      }),
      action,
      createSet,
      endpoint,
    );
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error.code).toBe('kubernetes.forbidden');
    expect(error.message).toBe(
      `${action}: create statefulsets.apps streams/wc-manager failed: statefulsets.apps is forbidden: User "ardea-user" cannot create ` +
        'resource "statefulsets" in API group "apps" in the namespace "streams" (403 Forbidden); RBAC does not allow the kubeconfig ' +
        "/home/me/.kube/config to 'create' 'statefulsets' in API group 'apps' in namespace streams: grant the Role in " +
        'plugins/kubernetes/rbac/ardea-deployer.yaml (kubectl apply -n streams -f ardea-deployer.yaml) and bind it to this user; ' +
        'if namespace streams is not the one you meant (or does not exist: Kubernetes then answers 403 too), ' +
        "fix 'namespace' in scheduler.yaml",
    );
  });

  it('401: the credentials are wrong, even though client-node drops the body', () => {
    const error = kubernetesError(apiException(401, undefined, 'Unauthorized'), action, createSet, endpoint);
    expect(error.code).toBe('kubernetes.unauthorized');
    expect(error.message).toBe(
      `${action}: create statefulsets.apps streams/wc-manager failed: Unauthorized (401); the API server at https://k8s.example.com:6443 ` +
        'did not accept the credentials of the kubeconfig /home/me/.kube/config: check the token or client certificate of its user',
    );
  });

  it('404 on the namespace: create it or fix namespace; a 404 on the object itself is a plain not-found', () => {
    const missingNamespace = apiException(404, {
      message: 'namespaces "streams" not found',
      reason: 'NotFound',
      details: { name: 'streams', kind: 'namespaces' },
      code: 404,
    });
    const error = kubernetesError(missingNamespace, action, createSet, endpoint);
    expect(error.code).toBe('kubernetes.no-namespace');
    expect(error.message).toContain(
      `namespaces "streams" not found (404 NotFound); namespace 'streams' does not exist: ` +
        "create it (kubectl create namespace streams) or set 'namespace' in scheduler.yaml",
    );
    expect(isNotFound(missingNamespace)).toBe(false);
    const missingSet = apiException(404, {
      message: 'statefulsets.apps "wc-manager" not found',
      reason: 'NotFound',
      details: { name: 'wc-manager', group: 'apps', kind: 'statefulsets' },
      code: 404,
    });
    expect(isNotFound(missingSet)).toBe(true);
  });

  it('409 AlreadyExists names the object and says to kill the topology first', () => {
    const error = kubernetesError(
      apiException(409, {
        message: 'statefulsets.apps "wc-manager" already exists',
        reason: 'AlreadyExists',
        details: { name: 'wc-manager', group: 'apps', kind: 'statefulsets' },
        code: 409,
      }),
      action,
      createSet,
      endpoint,
    );
    expect(error.code).toBe('kubernetes.already-exists');
    expect(
      error.message.endsWith(
        `statefulsets.apps "wc-manager" already exists (409 AlreadyExists); topology 'wc' is already scheduled, ` +
          "or a failed run left this object behind: run 'ardea kill prod wc' first",
      ),
    ).toBe(true);
  });

  it('422 lists the fields the API server refused', () => {
    const error = kubernetesError(
      apiException(422, {
        message: 'StatefulSet.apps "wc-manager" is invalid: spec.template.spec.containers[0].image: Required value',
        reason: 'Invalid',
        details: {
          name: 'wc-manager',
          group: 'apps',
          kind: 'StatefulSet',
          causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.template.spec.containers[0].image' }],
        },
        code: 422,
      }),
      action,
      createSet,
      endpoint,
    );
    expect(error.code).toBe('kubernetes.invalid');
    expect(error.message).toMatch(
      /\(422 Invalid\); the API server rejected fields \(spec\.template\.spec\.containers\[0\]\.image: Required value\)/,
    );
  });

  it('an unreachable API server or an untrusted certificate says where it tried and what to check', () => {
    const refused = Object.assign(new Error('request to https://127.0.0.1:1/apis failed, reason: connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(kubernetesError(refused, action, createSet, endpoint).message).toBe(
      `${action}: the Kubernetes API server at https://k8s.example.com:6443 is unreachable (ECONNREFUSED) while trying to create ` +
        'statefulsets.apps streams/wc-manager: is the cluster up, and is the server of the kubeconfig /home/me/.kube/config right?',
    );
    const untrusted = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    const tls = kubernetesError(untrusted, action, createSet, endpoint).message;
    expect(tls).toContain(
      'the TLS connection to the Kubernetes API server at https://k8s.example.com:6443 failed ' +
        '(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate)',
    );
    expect(tls).toContain('check certificate-authority in the kubeconfig /home/me/.kube/config');
  });
});
