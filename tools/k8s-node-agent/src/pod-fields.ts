import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError } from './errors.js';
import { renderResource } from './quantity.js';

/** What the agent knows about a pod beyond its object: its address and the node's. */
export interface PodPlacement {
  readonly podIP: string;
  readonly hostIP: string;
  /** The node's allocatable cpu and memory: what a container without a limit may use. */
  readonly allocatable: { readonly cpu: string; readonly memory: string };
}

/** A path like `metadata.labels['apps.kubernetes.io/pod-index']` split into the field and the key. */
function splitKeyed(fieldPath: string): { field: string; key?: string } {
  const match = /^(metadata\.(?:labels|annotations))\[['"]?(.+?)['"]?\]$/.exec(fieldPath);
  return match ? { field: match[1], key: match[2] } : { field: fieldPath };
}

/** `key="value"` lines, sorted, as the downward API writes a whole label or annotation map to a file. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map?.[key])}`)
    .join('\n');
}

/** The value of a downward-API `fieldRef` for this pod; a path Kubernetes does not support is a config error. */
export function podFieldValue(pod: V1Pod, fieldPath: string, placement: PodPlacement): string {
  const { field, key } = splitKeyed(fieldPath);
  const metadata = pod.metadata ?? {};
  switch (field) {
    case 'metadata.name':
      return metadata.name ?? '';
    case 'metadata.namespace':
      return metadata.namespace ?? '';
    case 'metadata.uid':
      return metadata.uid ?? '';
    case 'metadata.labels':
      return key === undefined ? formatMap(metadata.labels) : (metadata.labels?.[key] ?? '');
    case 'metadata.annotations':
      return key === undefined ? formatMap(metadata.annotations) : (metadata.annotations?.[key] ?? '');
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return placement.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return placement.hostIP;
    default:
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `unsupported fieldRef fieldPath '${fieldPath}' (supported: metadata.name, metadata.namespace, metadata.uid, ` +
          `metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP(s))`,
      );
  }
}

/** The value of a `resourceFieldRef` (`limits.cpu`, `requests.memory`...) of one of the pod's containers. */
export function resourceFieldValue(
  pod: V1Pod,
  container: V1Container,
  ref: { containerName?: string; resource: string; divisor?: string | number },
  placement: PodPlacement,
): string {
  const target = ref.containerName ? pod.spec?.containers.find((c) => c.name === ref.containerName) : container;
  if (!target) {
    throw new ContainerConfigError(
      'CreateContainerConfigError',
      `resourceFieldRef names container '${ref.containerName}', which the pod does not have`,
    );
  }
  const [kind, resource] = ref.resource.split('.') as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || (resource !== 'cpu' && resource !== 'memory')) {
    throw new ContainerConfigError(
      'CreateContainerConfigError',
      `unsupported resourceFieldRef resource '${ref.resource}' (supported: limits.cpu, limits.memory, requests.cpu, requests.memory)`,
    );
  }
  const own = target.resources?.[kind]?.[resource];
  // Without a limit a container may use the whole node; without a request it asked for nothing.
  const value = own === undefined ? (kind === 'limits' ? placement.allocatable[resource] : '0') : String(own);
  return renderResource(value, ref.divisor === undefined ? undefined : String(ref.divisor));
}
