import { SchedulerError } from '@ardea/core/plugin';

/** The `Status` object every non-2xx answer of the API server carries. */
export interface KubernetesStatus {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    readonly causes?: ReadonlyArray<{ readonly reason?: string; readonly message?: string; readonly field?: string }>;
  };
}

/** What the plugin was doing when a call failed: the pieces of the message. */
export interface KubernetesCall {
  /** The Kubernetes verb: create, get, list, patch, delete, deletecollection. */
  readonly verb: string;
  /** The resource as RBAC names it: `statefulsets`, `statefulsets/scale`, `pods`, `secrets`, `services`. */
  readonly resource: string;
  /** The API group; '' for core. */
  readonly group: string;
  readonly namespace: string;
  /** The object's name; none for list and deletecollection. */
  readonly name?: string;
  /** The topology, for the advice to kill it. */
  readonly topologyName: string;
}

export interface KubernetesEndpoint {
  /** The API server's URL. */
  readonly server: string;
  /** Where the credentials came from, for the advice: `kubeconfig /path (context x)` or `in-cluster service account`. */
  readonly credentials: string;
  /** The Ardea cluster name, for `ardea kill <cluster> <topology>`. */
  readonly cluster: string;
}

/** The HTTP code and Status of a client-node ApiException; undefined for anything else. */
export function apiFailure(error: unknown): { code: number; status: KubernetesStatus } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, body } = error as { code?: unknown; body?: unknown };
  if (typeof code !== 'number' || !('headers' in error)) return undefined;
  let status: KubernetesStatus = {};
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body) as KubernetesStatus;
    } catch {
      status = { message: body.trim() };
    }
  } else if (typeof body === 'object' && body !== null) {
    status = body as KubernetesStatus;
  }
  if (status.message === undefined) {
    // client-node drops the body of some answers (401) and keeps the HTTP reason phrase in its message.
    const phrase = /^Message: (.+)$/m.exec((error as { message?: string }).message ?? '')?.[1];
    if (phrase && phrase !== 'Unknown API Status Code!') status = { ...status, message: phrase };
  }
  return { code, status };
}

/** Whether the error is the API server saying the object (not its namespace) does not exist. */
export function isNotFound(error: unknown): boolean {
  const failure = apiFailure(error);
  return failure?.code === 404 && failure.status.details?.kind !== 'namespaces';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|EPROTO/;

function objectOf(call: KubernetesCall): string {
  const resource = call.group ? `${call.resource}.${call.group}` : call.resource;
  return call.name === undefined ? `${resource} in namespace ${call.namespace}` : `${resource} ${call.namespace}/${call.name}`;
}

/**
 * One SchedulerError for a failed API call: what the plugin was doing (`action`), the verb and
 * object, the API server's own Status message and reason, and what to do about it.
 */
export function kubernetesError(error: unknown, action: string, call: KubernetesCall, endpoint: KubernetesEndpoint): SchedulerError {
  if (error instanceof SchedulerError) return error;
  const what = `${call.verb} ${objectOf(call)}`;
  const failure = apiFailure(error);
  if (failure) {
    const { code, status } = failure;
    const said = `${status.message ?? `HTTP ${code}`}${status.reason ? ` (${code} ${status.reason})` : ` (${code})`}`;
    let advice: string;
    let errorCode = `kubernetes.${status.reason ?? code}`;
    if (code === 401) {
      advice =
        `the API server at ${endpoint.server} did not accept the credentials of ${endpoint.credentials}: ` +
        'check the token or client certificate of its user';
      errorCode = 'kubernetes.unauthorized';
    } else if (code === 403) {
      const group = call.group ? ` in API group '${call.group}'` : '';
      advice =
        `RBAC does not allow ${endpoint.credentials} to '${call.verb}' '${call.resource}'${group} in namespace ${call.namespace}: ` +
        `grant the Role in plugins/kubernetes/rbac/ardea-deployer.yaml (kubectl apply -n ${call.namespace} -f ardea-deployer.yaml) ` +
        `and bind it to this user; if namespace ${call.namespace} is not the one you meant (or does not exist: Kubernetes then ` +
        "answers 403 too), fix 'namespace' in scheduler.yaml";
      errorCode = 'kubernetes.forbidden';
    } else if (code === 404 && status.details?.kind === 'namespaces') {
      advice =
        `namespace '${call.namespace}' does not exist: create it (kubectl create namespace ${call.namespace}) ` +
        `or set 'namespace' in scheduler.yaml to an existing one`;
      errorCode = 'kubernetes.no-namespace';
    } else if (code === 409 && status.reason === 'AlreadyExists') {
      advice =
        `topology '${call.topologyName}' is already scheduled, or a failed run left this object behind: ` +
        `run 'ardea kill ${endpoint.cluster} ${call.topologyName}' first`;
      errorCode = 'kubernetes.already-exists';
    } else if (code === 422) {
      const causes = (status.details?.causes ?? []).map((cause) => `${cause.field ?? '(object)'}: ${cause.message ?? cause.reason ?? ''}`);
      const fields = causes.length > 0 ? ` (${causes.join('; ')})` : '';
      advice = `the API server rejected fields${fields}; check the matching keys in scheduler.yaml`;
      errorCode = 'kubernetes.invalid';
    } else {
      advice = `the API server at ${endpoint.server} refused it`;
    }
    return new SchedulerError(`${action}: ${what} failed: ${said}; ${advice}`, { cause: error, code: errorCode });
  }
  const networkCode = (error as { code?: unknown } | null)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  if (typeof networkCode === 'string' && NETWORK_CODES.has(networkCode)) {
    return new SchedulerError(
      `${action}: the Kubernetes API server at ${endpoint.server} is unreachable (${networkCode}) while trying to ${what}: ` +
        `is the cluster up, and is the server of ${endpoint.credentials} right?`,
      { cause: error, code: 'kubernetes.unreachable' },
    );
  }
  if (typeof networkCode === 'string' && TLS_CODE.test(networkCode)) {
    return new SchedulerError(
      `${action}: the TLS connection to the Kubernetes API server at ${endpoint.server} failed (${networkCode}: ${reason}) ` +
        `while trying to ${what}: check certificate-authority in ${endpoint.credentials}`,
      { cause: error, code: 'kubernetes.tls' },
    );
  }
  return new SchedulerError(`${action}: ${what} at ${endpoint.server} failed: ${reason}`, { cause: error, code: 'kubernetes.request' });
}
