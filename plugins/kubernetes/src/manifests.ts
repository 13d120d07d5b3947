import {
  CONTAINER_ID_ENV,
  LISTEN_HOST_ENV,
  CONTAINER_INDEX_PLACEHOLDER,
  MiB,
  poolResourceName,
  SchedulerError,
  type ExecutorSpec,
  type PackingPlan,
  type Resources,
} from '@ardea/core/plugin';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IToleration } from 'kubernetes-models/v1/Toleration';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import type { KubernetesSchedulerConfig } from './kubernetes-config.js';

/** The pod label the StatefulSet controller sets to the pod's ordinal (Kubernetes ≥ 1.28). */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const TOPOLOGY_LABEL = 'ardea.io/topology';
export const ROLE_LABEL = 'ardea.io/role';
/** The topology's own name, which the label may only hold folded (see {@link topologyObjectNames}). */
export const TOPOLOGY_NAME_ANNOTATION = 'ardea.io/topology-name';
/** On the executors set: the size every executor pod gets, as `{cpu, ramBytes, diskBytes}` JSON. */
export const RESOURCES_ANNOTATION = 'ardea.io/container-resources';
export const COMMON_LABELS = { 'app.kubernetes.io/name': 'ardea', 'app.kubernetes.io/managed-by': 'ardea' } as const;

export type Role = 'manager' | 'executors';

/**
 * A StatefulSet's pods carry a `controller-revision-hash` label of `<set>-<hash>`, and label values
 * end at 63 characters: so a set's name must stay within 52.
 */
const STATEFUL_SET_NAME_MAX = 52;
const EXECUTORS_SUFFIX = '-executors';

export interface TopologyObjectNames {
  /** The topology's DNS-label form: the name of its Service and the value of its topology label. */
  readonly base: string;
  /** StatefulSet of container 0; its one pod `<manager>-0` is container 0. */
  readonly manager: string;
  /** StatefulSet of containers 1..N; pod `<executors>-<n>` is container n. */
  readonly executors: string;
  /** Secret holding the executor's environment. */
  readonly secret: string;
}

/**
 * The names of a topology's objects. The base is the topology name when it is a DNS label short
 * enough that `<base>-executors` fits a StatefulSet name, and otherwise the name folded with a hash
 * of it (poolResourceName), so every topology fits and no two share objects.
 */
export function topologyObjectNames(topologyName: string): TopologyObjectNames {
  const base = poolResourceName(topologyName, undefined, { maxLength: STATEFUL_SET_NAME_MAX - EXECUTORS_SUFFIX.length });
  return { base, manager: `${base}-manager`, executors: `${base}${EXECUTORS_SUFFIX}`, secret: `${base}-executor` };
}

export function podName(names: TopologyObjectNames, containerId: number): string {
  return containerId === 0 ? `${names.manager}-0` : `${names.executors}-${containerId}`;
}

/** Label selector of every object and pod of the topology. */
export function topologySelector(names: TopologyObjectNames): string {
  return `app.kubernetes.io/name=ardea,${TOPOLOGY_LABEL}=${names.base}`;
}

/**
 * The executor's command line for the pod spec. Kubernetes expands `$(VAR)` in `command` with the
 * container's environment and turns `$$` into `$`, so every `$` of the argv is doubled and the
 * container placeholder becomes `$(ARDEA_CONTAINER_ID)`, which the pod sets from its ordinal. No
 * shell is involved: the image needs none, and arguments reach the executor exactly as given.
 */
export function containerCommand(argv: readonly string[]): string[] {
  return argv.map((arg) =>
    arg
      .split(CONTAINER_INDEX_PLACEHOLDER)
      .map((part) => part.replaceAll('$', '$$$$'))
      .join(`$(${CONTAINER_ID_ENV})`),
  );
}

/**
 * What every executor pod gets: the largest container of the plan (the plan's resources already
 * include the padding for the stream and metrics managers), rounded up to what the quantities
 * written express (millicores, MiB). Pods of one StatefulSet share one template, so they are the
 * same size, as in Heron.
 */
