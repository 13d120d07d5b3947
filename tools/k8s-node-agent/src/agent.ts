import { Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackoffPolicy } from './backoff.js';
import { NodeAgentError } from './errors.js';
import { IpPool } from './ip-pool.js';
import { apiMessage, apiStatusCode, KubeClient } from './kube.js';
import type { AgentLogger } from './logger.js';
import { PodWorker, type PodWorkerContext } from './pod-worker.js';
import { checkMountNamespaces, ProcessRecords } from './processes.js';

export interface NodeAgentOptions {
  /** The credentials and API server the agent uses; a node's (`system:node:<name>`, group `system:nodes`). */
  readonly kubeConfig: KubeConfig;
  readonly nodeName: string;
  /** Pod directories (volumes, logs) and the records of running processes. */
  readonly stateDirectory: string;
  /** Node capacity, as Kubernetes quantities. */
  readonly cpu: string;
  readonly memory: string;
  readonly pods: number;
  /** Loopback range the pods' addresses come from. */
  readonly podCidr: string;
  readonly backoff: BackoffPolicy;
  readonly heartbeatMs: number;
  readonly configRetryMs: number;
  /** On agent shutdown, the longest a pod's grace period may delay SIGKILL. */
  readonly shutdownGraceMs: number;
  /** Variables of the agent's own environment that pods get too (besides PATH and LANG). */
  readonly passEnv: readonly string[];
  /** Taints the Node is created with (NodeRestriction lets a node set them only then, as the kubelet's --register-with-taints). */
  readonly taints: readonly { key: string; value?: string; effect: string }[];
  readonly logger: AgentLogger;
}

export const HOST_IP = '127.0.0.1';
const LEASE_NAMESPACE = 'kube-node-lease';
const LEASE_SECONDS = 40;
const WATCH_SECONDS = 300;
const RELIST_DELAY_MS = 1000;

/** Kubernetes' MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(at = new Date()): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function readTrimmed(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function osImage(): string {
  return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readTrimmed('/etc/os-release'))?.[1] ?? 'Linux';
}

const ARCHITECTURES: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

/**
 * The kubelet stand-in: registers a Node, keeps it Ready with heartbeats and a Lease, watches the pods
 * bound to it and runs each one through a {@link PodWorker}.
 */
export class NodeAgent {
  readonly client: KubeClient;
  private readonly workers = new Map<string, PodWorker>();
  private readonly ips: IpPool;
  private records?: ProcessRecords;
  private context?: PodWorkerContext;
  private stopping = false;
  private heartbeatTimer?: NodeJS.Timeout;
  private watchAbort?: AbortController;
  private watchLoop?: Promise<void>;
  private readyTransition = new Date().toISOString();
  private nodeUid?: string;

  constructor(private readonly options: NodeAgentOptions) {
    this.client = new KubeClient(options.kubeConfig);
    this.ips = new IpPool(options.podCidr, [HOST_IP]);
  }

  get nodeName(): string {
    return this.options.nodeName;
  }

  /** The workers of the pods the agent runs now, by pod uid. */
  get runningPods(): ReadonlyMap<string, PodWorker> {
    return this.workers;
  }

