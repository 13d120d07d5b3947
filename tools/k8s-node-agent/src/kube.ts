import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  type V1Pod,
} from '@kubernetes/client-node';
import type { VolumeSource } from './volumes.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, or undefined when the call failed before an answer. */
export function apiStatusCode(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The message of the API's Status object in a failed call (what kubectl prints), or the error's own message. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    try {
      const status = (typeof error.body === 'string' ? JSON.parse(error.body) : error.body) as { message?: string };
      if (status?.message) return `${status.message} (HTTP ${error.code})`;
    } catch {
      // Not a Status object.
    }
    return `HTTP ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function orUndefinedIfMissing<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (apiStatusCode(error) === 404) return undefined;
    throw new Error(apiMessage(error), { cause: error });
  }
}

/** Everything the agent asks of the API server, with the node's credentials. */
export class KubeClient implements VolumeSource {
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly version: VersionApi;

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
    this.version = config.makeApiClient(VersionApi);
  }

  /** The API server's address as pods see it (`KUBERNETES_SERVICE_HOST`/`_PORT`). */
  serverAddress(): { host: string; port: string } {
    const server = new URL(this.config.getCurrentCluster()?.server ?? 'https://127.0.0.1:6443');
    return { host: server.hostname.replace(/^\[|\]$/g, ''), port: server.port || '443' };
  }

  async secret(namespace: string, name: string): Promise<ReadonlyMap<string, Buffer> | undefined> {
    const secret = await orUndefinedIfMissing(this.core.readNamespacedSecret({ namespace, name }));
    if (!secret) return undefined;
    return new Map(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]));
  }

  async configMap(namespace: string, name: string): Promise<ReadonlyMap<string, Buffer> | undefined> {
    const configMap = await orUndefinedIfMissing(this.core.readNamespacedConfigMap({ namespace, name }));
    if (!configMap) return undefined;
    return new Map([
      ...Object.entries(configMap.data ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value, 'utf8')]),
      ...Object.entries(configMap.binaryData ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value, 'base64')]),
    ]);
  }

  async serviceAccountToken(
    pod: V1Pod,
    request: { audience?: string; expirationSeconds: number },
  ): Promise<{ token: string; expiresAt: Date }> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const serviceAccount = pod.spec?.serviceAccountName || 'default';
    try {
      const answer = await this.core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: request.audience ? [request.audience] : [],
            expirationSeconds: request.expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
          },
        },
      });
      const token = answer.status?.token;
      if (!token) throw new Error('the TokenRequest answer holds no token');
      return { token, expiresAt: new Date(answer.status?.expirationTimestamp ?? Date.now() + request.expirationSeconds * 1000) };
    } catch (error) {
      throw new Error(`token request for service account ${namespace}/${serviceAccount} failed: ${apiMessage(error)}`, { cause: error });
    }
  }

  async patchPodStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void> {
    await this.core.patchNamespacedPodStatus(
      { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? 'default', body: { status } },
      MERGE_PATCH,
    );
  }

  /** Removes the pod object once its processes are gone; only this incarnation of the name (uid precondition). */
  async deletePod(pod: V1Pod): Promise<void> {
    await this.core.deleteNamespacedPod({
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? 'default',
      gracePeriodSeconds: 0,
      body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid } },
    });
  }

  async patchNodeStatus(name: string, status: Record<string, unknown>): Promise<void> {
    await this.core.patchNodeStatus({ name, body: { status } }, MERGE_PATCH);
  }

  async patchLease(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.coordination.patchNamespacedLease({ namespace, name, body: { spec } }, MERGE_PATCH);
  }
}
