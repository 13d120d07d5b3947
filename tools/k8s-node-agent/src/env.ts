import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError } from './errors.js';
import { expandReferences } from './expand.js';
import { podFieldValue, resourceFieldValue, type PodPlacement } from './pod-fields.js';

/** Reads Secrets and ConfigMaps; undefined when the object does not exist (any other failure throws). */
export interface ObjectSource {
  secret(namespace: string, name: string): Promise<ReadonlyMap<string, Buffer> | undefined>;
  configMap(namespace: string, name: string): Promise<ReadonlyMap<string, Buffer> | undefined>;
}

type Kind = 'Secret' | 'ConfigMap';

/** One container's view of Secrets and ConfigMaps: each object read once, messages as the kubelet words them. */
class ObjectReader {
  private readonly cache = new Map<string, Promise<ReadonlyMap<string, Buffer> | undefined>>();

  constructor(
    private readonly source: ObjectSource,
    private readonly namespace: string,
  ) {}

  object(kind: Kind, name: string): Promise<ReadonlyMap<string, Buffer> | undefined> {
    const cacheKey = `${kind}/${name}`;
    let entry = this.cache.get(cacheKey);
    if (!entry) {
      entry = (kind === 'Secret' ? this.source.secret(this.namespace, name) : this.source.configMap(this.namespace, name)).catch(
        (error: unknown) => {
          throw new ContainerConfigError(
            'CreateContainerConfigError',
            `cannot read ${kind} ${this.namespace}/${name}: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        },
      );
      this.cache.set(cacheKey, entry);
    }
    return entry;
  }

  /** The object's data, or undefined when it is missing and optional; missing and required is a config error. */
  async required(kind: Kind, name: string, optional: boolean | undefined): Promise<ReadonlyMap<string, Buffer> | undefined> {
    const data = await this.object(kind, name);
    if (data === undefined && !optional) {
      throw new ContainerConfigError('CreateContainerConfigError', `${kind === 'Secret' ? 'secret' : 'configmap'} "${name}" not found`);
    }
    return data;
  }

  async key(kind: Kind, ref: { name?: string; key: string; optional?: boolean }): Promise<string | undefined> {
    const data = await this.required(kind, ref.name ?? '', ref.optional);
    if (data === undefined) return undefined;
    const value = data.get(ref.key);
    if (value === undefined && !ref.optional) {
      throw new ContainerConfigError('CreateContainerConfigError', `couldn't find key ${ref.key} in ${kind} ${this.namespace}/${ref.name}`);
    }
    return value?.toString('utf8');
  }
}

/**
 * A container's environment as the kubelet builds it: the base (lowest), then the service variables,
 * then `envFrom` sources in order, then `env` entries in order, each later one overriding. An `env`
 * value may use `$(NAME)` for any variable defined before it. Throws {@link ContainerConfigError}
 * when a required Secret, ConfigMap or key is missing.
 */
export async function resolveEnvironment(
  pod: V1Pod,
  container: V1Container,
  placement: PodPlacement,
  base: Readonly<Record<string, string>>,
  source: ObjectSource,
): Promise<Record<string, string>> {
  const reader = new ObjectReader(source, pod.metadata?.namespace ?? 'default');
  const env: Record<string, string> = { ...base };
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const data = await reader.required(from.secretRef ? 'Secret' : 'ConfigMap', ref.name ?? '', ref.optional);
    for (const [key, value] of data ?? []) {
      // The kubelet skips keys that cannot be variable names, and so do we.
      if (!key.includes('=')) env[`${from.prefix ?? ''}${key}`] = value.toString('utf8');
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    let value: string | undefined;
    if (!from) value = expandReferences(variable.value ?? '', (name) => env[name]);
    else if (from.fieldRef) value = podFieldValue(pod, from.fieldRef.fieldPath, placement);
    else if (from.resourceFieldRef) value = resourceFieldValue(pod, container, from.resourceFieldRef, placement);
    else if (from.secretKeyRef) value = await reader.key('Secret', from.secretKeyRef);
    else if (from.configMapKeyRef) value = await reader.key('ConfigMap', from.configMapKeyRef);
    // An optional reference to something missing leaves the variable unset, as in Kubernetes.
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** The command line a container runs: `command` then `args`, each with `$(NAME)` expanded from its environment. */
export function containerCommandLine(container: V1Container, env: Readonly<Record<string, string>>): string[] {
  const lookup = (name: string) => env[name];
  return [...(container.command ?? []), ...(container.args ?? [])].map((part) => expandReferences(part, lookup));
}
