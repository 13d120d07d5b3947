import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import {
  denseContainerIds,
  planContainerChanges,
  pollUntilDone,
  SchedulerError,
  type ContainerIdentity,
  type ContainerPlan,
  type ContainerStatus,
  type ExecutorSpec,
  type Logger,
  type PackingPlan,
  type Resources,
  type Scheduler,
  type SchedulerMode,
  type ScheduleRequest,
  type UpdateRequest,
} from '@ardea/core/plugin';
import { isNotFound, kubernetesError, type KubernetesCall, type KubernetesEndpoint } from './api-errors.js';
import type { KubernetesSchedulerConfig } from './kubernetes-config.js';
import {
  containerCommand,
  executorSecret,
  executorsStatefulSet,
  granted,
  headlessService,
  homogeneousResources,
  managerStatefulSet,
  podName,
  RESOURCES_ANNOTATION,
  resourceRequirements,
  topologyObjectNames,
  topologySelector,
  validated,
  type ManifestInput,
  type OwnerReference,
  type TopologyObjectNames,
} from './manifests.js';

export interface KubernetesSchedulerOptions {
  readonly config: KubernetesSchedulerConfig;
  readonly kubeConfig: KubeConfig;
  /** The API server's URL and where the credentials come from, for messages. */
  readonly endpoint: KubernetesEndpoint;
  /** How often waits look at the pods again. */
  readonly pollIntervalMs?: number;
}

type Call = Omit<KubernetesCall, 'namespace' | 'topologyName'>;

/** Something schedule created, and how to take it back. */
interface Created {
  readonly what: string;
  readonly remove: () => Promise<unknown>;
}

/**
 * A library-mode scheduler for Kubernetes. A topology is two StatefulSets in one namespace:
 * `<name>-manager` (one replica: pod `<name>-manager-0` is container 0) and `<name>-executors`,
 * whose ordinals start at 1, so pod `<name>-executors-<n>` is container n and scaling is a replica
 * count (the pool's container identity is `ordinal`). A headless Service gives the pods DNS names;
 * a Secret holds the executor's environment. The Service, the Secret and the executors set are
 * owned by the manager set, so deleting it removes everything.
 *
 * Nothing is kept between calls: every call reads the objects again, so the CLI and container 0's
 * health manager can each drive the same topology.
 */
export class KubernetesScheduler implements Scheduler {
  readonly mode: SchedulerMode = 'library';
  readonly containerIdentity: ContainerIdentity = 'ordinal';

  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly config: KubernetesSchedulerConfig;
  private readonly namespace: string;