  /** Registers the node and resolves once the pods bound to it have been listed and taken on. */
  async start(): Promise<void> {
    const { logger, stateDirectory } = this.options;
    checkMountNamespaces();
    this.records = new ProcessRecords(stateDirectory);
    const leftovers = this.records.killLeftovers(logger);
    if (leftovers > 0) logger.warn(`stopped ${leftovers} container process(es) an earlier agent left running`);
    const { host, port } = this.client.serverAddress();
    const passed = Object.fromEntries(
      this.options.passEnv.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]])),
    );
    this.context = {
      logger,
      api: this.client,
      hostIP: HOST_IP,
      allocatable: { cpu: this.options.cpu, memory: this.options.memory },
      backoff: this.options.backoff,
      baseEnv: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        LANG: process.env.LANG ?? 'C.UTF-8',
        ...passed,
        KUBERNETES_SERVICE_HOST: host,
        KUBERNETES_SERVICE_PORT: port,
        KUBERNETES_SERVICE_PORT_HTTPS: port,
        KUBERNETES_PORT: `tcp://${host}:${port}`,
      },
      configRetryMs: this.options.configRetryMs,
      records: this.records,
      podsDirectory: path.join(stateDirectory, 'pods'),
      finished: (worker) => {
        this.ips.release(worker.podIP);
        if (this.workers.get(worker.uid) === worker) this.workers.delete(worker.uid);
      },
    };
    await this.registerNode();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    let firstList: () => void = () => {};
    const listed = new Promise<void>((resolve) => (firstList = resolve));
    this.watchLoop = this.watchPods(firstList);
    await listed;
  }

  /** Stops every pod's processes (SIGTERM, SIGKILL after their grace), marks the node NotReady. Pod objects stay. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    this.watchAbort?.abort();
    await Promise.all([...this.workers.values()].map((worker) => worker.shutdown(this.options.shutdownGraceMs)));
    await this.watchLoop;
    try {
      await this.client.patchNodeStatus(this.nodeName, { conditions: this.conditions(false) });
      this.options.logger.info(`node ${this.nodeName} marked NotReady`);
    } catch (error) {
      this.options.logger.warn(`could not mark node ${this.nodeName} NotReady: ${apiMessage(error)}`);
    }
  }

  private conditions(ready: boolean): Record<string, unknown>[] {
    const now = new Date().toISOString();
    const since = this.readyTransition;
    const healthy = (type: string, reason: string, message: string) => ({
      type,
      status: 'False',
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: since,
    });
    return [
      healthy('MemoryPressure', 'KubeletHasSufficientMemory', 'the ardea node agent does not track memory pressure'),
      healthy('DiskPressure', 'KubeletHasNoDiskPressure', 'the ardea node agent does not track disk pressure'),
      healthy('PIDPressure', 'KubeletHasSufficientPID', 'the ardea node agent does not track pid pressure'),
      ready
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'ardea node agent is posting ready status',
            lastHeartbeatTime: now,
            lastTransitionTime: since,
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: 'KubeletNotReady',
            message: 'node agent stopped',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
    ];
  }

  private async registerNode(): Promise<void> {
    const { nodeName, logger } = this.options;
    const architecture = ARCHITECTURES[process.arch] ?? process.arch;
    try {
      const created = await this.client.core.createNode({
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: nodeName,
            labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': architecture },
          },
          spec: { taints: [...this.options.taints] },
        },
      });
      this.nodeUid = created.metadata?.uid;
      logger.info(`registered node ${nodeName}`);
    } catch (error) {
      if (apiStatusCode(error) !== 409) {
        throw new NodeAgentError(
          `registering node ${nodeName} failed: ${apiMessage(error)}; check the agent's credentials (a node's: system:node:${nodeName})`,
          {
            cause: error,
          },
        );
      }
      this.nodeUid = (await this.client.core.readNode({ name: nodeName })).metadata?.uid;
      logger.info(`node ${nodeName} exists already; updating its status`);
    }
    const { host, port } = this.client.serverAddress();
    let kubeletVersion = 'unknown';
    try {
      kubeletVersion = (await this.client.version.getCode()).gitVersion;
    } catch (error) {
      logger.warn(`could not read the API server's version (${apiMessage(error)}); reporting kubelet version 'unknown'`);
    }
    const resources = { cpu: this.options.cpu, memory: this.options.memory, pods: String(this.options.pods) };
    try {
      await this.client.patchNodeStatus(nodeName, {
        capacity: resources,
        allocatable: resources,
        conditions: this.conditions(true),
        addresses: [
          { type: 'InternalIP', address: HOST_IP },
          { type: 'Hostname', address: nodeName },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
        nodeInfo: {
          machineID: readTrimmed('/etc/machine-id'),
          systemUUID: readTrimmed('/etc/machine-id'),
          bootID: readTrimmed('/proc/sys/kernel/random/boot_id'),
          kernelVersion: os.release(),
          osImage: osImage(),
          containerRuntimeVersion: 'ardea://0.1.0',
          kubeletVersion,
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture,
        },
      });
    } catch (error) {
      throw new NodeAgentError(`reporting the status of node ${nodeName} failed: ${apiMessage(error)}`, { cause: error });
    }
    logger.info(
      `node ${nodeName} is Ready (cpu ${resources.cpu}, memory ${resources.memory}, pods ${resources.pods}; API server ${host}:${port})`,
    );
    await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    if (this.stopping) return;
    const { nodeName, logger } = this.options;
    try {
      await this.client.patchNodeStatus(nodeName, { conditions: this.conditions(true) });
    } catch (error) {
      if (apiStatusCode(error) !== 404) logger.warn(`node heartbeat failed: ${apiMessage(error)}`);
      else {
        // Someone deleted the Node while the agent runs: register it again, as it has pods to run.
        logger.warn(`node ${nodeName} was deleted; registering it again`);
        await this.registerNode().catch((again: unknown) => logger.warn(`registering node ${nodeName} again failed: ${apiMessage(again)}`));
        return;
      }
    }
    try {
      await this.renewLease();
    } catch (error) {
      logger.warn(`renewing lease ${LEASE_NAMESPACE}/${nodeName} failed: ${apiMessage(error)}`);
    }
  }

  private async renewLease(): Promise<void> {
    const { nodeName } = this.options;
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime() };
    try {
      await this.client.patchLease(LEASE_NAMESPACE, nodeName, spec);
    } catch (error) {
      if (apiStatusCode(error) !== 404) throw error;
      await this.client.coordination.createNamespacedLease({
        namespace: LEASE_NAMESPACE,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: nodeName,
            namespace: LEASE_NAMESPACE,
            // The garbage collector removes the lease with the node.
            ...(this.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.nodeUid }] } : {}),
          },
          spec: spec as never,
        },
      });
    }
  }

  /** List, then watch from the list's version; any end of the watch (410 Gone included) lists again and reconciles. */
  private async watchPods(firstList: () => void): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.nodeName}`;
    const { logger } = this.options;
    while (!this.stopping) {
      try {
        const list = await this.client.core.listPodForAllNamespaces({ fieldSelector });
        if (this.stopping) break;
        this.reconcile(list.items);
        firstList();
        let resourceVersion = list.metadata?.resourceVersion;
        await new Promise<void>((resolve) => {
          const watch = new Watch(this.options.kubeConfig);
          void watch
            .watch(
              '/api/v1/pods',
              { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
              (type, object: V1Pod & { code?: number; message?: string }) => {
                if (type === 'ERROR') {
                  if (object.code !== 410) logger.warn(`pod watch error: ${object.message ?? JSON.stringify(object)}`);
                  this.watchAbort?.abort();
                  resolve();
                  return;
                }
                resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
                if (type === 'ADDED' || type === 'MODIFIED') this.handlePod(object);
                else if (type === 'DELETED') void this.workers.get(object.metadata?.uid ?? '')?.gone();
              },
              (error: unknown) => {
                if (error && !this.stopping) logger.warn(`pod watch ended: ${apiMessage(error)}`);
                resolve();
              },
            )
            .then((abort) => {
              this.watchAbort = abort;
              if (this.stopping) abort.abort();
            });
        });
      } catch (error) {
        logger.warn(`listing the pods of node ${this.nodeName} failed: ${apiMessage(error)}; retrying`);
      }
      if (!this.stopping) await new Promise((resolve) => setTimeout(resolve, RELIST_DELAY_MS));
    }
  }

  /** Takes on a full list: pods new to the agent start, changed ones update, and ones no longer listed stop. */
  private reconcile(pods: V1Pod[]): void {
    const listed = new Set(pods.map((pod) => pod.metadata?.uid));
    for (const [uid, worker] of this.workers) if (!listed.has(uid)) void worker.gone();
    for (const pod of pods) this.handlePod(pod);
  }

  private handlePod(pod: V1Pod): void {
    if (this.stopping || !this.context) return;
    const uid = pod.metadata?.uid ?? '';
    const worker = this.workers.get(uid);
    if (worker) {
      worker.update(pod);
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      // Nothing of it runs here (it ended before, or under an earlier agent): only the object is left.
      this.client.deletePod(pod).catch((error: unknown) => {
        if (![404, 409].includes(apiStatusCode(error) ?? 0)) this.options.logger.warn(`deleting pod ${uid} failed: ${apiMessage(error)}`);
      });
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    let ip: string;
    try {
      ip = this.ips.allocate(pod.status?.podIP);
    } catch (error) {
      this.options.logger.error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${apiMessage(error)}`);
      return;
    }
    const created = new PodWorker(pod, ip, this.context);
    this.workers.set(uid, created);
    created.start();
  }
}
