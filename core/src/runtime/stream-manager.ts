import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logging/index.js';
import { instanceName, type ContainerPlan } from '../model/packing-plan.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { BackpressureMessage, InstanceMetricsSample, MetricsReport, PhysicalPlanMessage } from './control-messages.js';
import type { FromInstance, InstanceCounters, InstanceInit, ToInstance } from './instance/messages.js';
import { acceptAuthenticated, connectAuthenticated, Link, listen } from './link.js';
import { tasksByComponent } from './routing.js';
import { destTaskOf } from './wire/frames.js';

export interface BackpressureSettings {
  /** Bytes queued towards one instance (or one peer) that start backpressure. */
  readonly highWatermarkBytes: number;
  /** ...and the level below which it stops again. */
  readonly lowWatermarkBytes: number;
}

export interface StreamManagerOptions {
  readonly definition: TopologyDefinition;
  readonly container: ContainerPlan;
  readonly secret: string;
  readonly bundleUrl: string;
  /** Address this container listens on and advertises to its peers. */
  readonly host: string;
  readonly backpressure: BackpressureSettings;
  readonly metricsIntervalMs: number;
  readonly logger: Logger;
  /** Resolves the topology master's current address (it moves when container 0 restarts). */
  readonly locateTopologyMaster: () => Promise<{ host: string; port: number }>;
  readonly logLevel: InstanceInit['logLevel'];
}

interface LocalInstance {
  readonly taskId: number;
  readonly component: string;
  readonly componentIndex: number;
  readonly isSpout: boolean;
  readonly worker: Worker;
  pendingBytes: number;
  maxPendingBytes: number;
  counters: InstanceCounters;
  overSince: number | undefined;
  backpressureMs: number;
}

const EMPTY_COUNTERS: InstanceCounters = { emitted: 0, executed: 0, acked: 0, failed: 0, errors: 0, busyNs: 0, executeNs: 0 };

/**
 * Runs in the main thread of containers 1..N. It hosts the container's instances as worker threads,
 * registers with the topology master, keeps a connection to every other stream manager, forwards
 * data frames by destination task, and applies backpressure: when an instance's queue (or a peer
 * connection) passes the high watermark it tells every peer, and every stream manager stops its
 * local spouts until no one reports backpressure any more.
 */
export class StreamManager {
  private readonly instances = new Map<number, LocalInstance>();
  private readonly server = net.createServer();
  private readonly inbound = new Set<Link>();
  private dataPort = 0;
  private tmLink: Link | undefined;
  private plan: PhysicalPlan | undefined;
  private readonly containerOfTask = new Map<number, number>();
  private readonly peers = new Map<number, { link: Link | undefined; address: string; queued: Uint8Array[]; over: boolean }>();
  private readonly localCauses = new Set<string>();
  private readonly peersAnnouncing = new Set<number>();
  private spoutsPaused = false;
  private pausedSince: number | undefined;
  private initiatedSince: number | undefined;
  private spoutsPausedMs = 0;
  private initiatedMs = 0;
  private metricsTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly logger: Logger;

  constructor(private readonly options: StreamManagerOptions) {
    this.logger = options.logger.child({ role: 'stmgr', container: options.container.id });
  }

  get port(): number {
    return this.dataPort;
  }

  async start(): Promise<void> {
    acceptAuthenticated(this.server, { secret: this.options.secret, topologyId: this.options.definition.id, logger: this.logger }, (link, answer) => {
      this.inbound.add(link);
      link.on('data', (frame) => this.deliverLocal(frame));
      link.on('control', (message) => this.onPeerControl(message as BackpressureMessage));
      link.on('close', () => {
        this.inbound.delete(link);
        if (this.peersAnnouncing.delete(answer.containerId)) this.updateSpouts();
      });
    });
    this.dataPort = await listen(this.server, this.options.host);
    await Promise.all(this.options.container.instances.map((instance) => this.startInstance(instance)));
    await this.connectToMaster();
    this.metricsTimer = setInterval(() => this.reportMetrics(), this.options.metricsIntervalMs);
    this.metricsTimer.unref();
  }