export function homogeneousResources(plan: PackingPlan): Resources {
  const largest = plan.containers.reduce(
    (acc, container) => {
      const size = container.scheduled ?? container.required;
      return {
        cpu: Math.max(acc.cpu, size.cpu),
        ramBytes: Math.max(acc.ramBytes, size.ramBytes),
        diskBytes: Math.max(acc.diskBytes, size.diskBytes),
      };
    },
    { cpu: 0, ramBytes: 0, diskBytes: 0 },
  );
  return granted(largest);
}

/** `resources` as Kubernetes grants them: CPU in whole millicores, memory in whole MiB (at least 1 of each). */
export function granted(resources: Resources): Resources {
  return {
    cpu: Math.max(1, Math.ceil(resources.cpu * 1000 - 1e-6)) / 1000,
    ramBytes: Math.max(1, Math.ceil(resources.ramBytes / MiB - 1e-9)) * MiB,
    diskBytes: resources.diskBytes,
  };
}

export function container0Resources(config: Pick<KubernetesSchedulerConfig, 'container0'>): Resources {
  return granted({ cpu: config.container0.cpus, ramBytes: config.container0.memoryMb * MiB, diskBytes: 0 });
}

/** Limits (and requests, unless `NOT_SET`) of a container: CPU in millicores, memory in MiB. */
export function resourceRequirements(resources: Resources, mode: KubernetesSchedulerConfig['resourceRequestMode']) {
  const limits = { cpu: `${Math.round(resources.cpu * 1000)}m`, memory: `${Math.round(resources.ramBytes / MiB)}Mi` };
  return mode === 'EQUAL_TO_LIMIT' ? { limits, requests: { ...limits } } : { limits };
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

export interface ManifestInput {
  readonly topologyName: string;
  readonly names: TopologyObjectNames;
  readonly config: KubernetesSchedulerConfig;
}

function metadata(input: ManifestInput, name: string, owner?: OwnerReference, extraAnnotations: Record<string, string> = {}) {
  return {
    name,
    namespace: input.config.namespace,
    labels: { ...input.config.labels, ...COMMON_LABELS, [TOPOLOGY_LABEL]: input.names.base },
    annotations: { ...input.config.annotations, [TOPOLOGY_NAME_ANNOTATION]: input.topologyName, ...extraAnnotations },
    ...(owner ? { ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: true }] } : {}),
  };
}

function podTemplate(input: ManifestInput, role: Role, executor: ExecutorSpec, resources: Resources): IPodTemplateSpec {
  const { config, names } = input;
  const labels = { ...config.labels, ...COMMON_LABELS, [TOPOLOGY_LABEL]: names.base, [ROLE_LABEL]: role };
  return {
    metadata: { labels, annotations: { ...config.annotations, [TOPOLOGY_NAME_ANNOTATION]: input.topologyName } },
    spec: {
      serviceAccountName: config.serviceAccountName,
      // Only container 0's health manager calls the API; executors need no token.
      automountServiceAccountToken: role === 'manager',
      terminationGracePeriodSeconds: config.terminationGracePeriodSeconds,
      restartPolicy: 'Always',
      ...(Object.keys(config.nodeSelector).length > 0 ? { nodeSelector: config.nodeSelector } : {}),
      ...(config.tolerations.length > 0 ? { tolerations: config.tolerations as IToleration[] } : {}),
      ...(config.imagePullSecrets.length > 0 ? { imagePullSecrets: config.imagePullSecrets.map((name) => ({ name })) } : {}),
      ...(config.volumes.length > 0 ? { volumes: config.volumes as unknown as IVolume[] } : {}),
      containers: [
        {
          name: role === 'manager' ? 'manager' : 'executor',
          image: config.image,
          ...(config.imagePullPolicy ? { imagePullPolicy: config.imagePullPolicy } : {}),
          command: containerCommand(executor.argv),
          env: [
            { name: CONTAINER_ID_ENV, valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } } },
            // Each pod has its own IP: the executor listens on it and advertises it to the other pods.
            { name: LISTEN_HOST_ENV, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            ...config.env.map((variable) => ({ name: variable.name, value: variable.value })),
          ],
          // The executor's environment holds the cluster config and may hold credentials: a Secret, not the spec.
          envFrom: [{ secretRef: { name: names.secret } }],
          resources: resourceRequirements(resources, config.resourceRequestMode),
          ...(config.volumeMounts.length > 0 ? { volumeMounts: config.volumeMounts as unknown as IVolumeMount[] } : {}),
        },
      ],
    },
  };
}