  constructor(
    private readonly options: KubernetesSchedulerOptions,
    private readonly logger: Logger,
  ) {
    this.config = options.config;
    this.namespace = options.config.namespace;
    this.apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  async schedule(request: ScheduleRequest): Promise<void> {
    const topologyName = request.topology.name;
    const action = `cannot schedule topology '${topologyName}' on Kubernetes (namespace ${this.namespace})`;
    const ids = denseContainerIds(request.packingPlan, action);
    const names = topologyObjectNames(topologyName);
    const input: ManifestInput = { topologyName, names, config: this.config };
    const resources = homogeneousResources(request.packingPlan);
    const manifests = (owner: OwnerReference) => ({
      secret: validated(executorSecret(input, request.executor, owner), topologyName),
      service: validated(headlessService(input, owner), topologyName),
      executors: validated(executorsStatefulSet(input, ids.length, request.executor, resources, owner), topologyName),
    });
    // Every manifest is checked before anything is created; the owner's uid is only known later.
    const manager = validated(managerStatefulSet(input, request.executor), topologyName);
    manifests({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: names.manager, uid: 'unknown' });

    const created: Created[] = [];
    const call = <T>(what: Call, operation: () => Promise<T>) => this.call(action, topologyName, what, operation);
    try {
      const createdManager = await call({ verb: 'create', resource: 'statefulsets', group: 'apps', name: names.manager }, () =>
        this.apps.createNamespacedStatefulSet({ namespace: this.namespace, body: manager as V1StatefulSet }),
      );
      created.push({ what: `StatefulSet ${names.manager}`, remove: () => this.deleteStatefulSet(names.manager) });
      const owner: OwnerReference = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: names.manager, uid: createdManager.metadata!.uid! };
      const owned = manifests(owner);
      await call({ verb: 'create', resource: 'secrets', group: '', name: names.secret }, () =>
        this.core.createNamespacedSecret({ namespace: this.namespace, body: owned.secret }),
      );
      created.push({
        what: `Secret ${names.secret}`,
        remove: () => this.core.deleteNamespacedSecret({ namespace: this.namespace, name: names.secret }),
      });
      await call({ verb: 'create', resource: 'services', group: '', name: names.base }, () =>
        this.core.createNamespacedService({ namespace: this.namespace, body: owned.service }),
      );
      created.push({
        what: `Service ${names.base}`,
        remove: () => this.core.deleteNamespacedService({ namespace: this.namespace, name: names.base }),
      });
      const createdExecutors = await call({ verb: 'create', resource: 'statefulsets', group: 'apps', name: names.executors }, () =>
        this.apps.createNamespacedStatefulSet({ namespace: this.namespace, body: owned.executors as V1StatefulSet }),
      );
      created.push({ what: `StatefulSet ${names.executors}`, remove: () => this.deleteStatefulSet(names.executors) });
      await this.waitScheduled(action, topologyName, names, [0, ...ids], {
        [names.manager]: createdManager.metadata!.uid!,
        [names.executors]: createdExecutors.metadata!.uid!,
      });
    } catch (error) {
      await this.undo(topologyName, names, created, error);
      throw error;
    }
    this.logger.info('topology scheduled', { topology: topologyName, namespace: this.namespace, containers: ids.length + 1 });
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    const action = `cannot get the status of topology '${topologyName}' on Kubernetes (namespace ${this.namespace})`;
    const names = topologyObjectNames(topologyName);
    const replicas = await this.executorReplicas(action, topologyName, names);
    const pods = await this.pods(action, topologyName, names);
    return Array.from({ length: replicas + 1 }, (_, containerId) => containerStatus(containerId, podName(names, containerId), pods));
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const action =
      `cannot restart ${containerId === undefined ? 'the containers' : `container ${containerId}`} ` +
      `of topology '${topologyName}' on Kubernetes (namespace ${this.namespace})`;
    const names = topologyObjectNames(topologyName);
    const replicas = await this.executorReplicas(action, topologyName, names);
    const call = <T>(what: Call, operation: () => Promise<T>) => this.call(action, topologyName, what, operation);
    if (containerId === undefined) {
      await call({ verb: 'deletecollection', resource: 'pods', group: '' }, () =>
        this.core.deleteCollectionNamespacedPod({ namespace: this.namespace, labelSelector: topologySelector(names) }),
      );
      this.logger.info('containers restarted', { topology: topologyName, containers: replicas + 1 });
      return;
    }
    if (!Number.isInteger(containerId) || containerId < 0 || containerId > replicas) {
      throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are 0..${replicas}`);
    }
    // The StatefulSet controller creates the pod again under the same name: only this container restarts.
    const pod = podName(names, containerId);
    try {
      await call({ verb: 'delete', resource: 'pods', group: '', name: pod }, () =>
        this.core.deleteNamespacedPod({ namespace: this.namespace, name: pod }),
      );
    } catch (error) {
      // Not created yet (pending): its first start is still to come, which is what a restart asks for.
      if (!(error instanceof SchedulerError && isNotFound(error.cause))) throw error;
    }
    this.logger.info('container restarted', { topology: topologyName, containerId, pod });
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const topologyName = request.topologyName;
    const action = `cannot update topology '${topologyName}' on Kubernetes (namespace ${this.namespace})`;
    const names = topologyObjectNames(topologyName);
    const executors = await this.readExecutors(action, topologyName, names);
    const replicas = executors.spec?.replicas ?? 0;
    const changes = planContainerChanges(
      request,
      Array.from({ length: replicas + 1 }, (_, ordinal) => ordinal),
      { ordinal: true },
    );
    const count = request.proposed.containers.length;
    const sizeBefore = recordedResources(executors) ?? homogeneousResources(request.current);
    let size = sizeBefore;

    let restoreTemplate: (() => Promise<void>) | undefined;
    try {
      if (changes.added.length > 0) {
        size = largest(sizeBefore, homogeneousResources({ topologyId: request.proposed.topologyId, containers: changes.added }));
        restoreTemplate = await this.prepareTemplate(action, topologyName, names, executors, request.executor, size);
      }
      if (count !== replicas) await this.scale(action, topologyName, names, count);
      if (changes.added.length > 0) {
        const ids = changes.added.map((container) => container.id);
        await this.waitScheduled(action, topologyName, names, ids, { [names.executors]: executors.metadata!.uid! });
      }
    } catch (error) {
      // Only additions can fail part-way; the count and the template go back to what they were.
      if (changes.added.length > 0) {
        await this.scale(action, topologyName, names, replicas).catch((undo: unknown) =>
          this.logger.warn('could not scale back after a failed update', { topology: topologyName, error: String(undo) }),
        );
        await restoreTemplate?.().catch((undo: unknown) =>
          this.logger.warn('could not restore the pod template after a failed update', { topology: topologyName, error: String(undo) }),
        );
      }
      throw error;
    }
    if (changes.removed.length > 0) {
      const gone = new Set(changes.removed.map((id) => podName(names, id)));
      await this.waitUntil(action, topologyName, names, 'the removed containers to stop', async () => {
        const left = (await this.pods(action, topologyName, names)).filter((pod) => gone.has(pod.metadata?.name ?? ''));
        return left.map((pod) => pod.metadata!.name!);
      });
    }
    this.logger.info('topology updated', {
      topology: topologyName,
      added: changes.added.map((container) => container.id),
      removed: changes.removed,
      replicas: count,
    });
    const kept = new Map(request.current.containers.map((container) => [container.id, container]));
    const addedIds = new Set(changes.added.map((container) => container.id));
    return {
      ...request.proposed,
      containers: request.proposed.containers.map((container): ContainerPlan => ({
        ...container,
        scheduled: addedIds.has(container.id) ? size : (kept.get(container.id)?.scheduled ?? sizeBefore),
      })),
    };
  }

  async kill(topologyName: string): Promise<void> {
    const action = `cannot kill topology '${topologyName}' on Kubernetes (namespace ${this.namespace})`;
    const names = topologyObjectNames(topologyName);
    const call = <T>(what: Call, operation: () => Promise<T>) => this.call(action, topologyName, what, operation);
    const selector = { namespace: this.namespace, labelSelector: topologySelector(names) };
    await this.ignoringNotFound(
      call({ verb: 'delete', resource: 'statefulsets', group: 'apps', name: names.manager }, () => this.deleteStatefulSet(names.manager)),
    );
    // Whatever a half-failed schedule left without an owner goes too.
    await call({ verb: 'deletecollection', resource: 'statefulsets', group: 'apps' }, () =>
      this.apps.deleteCollectionNamespacedStatefulSet({ ...selector, propagationPolicy: 'Foreground' }),
    );
    await call({ verb: 'deletecollection', resource: 'services', group: '' }, () => this.core.deleteCollectionNamespacedService(selector));
    await call({ verb: 'deletecollection', resource: 'secrets', group: '' }, () => this.core.deleteCollectionNamespacedSecret(selector));
    await this.waitGone(action, topologyName, names);
    this.logger.info('topology killed', { topology: topologyName, namespace: this.namespace });
  }

  async jobLinks(topologyName: string): Promise<string[]> {
    const names = topologyObjectNames(topologyName);
    const server = this.options.endpoint.server.replace(/\/+$/, '');
    return [
      `${server}/apis/apps/v1/namespaces/${this.namespace}/statefulsets/${names.manager}`,
      `${server}/apis/apps/v1/namespaces/${this.namespace}/statefulsets/${names.executors}`,
      `${server}/api/v1/namespaces/${this.namespace}/services/${names.base}`,
    ];
  }

  /** No watches or timers outlive a call; the pods keep running, as a library-mode pool's must. */
  async close(): Promise<void> {}

  /** Runs one API call; its failure becomes a SchedulerError naming the verb, the object and what to do. */
  private async call<T>(action: string, topologyName: string, what: Call, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw kubernetesError(error, action, { ...what, namespace: this.namespace, topologyName }, this.options.endpoint);
    }
  }

  private async ignoringNotFound(operation: Promise<unknown>): Promise<void> {
    try {
      await operation;
    } catch (error) {
      if (!(error instanceof SchedulerError && isNotFound(error.cause))) throw error;
    }
  }

  /** Foreground: the set stays (with a finalizer) until the objects it owns and its pods are gone. */
  private deleteStatefulSet(name: string): Promise<unknown> {
    return this.apps.deleteNamespacedStatefulSet({ namespace: this.namespace, name, propagationPolicy: 'Foreground' });
  }

  private async readExecutors(action: string, topologyName: string, names: TopologyObjectNames): Promise<V1StatefulSet> {
    try {
      return await this.call(action, topologyName, { verb: 'get', resource: 'statefulsets', group: 'apps', name: names.executors }, () =>
        this.apps.readNamespacedStatefulSet({ namespace: this.namespace, name: names.executors }),
      );
    } catch (error) {
      if (error instanceof SchedulerError && isNotFound(error.cause)) {
        throw new SchedulerError(
          `${action}: it is not scheduled there (no StatefulSet ${names.executors}); ` +
            `'kubectl get statefulsets -n ${this.namespace} -l ${topologySelector(names)}' shows what there is`,
          { cause: error, code: 'kubernetes.not-scheduled' },
        );
      }
      throw error;
    }
  }

  private async executorReplicas(action: string, topologyName: string, names: TopologyObjectNames): Promise<number> {
    return (await this.readExecutors(action, topologyName, names)).spec?.replicas ?? 0;
  }

  private async pods(action: string, topologyName: string, names: TopologyObjectNames): Promise<V1Pod[]> {
    const list = await this.call(action, topologyName, { verb: 'list', resource: 'pods', group: '' }, () =>
      this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: topologySelector(names) }),
    );
    return list.items;
  }

  /**
   * Makes the executors' pod template start added containers with this executor and size. Running
   * pods keep theirs: the set's update strategy is OnDelete, so only pods created from now on use
   * the new template. The Secret is shared by all pods, so a changed environment also reaches a
   * kept container when it next restarts. Resolves to what puts the template and Secret back.
   */
  private async prepareTemplate(
    action: string,
    topologyName: string,
    names: TopologyObjectNames,
    executors: V1StatefulSet,
    executor: ExecutorSpec,
    size: Resources,
  ): Promise<() => Promise<void>> {
    const call = <T>(what: Call, operation: () => Promise<T>) => this.call(action, topologyName, what, operation);
    const patchSet = (patch: readonly JsonPatchOperation[]) =>
      call({ verb: 'patch', resource: 'statefulsets', group: 'apps', name: names.executors }, () =>
        this.apps.patchNamespacedStatefulSet({ namespace: this.namespace, name: names.executors, body: patch }),
      );
    const patchSecret = (data: Record<string, string | null>) =>
      call({ verb: 'patch', resource: 'secrets', group: '', name: names.secret }, () =>
        this.core.patchNamespacedSecret(
          { namespace: this.namespace, name: names.secret, body: { data } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );

    const container = executors.spec?.template.spec?.containers[0];
    const command = containerCommand(executor.argv);
    const annotationPath = `/metadata/annotations/${RESOURCES_ANNOTATION.replace('/', '~1')}`;
    const recorded = executors.metadata?.annotations?.[RESOURCES_ANNOTATION];
    const change: JsonPatchOperation[] = [];
    const undo: JsonPatchOperation[] = [];
    if (JSON.stringify(container?.command) !== JSON.stringify(command)) {
      change.push({ op: 'replace', path: '/spec/template/spec/containers/0/command', value: command });
      undo.push({ op: 'replace', path: '/spec/template/spec/containers/0/command', value: container?.command ?? [] });
    }
    if (JSON.stringify(recordedResources(executors)) !== JSON.stringify(size)) {
      const resources = resourceRequirements(size, this.config.resourceRequestMode);
      change.push({ op: 'replace', path: '/spec/template/spec/containers/0/resources', value: resources });
      change.push({ op: 'add', path: annotationPath, value: JSON.stringify(size) });
      undo.push({ op: 'replace', path: '/spec/template/spec/containers/0/resources', value: container?.resources ?? {} });
      undo.push(recorded === undefined ? { op: 'remove', path: annotationPath } : { op: 'replace', path: annotationPath, value: recorded });
    }
    if (change.length > 0) await patchSet(change);

    const secret = await call({ verb: 'get', resource: 'secrets', group: '', name: names.secret }, () =>
      this.core.readNamespacedSecret({ namespace: this.namespace, name: names.secret }),
    );
    const before = secret.data ?? {};
    const after = Object.fromEntries(
      Object.entries(executor.env).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
    );
    const envChanged = JSON.stringify(sortedEntries(before)) !== JSON.stringify(sortedEntries(after));
    if (envChanged) await patchSecret(mergeData(before, after));
    return async () => {
      if (undo.length > 0) await patchSet(undo);
      if (envChanged) await patchSecret(mergeData(after, before));
    };
  }

  private async scale(action: string, topologyName: string, names: TopologyObjectNames, replicas: number): Promise<void> {
    await this.call(action, topologyName, { verb: 'patch', resource: 'statefulsets/scale', group: 'apps', name: names.executors }, () =>
      this.apps.patchNamespacedStatefulSetScale(
        { namespace: this.namespace, name: names.executors, body: { spec: { replicas } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  /**
   * Waits until the kube-scheduler has placed every pod of `containerIds` on a node. A pod it finds
   * no node for, or that the StatefulSet controller cannot create (a missing service account, a
   * quota), fails the wait at once with Kubernetes' reason, instead of leaving the topology pending.
   */
  private async waitScheduled(
    action: string,
    topologyName: string,
    names: TopologyObjectNames,
    containerIds: readonly number[],
    sets: Readonly<Record<string, string>>,
  ): Promise<void> {
    const wanted = containerIds.map((id) => podName(names, id));
    await this.waitUntil(action, topologyName, names, 'the new pods to be scheduled', async () => {
      const pods = await this.pods(action, topologyName, names);
      // Pods still stopping hold their node's resources; the kube-scheduler retries once they are gone.
      const stopping = pods.some((pod) => pod.metadata?.deletionTimestamp);
      const byName = new Map(pods.map((pod) => [pod.metadata?.name ?? '', pod]));
      const waiting: string[] = [];
      for (const name of wanted) {
        const pod = byName.get(name);
        const scheduled = pod?.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
        if (scheduled?.status === 'True') continue;
        if (scheduled?.reason === 'Unschedulable' && !stopping) {
          throw new SchedulerError(
            `${action}: no node can run pod ${name}: ${scheduled.message ?? 'Unschedulable'}; each executor pod asks for ` +
              `${describeRequirements(this.config, pod)}: give the containers fewer resources (packing.yaml, or container0 in ` +
              `scheduler.yaml), add a node that fits them, or check nodeSelector and tolerations in scheduler.yaml`,
            { code: 'kubernetes.unschedulable' },
          );
        }
        waiting.push(`${name} (${pod ? (scheduled?.message ?? pod.status?.phase ?? 'pending') : 'not created yet'})`);
      }
      if (waiting.some((entry) => entry.endsWith('(not created yet)'))) await this.failedCreates(action, topologyName, sets);
      return waiting;
    });
  }

  /** Throws what the StatefulSet controller reported when it could not create a pod of one of `sets` (name → uid). */
  private async failedCreates(action: string, topologyName: string, sets: Readonly<Record<string, string>>): Promise<void> {
    for (const [name, uid] of Object.entries(sets)) {
      const events = await this.call(action, topologyName, { verb: 'list', resource: 'events', group: '' }, () =>
        this.core.listNamespacedEvent({
          namespace: this.namespace,
          fieldSelector: `involvedObject.uid=${uid},reason=FailedCreate`,
        }),
      );
      const event = events.items.at(-1);
      if (event) {
        throw new SchedulerError(
          `${action}: the StatefulSet controller cannot create the pods of ${name}: ${event.message ?? 'FailedCreate'}` +
            (/service ?account/i.test(event.message ?? '')
              ? `; create the ServiceAccount '${this.config.serviceAccountName}' (plugins/kubernetes/rbac/ardea-deployer.yaml) ` +
                'or set serviceAccountName in scheduler.yaml'
              : ''),
          { code: 'kubernetes.failed-create' },
        );
      }
    }
  }

  /** Waits until no object or pod of the topology is left. */
  private async waitGone(action: string, topologyName: string, names: TopologyObjectNames): Promise<void> {
    const selector = { namespace: this.namespace, labelSelector: topologySelector(names) };
    await this.waitUntil(action, topologyName, names, 'its pods and StatefulSets to be deleted', async () => {
      const [pods, sets] = await Promise.all([
        this.pods(action, topologyName, names),
        this.call(action, topologyName, { verb: 'list', resource: 'statefulsets', group: 'apps' }, () =>
          this.apps.listNamespacedStatefulSet(selector),
        ),
      ]);
      return [...sets.items.map((set) => `StatefulSet ${set.metadata!.name!}`), ...pods.map((pod) => `pod ${pod.metadata!.name!}`)];
    });
  }

  /** Polls `pending` (what is still not done) until it is empty, within the timeout for `what`. */
  private async waitUntil(
    action: string,
    topologyName: string,
    names: TopologyObjectNames,
    what: string,
    pending: () => Promise<string[]>,
  ): Promise<void> {
    const scheduling = what.includes('scheduled');
    const timeoutMs = scheduling ? this.config.submitTimeoutMs : this.config.killTimeoutMs;
    await pollUntilDone(pending, {
      timeoutMs,
      intervalMs: this.options.pollIntervalMs ?? 250,
      timedOut: (left) =>
        new SchedulerError(
          `${action}: gave up waiting ${timeoutMs} ms for ${what}: ${left.join(', ')}; ` +
            `'kubectl describe pods -n ${this.namespace} -l ${topologySelector(names)}' says why; ` +
            `raise scheduler.${scheduling ? 'submitTimeoutMs' : 'killTimeoutMs'} if the cluster is only slow`,
          { code: 'kubernetes.timeout' },
        ),
    });
  }

  /** Takes back what a failed schedule created (newest first) and waits until its pods are gone. */
  private async undo(topologyName: string, names: TopologyObjectNames, created: readonly Created[], failure: unknown): Promise<void> {
    if (created.length === 0) return;
    const action = `cannot remove what a failed schedule of topology '${topologyName}' created`;
    for (const object of [...created].reverse()) {
      try {
        await object.remove();
      } catch (error) {
        if (!isNotFound(error)) {
          this.logger.warn(`could not delete ${object.what} after a failed schedule`, { error: String(error), failure: String(failure) });
        }
      }
    }
    try {
      await this.waitGone(action, topologyName, names);
    } catch (error) {
      this.logger.warn('objects of a failed schedule were still there when it gave up waiting', {
        topology: topologyName,
        error: (error as Error).message,
      });
    }
  }
}

type JsonPatchOperation = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown };

/** A merge patch of a Secret's `data` from `from` to `to`: keys `to` lacks are removed. */
function mergeData(from: Readonly<Record<string, string>>, to: Readonly<Record<string, string>>): Record<string, string | null> {
  return { ...Object.fromEntries(Object.keys(from).map((key) => [key, null])), ...to };
}

function sortedEntries(record: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

function largest(a: Resources, b: Resources): Resources {
  return granted({
    cpu: Math.max(a.cpu, b.cpu),
    ramBytes: Math.max(a.ramBytes, b.ramBytes),
    diskBytes: Math.max(a.diskBytes, b.diskBytes),
  });
}

/** The executor pod size recorded on the executors set by schedule and update. */
function recordedResources(set: V1StatefulSet): Resources | undefined {
  const recorded = set.metadata?.annotations?.[RESOURCES_ANNOTATION];
  if (!recorded) return undefined;
  try {
    const value = JSON.parse(recorded) as Partial<Resources>;
    if (typeof value.cpu !== 'number' || typeof value.ramBytes !== 'number') return undefined;
    return { cpu: value.cpu, ramBytes: value.ramBytes, diskBytes: value.diskBytes ?? 0 };
  } catch {
    return undefined;
  }
}

function describeRequirements(config: KubernetesSchedulerConfig, pod: V1Pod | undefined): string {
  const requests = pod?.spec?.containers[0]?.resources?.requests ?? pod?.spec?.containers[0]?.resources?.limits;
  const own = requests ? `cpu ${requests.cpu}, memory ${requests.memory}` : 'its resources';
  return `${own} (container 0: cpu ${config.container0.cpus}, memory ${config.container0.memoryMb}Mi)`;
}

/** A container's state as the Scheduler SPI reports it, from its pod. */
export function containerStatus(containerId: number, name: string, pods: readonly V1Pod[]): ContainerStatus {
  const pod = pods.find((candidate) => candidate.metadata?.name === name);
  if (!pod) return { containerId, state: 'pending', restarts: 0, message: `pod ${name} is not created yet` };
  const container = pod.status?.containerStatuses?.[0];
  const restarts = container?.restartCount ?? 0;
  // The node the kube-scheduler bound the pod to; none until it is scheduled.
  const host = pod.spec?.nodeName;
  const base = { containerId, handle: name, restarts, ...(host ? { host } : {}) };
  if (pod.metadata?.deletionTimestamp)
    return { ...base, state: 'restarting', message: `pod ${name} is being deleted; its StatefulSet creates it again` };
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    const why = [pod.status?.reason, pod.status?.message].filter(Boolean).join(': ');
    return { ...base, state: 'failed', message: `pod ${name} is ${phase}${why ? ` (${why})` : ''}` };
  }
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    return {
      ...base,
      state: 'pending',
      message: `pod ${name} is not scheduled: ${scheduled.message ?? scheduled.reason ?? 'waiting for a node'}`,
    };
  }
  const waiting = container?.state?.waiting;
  const terminated = container?.state?.terminated ?? container?.lastState?.terminated;
  if (phase === 'Running' && container?.state?.running && container.ready) return { ...base, state: 'running' };
  if (waiting?.reason === 'CrashLoopBackOff' || (restarts > 0 && !container?.state?.running)) {
    const exit = terminated ? `; it last exited with code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}` : '';
    return {
      ...base,
      state: 'restarting',
      message: `pod ${name}: ${waiting?.reason ?? 'restarting'}${waiting?.message ? `: ${waiting.message}` : ''}${exit}`,
    };
  }
  const why = waiting?.reason ?? (container?.state?.running ? 'running, not ready' : (phase ?? 'Pending'));
  return { ...base, state: 'pending', message: `pod ${name}: ${why}` };
}