  private startInstance(instance: ContainerPlan['instances'][number]): Promise<void> {
    const component = this.options.definition.components.find((c) => c.name === instance.component)!;
    const init: InstanceInit = {
      bundleUrl: this.options.bundleUrl,
      definition: this.options.definition,
      component: instance.component,
      taskId: instance.taskId,
      componentIndex: instance.componentIndex,
      tasks: [],
      runtimeConfig: {},
      metricsIntervalMs: this.options.metricsIntervalMs,
      logLevel: this.options.logLevel,
    };
    const heapMb = Math.max(64, Math.floor(instance.resources.ramBytes / (1024 * 1024)));
    const worker = new Worker(new URL('./instance/instance-worker.js', import.meta.url), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    const local: LocalInstance = {
      taskId: instance.taskId,
      component: instance.component,
      componentIndex: instance.componentIndex,
      isSpout: component.kind === 'spout',
      worker,
      pendingBytes: 0,
      maxPendingBytes: 0,
      counters: EMPTY_COUNTERS,
      overSince: undefined,
      backpressureMs: 0,
    };
    this.instances.set(instance.taskId, local);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromInstance) => {
        switch (message.type) {
          case 'ready':
            resolve();
            break;
          case 'data':
            for (const frame of message.frames) this.route(new Uint8Array(frame), frame);
            break;
          case 'consumed':
            this.onConsumed(local, message.bytes);
            break;
          case 'metrics':
            local.counters = message.counters;
            break;
          case 'error':
            this.logger.warn(`instance ${instanceName(this.options.container.id, instance)} reported an error`, { error: message.message });
            break;
          case 'failed':
            reject(new Error(`instance ${instanceName(this.options.container.id, instance)} failed to start: ${message.message}`));
            break;
          case 'closed':
            break;
        }
      });
      worker.on('error', (error) => reject(error));
      worker.on('exit', (code) => {
        if (!this.stopping) {
          this.logger.error(`instance ${instanceName(this.options.container.id, instance)} exited with code ${code}; restarting the container`);
          process.exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        }
      });
    });
  }

  private post(instance: LocalInstance, message: ToInstance, transfer?: ArrayBuffer[]): void {
    instance.worker.postMessage(message, transfer ?? []);
  }

  /** A frame from a local instance: to a local worker, or to the peer hosting the destination task. */
  private route(view: Uint8Array, buffer: ArrayBuffer): void {
    const destTask = destTaskOf(view);
    const local = this.instances.get(destTask);
    if (local) {
      this.deliverToWorker(local, buffer);
      return;
    }
    const containerId = this.containerOfTask.get(destTask);
    const peer = containerId === undefined ? undefined : this.peers.get(containerId);
    if (!peer) {
      this.logger.error('dropping a frame for a task no container hosts', { destTask });
      return;
    }
    if (peer.link && !peer.link.isClosed) {
      peer.link.sendFrame(view);
      if (!peer.over && peer.link.backlogBytes > this.options.backpressure.highWatermarkBytes) {
        peer.over = true;
        this.addCause(`peer-${containerId}`);
        peer.link.socket.once('drain', () => this.onPeerDrained(containerId!));
      }
    } else {
      peer.queued.push(view);
    }
  }

  private onPeerDrained(containerId: number): void {
    const peer = this.peers.get(containerId);
    if (!peer) return;
    if (peer.link && peer.link.backlogBytes > this.options.backpressure.lowWatermarkBytes) {
      peer.link.socket.once('drain', () => this.onPeerDrained(containerId));
      return;
    }
    peer.over = false;
    this.removeCause(`peer-${containerId}`);
  }

  /** A frame from a peer stream manager: always for one of our instances. */
  private deliverLocal(frame: Buffer): void {
    const local = this.instances.get(destTaskOf(frame));
    if (!local) {
      this.logger.error('dropping a frame for a task this container does not host', { destTask: destTaskOf(frame) });
      return;
    }
    const copy = new ArrayBuffer(frame.length);
    new Uint8Array(copy).set(frame);
    this.deliverToWorker(local, copy);
  }

  private deliverToWorker(instance: LocalInstance, frame: ArrayBuffer): void {
    instance.pendingBytes += frame.byteLength;
    if (instance.pendingBytes > instance.maxPendingBytes) instance.maxPendingBytes = instance.pendingBytes;
    this.post(instance, { type: 'data', frame }, [frame]);
    if (instance.overSince === undefined && instance.pendingBytes > this.options.backpressure.highWatermarkBytes) {
      instance.overSince = Date.now();
      this.addCause(`task-${instance.taskId}`);
    }
  }

  private onConsumed(instance: LocalInstance, bytes: number): void {
    instance.pendingBytes -= bytes;
    if (instance.overSince !== undefined && instance.pendingBytes <= this.options.backpressure.lowWatermarkBytes) {
      instance.backpressureMs += Date.now() - instance.overSince;
      instance.overSince = undefined;
      this.removeCause(`task-${instance.taskId}`);
    }
  }

  private addCause(cause: string): void {
    const before = this.localCauses.size;
    this.localCauses.add(cause);
    if (before === 0) {
      this.initiatedSince = Date.now();
      this.logger.debug('backpressure started', { cause });
      this.broadcastPeers({ type: 'bp-start', containerId: this.options.container.id });
      this.updateSpouts();
    }
  }

  private removeCause(cause: string): void {
    if (!this.localCauses.delete(cause) || this.localCauses.size > 0) return;
    if (this.initiatedSince !== undefined) this.initiatedMs += Date.now() - this.initiatedSince;
    this.initiatedSince = undefined;
    this.logger.debug('backpressure stopped', { cause });
    this.broadcastPeers({ type: 'bp-stop', containerId: this.options.container.id });
    this.updateSpouts();
  }

  private onPeerControl(message: BackpressureMessage): void {
    if (message.type === 'bp-start') this.peersAnnouncing.add(message.containerId);
    else if (message.type === 'bp-stop') this.peersAnnouncing.delete(message.containerId);
    else return;
    this.updateSpouts();
  }

  private broadcastPeers(message: BackpressureMessage): void {
    for (const peer of this.peers.values()) peer.link?.sendControl(message);
  }

  private updateSpouts(): void {
    const pause = this.localCauses.size > 0 || this.peersAnnouncing.size > 0;
    if (pause === this.spoutsPaused) return;
    this.spoutsPaused = pause;
    if (pause) this.pausedSince = Date.now();
    else if (this.pausedSince !== undefined) {
      this.spoutsPausedMs += Date.now() - this.pausedSince;
      this.pausedSince = undefined;
    }
    for (const instance of this.instances.values()) {
      if (instance.isSpout) this.post(instance, { type: pause ? 'pause' : 'resume' });
    }
  }

  private async connectToMaster(): Promise<void> {
    const { container } = this.options;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const address = await this.options.locateTopologyMaster();
        const link = await connectAuthenticated({
          ...address,
          secret: this.options.secret,
          identity: { role: 'stmgr', containerId: container.id, topologyId: this.options.definition.id },
          logger: this.logger,
        });
        this.tmLink = link;
        link.on('control', (message) => {
          if ((message as PhysicalPlanMessage).type === 'pplan') this.applyPlan((message as PhysicalPlanMessage).plan);
        });
        link.on('close', () => {
          if (this.stopping) return;
          this.logger.warn('lost the topology master; reconnecting');
          this.tmLink = undefined;
          void this.connectToMaster();
        });
        link.sendControl({
          type: 'register',
          containerId: container.id,
          host: this.options.host,
          dataPort: this.dataPort,
          taskIds: container.instances.map((i) => i.taskId),
        });
        return;
      } catch (error) {
        const delay = Math.min(2000, 50 * 2 ** attempt);
        this.logger.debug('topology master not reachable yet', { error, retryInMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private applyPlan(plan: PhysicalPlan): void {
    const previous = this.plan;
    this.plan = plan;
    this.containerOfTask.clear();
    for (const instance of plan.instances) this.containerOfTask.set(instance.taskId, instance.containerId);
    for (const stmgr of plan.streamManagers) {
      if (stmgr.containerId === this.options.container.id) continue;
      const address = `${stmgr.host}:${stmgr.dataPort}`;
      const existing = this.peers.get(stmgr.containerId);
      if (existing && existing.address === address) continue;
      existing?.link?.close();
      const peer = { link: undefined as Link | undefined, address, queued: existing?.queued ?? [], over: false };
      this.peers.set(stmgr.containerId, peer);
      void this.connectPeer(stmgr.containerId, stmgr.host, stmgr.dataPort, peer);
    }
    for (const [containerId, peer] of this.peers) {
      if (!plan.streamManagers.some((s) => s.containerId === containerId)) {
        peer.link?.close();
        this.peers.delete(containerId);
        this.peersAnnouncing.delete(containerId);
      }
    }
    const tasks = [...tasksByComponent(plan.instances)];
    for (const instance of this.instances.values()) {
      this.post(instance, { type: 'tasks', tasks });
      const config = plan.runtimeConfig[instance.component];
      if (config && JSON.stringify(config) !== JSON.stringify(previous?.runtimeConfig[instance.component])) {
        this.post(instance, { type: 'config', runtimeConfig: config });
      }
      if (instance.isSpout && plan.state !== previous?.state) this.post(instance, { type: plan.state === 'RUNNING' ? 'activate' : 'deactivate' });
    }
    this.updateSpouts();
  }

  private async connectPeer(containerId: number, host: string, port: number, peer: { link: Link | undefined; address: string; queued: Uint8Array[] }): Promise<void> {
    for (let attempt = 0; !this.stopping && this.peers.get(containerId) === peer; attempt++) {
      try {
        const link = await connectAuthenticated({
          host,
          port,
          secret: this.options.secret,
          identity: { role: 'peer', containerId: this.options.container.id, topologyId: this.options.definition.id },
          logger: this.logger,
        });
        if (this.peers.get(containerId) !== peer) {
          link.close();
          return;
        }
        peer.link = link;
        if (this.localCauses.size > 0) link.sendControl({ type: 'bp-start', containerId: this.options.container.id });
        for (const frame of peer.queued) link.sendFrame(frame);
        peer.queued = [];
        link.on('close', () => {
          if (this.peers.get(containerId) === peer && !this.stopping) {
            peer.link = undefined;
            void this.connectPeer(containerId, host, port, peer);
          }
        });
        return;
      } catch (error) {
        const delay = Math.min(1000, 20 * 2 ** attempt);
        this.logger.debug('peer not reachable yet', { peer: containerId, error, retryInMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private reportMetrics(): void {
    if (!this.tmLink) return;
    const now = Date.now();
    const instances: Record<string, InstanceMetricsSample> = {};
    for (const instance of this.instances.values()) {
      instances[instanceName(this.options.container.id, instance)] = {
        ...instance.counters,
        component: instance.component,
        taskId: instance.taskId,
        pendingBytes: instance.pendingBytes,
        maxPendingBytes: instance.maxPendingBytes,
        backpressureMs: instance.backpressureMs + (instance.overSince === undefined ? 0 : now - instance.overSince),
      };
    }
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const report: MetricsReport = {
      type: 'metrics',
      containerId: this.options.container.id,
      timestamp: now,
      instances,
      streamManager: {
        backpressureInitiatedMs: this.initiatedMs + (this.initiatedSince === undefined ? 0 : now - this.initiatedSince),
        spoutsPausedMs: this.spoutsPausedMs + (this.pausedSince === undefined ? 0 : now - this.pausedSince),
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
      },
    };
    this.tmLink.sendControl(report);
  }

  /** Stops spouts, lets instances close, and closes every connection. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.metricsTimer);
    await Promise.all(
      [...this.instances.values()].map(
        (instance) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void instance.worker.terminate().then(() => resolve()), 2000);
            instance.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            this.post(instance, { type: 'shutdown' });
          }),
      ),
    );
    this.tmLink?.close();
    for (const peer of this.peers.values()) peer.link?.close();
    for (const link of this.inbound) link.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