function statefulSet(
  input: ManifestInput,
  role: Role,
  replicas: number,
  executor: ExecutorSpec,
  resources: Resources,
  owner?: OwnerReference,
): StatefulSet {
  const { names } = input;
  const name = role === 'manager' ? names.manager : names.executors;
  return new StatefulSet({
    metadata: metadata(input, name, owner, role === 'executors' ? { [RESOURCES_ANNOTATION]: JSON.stringify(resources) } : {}),
    spec: {
      replicas,
      serviceName: names.base,
      podManagementPolicy: 'Parallel',
      // A template change (an update with a new executor spec or size) must not replace running pods:
      // it applies to pods created afterwards, i.e. added containers.
      updateStrategy: { type: 'OnDelete' },
      ...(role === 'executors' ? { ordinals: { start: 1 } } : {}),
      selector: { matchLabels: { ...COMMON_LABELS, [TOPOLOGY_LABEL]: names.base, [ROLE_LABEL]: role } },
      template: podTemplate(input, role, executor, resources),
    },
  });
}

/** Container 0: one replica, ordinal 0. */
export function managerStatefulSet(input: ManifestInput, executor: ExecutorSpec): StatefulSet {
  return statefulSet(input, 'manager', 1, executor, container0Resources(input.config));
}

/** Containers 1..replicas, by ordinal; owned by the manager set, so deleting that removes it. */
export function executorsStatefulSet(
  input: ManifestInput,
  replicas: number,
  executor: ExecutorSpec,
  resources: Resources,
  owner: OwnerReference,
): StatefulSet {
  return statefulSet(input, 'executors', replicas, executor, resources, owner);
}

/** Headless: a DNS name per pod (`<pod>.<base>.<namespace>.svc`), no virtual IP. */
export function headlessService(input: ManifestInput, owner: OwnerReference): Service {
  return new Service({
    metadata: metadata(input, input.names.base, owner),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { ...COMMON_LABELS, [TOPOLOGY_LABEL]: input.names.base },
    },
  });
}

export function executorSecret(input: ManifestInput, executor: ExecutorSpec, owner: OwnerReference): Secret {
  return new Secret({
    metadata: metadata(input, input.names.secret, owner),
    type: 'Opaque',
    stringData: { ...executor.env },
  });
}

/** The scheduler.yaml key a manifest path comes from, for the message of a manifest that fails validation. */
function configKeyOf(instancePath: string): string | undefined {
  const keys: Array<[RegExp, string]> = [
    [/\/volumeMounts\b/, 'volumeMounts'],
    [/\/volumes\b/, 'volumes'],
    [/\/tolerations\b/, 'tolerations'],
    [/\/nodeSelector\b/, 'nodeSelector'],
    [/\/imagePullSecrets\b/, 'imagePullSecrets'],
    [/\/labels\b/, 'labels'],
    [/\/annotations\b/, 'annotations'],
    [/\/env\b/, 'env'],
    [/\/image\b/, 'image'],
  ];
  return keys.find(([pattern]) => pattern.test(instancePath))?.[1];
}

/**
 * The manifest as sent, after checking it against the Kubernetes schema (kubernetes-models): a
 * failure names the object, the field and the scheduler.yaml key it came from.
 */
export function validated<T extends { validate(): void; toJSON(): unknown; kind: string; metadata?: { name?: string } }>(
  manifest: T,
  topologyName: string,
): Record<string, unknown> {
  try {
    manifest.validate();
  } catch (error) {
    const issues = (error as { errors?: Array<{ instancePath?: string; message?: string }> }).errors ?? [];
    const described = issues.map((issue) => {
      const field = (issue.instancePath ?? '').split('/').filter(Boolean).join('.');
      const key = configKeyOf(issue.instancePath ?? '');
      return `${field || '(object)'} ${issue.message ?? 'is invalid'}${key ? ` (from '${key}' in scheduler.yaml: fix it there)` : ''}`;
    });
    throw new SchedulerError(
      `cannot schedule topology '${topologyName}': the ${manifest.kind} ${manifest.metadata?.name ?? ''} it would send is not valid ` +
        `Kubernetes: ${described.join('; ') || (error as Error).message}`,
      { cause: error, code: 'kubernetes.invalid-manifest' },
    );
  }
  return manifest.toJSON() as Record<string, unknown>;
}
