import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { instanceName, type ContainerPlan, type PackingPlan } from '../model/packing-plan.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import {
  instanceStartError,
  type AvoidTasksMessage,
  type BackpressureMessage,
  type ConfigAppliedMessage,
  type ConfigFailure,
  type FenceMessage,
  type InstanceFailedMessage,
  type InstanceMetricsSample,
  type MetricsReport,
  type PhysicalPlanMessage,
  type PlanAppliedMessage,
} from './control-messages.js';
import { BUSY_SINCE, EMITTED, EXECUTED, idleCounters, MEMORY_BYTES, newCounterBuffer, readBacklog, readCounters, readStreamEmits, type FromInstance, type InstanceCounters, type InstanceInit, type ToInstance } from './instance/messages.js';
import { acceptAuthenticated, connectAuthenticated, Link, listen } from './link.js';
import { tasksByComponent } from './routing.js';
import { memoryCulprit, ramTrigger } from './memory-guard.js';
import { hungInstanceMsOf } from './runtime-settings.js';
import { DataFrameHeader, destTaskOf, encodeControlFrame, FrameKind, tupleCountOf } from './wire/frames.js';

export interface BackpressureSettings {
  /** Bytes queued towards one instance (or one peer) that start backpressure. */
  readonly highWatermarkBytes: number;
  /** ...and the level below which it stops again. */
  readonly lowWatermarkBytes: number;
  /**
   * An instance whose oldest queued frame has waited longer than this (and longer than four of its
   * typical batch times) starts backpressure too, whatever the byte count: a byte watermark alone
   * reacts in watermark ÷ rate, which is seconds at low rates. 0 turns the time trigger off.
   */
  readonly stallMs?: number;
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
  /** The topology's `hungInstanceMs` (components may override it in their config); 0: no check. */
  readonly hungInstanceMs?: number;
  /** Keep the container's RSS within its RAM in the packing plan (see memory-guard.ts). */
  readonly enforceContainerRam?: boolean;
  readonly logger: Logger;
  /** Resolves the topology master's current address (it moves when container 0 restarts). */
  readonly locateTopologyMaster: () => Promise<{ host: string; port: number }>;
  /** Reads the current packing plan, for the resources of instances a plan change adds here. */
  readonly readPackingPlan: () => Promise<PackingPlan | undefined>;
  readonly logLevel: InstanceInit['logLevel'];
  /**
   * Runtime config in force when this container starts (from the stored physical plan): instances
   * start with it rather than with the submit-time values, before the topology master sends the plan.
   */
  readonly initialRuntimeConfig?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Instances that were sent a plan version's runtime config and have not yet answered. */
interface ConfigRound {
  readonly waiting: Set<number>;
  readonly failures: ConfigFailure[];
}

interface LocalInstance {
  /** Its resources are placeholders until read from the packing plan for an instance an update added. */
  plan: ContainerPlan['instances'][number];
  readonly taskId: number;
  readonly component: string;
  readonly componentIndex: number;
  readonly isSpout: boolean;
  /** The component's output streams, in the order of its per-stream emit counters. */
  readonly streams: readonly string[];
  /** Undefined while the worker (re)starts. */
  worker: Worker | undefined;
  /** The worker has built its component and takes messages. */
  ready: boolean;
  /** Dropped by a plan change: once it stops it is not restarted. */
  removed: boolean;
  /** Some physical plan has contained this instance. */
  inPlan: boolean;
  /** Settles when its first worker is ready or failed to start. */
  starting: Promise<void> | undefined;
  /** Frames that arrived while the worker was restarting. */
  backlog: ArrayBuffer[];
  restarts: number;
  pendingBytes: number;
  maxPendingBytes: number;
  /** The current worker's counters, shared with it. */
  counters: Float64Array;
  /** Totals of earlier workers of this instance, so counters stay cumulative across restarts. */
  countersBase: InstanceCounters;
  /** Per-stream emits of earlier workers of this instance. */
  streamEmitsBase: number[];
  overSince: number | undefined;
  backpressureMs: number;
  /** When each frame not yet executed was delivered (performance.now()), oldest first. */
  deliveries: number[];
  lastConsumedAt: number;
  /** Moving average of how long the instance takes per frame, in ms. */
  serviceMs: number;
  /** Backpressure was started by the time trigger rather than the byte watermark. */
  stalled: boolean;
  /** No progress for this long (ms) makes the worker hung; 0: never. */
  readonly hungMs: number;
  /** Executed + emitted at the last hung check, and when (performance.now()) it last changed. */
  progressMark: number;
  progressAt: number;
  /** Of `restarts`: workers terminated because they hung. */
  hungRestarts: number;
  /** Of `restarts`: workers terminated because the container exceeded its RAM. */
  memoryRestarts: number;
}

/** A plan change this stream manager is carrying out (see advanceTransition). */
interface Transition {
  readonly version: number;
  readonly fencePeers: ReadonlySet<number>;
  /** Local instances that have not yet confirmed routing by the new plan. */
  readonly waiting: Set<number>;
  readonly removed: ReadonlySet<number>;
  fenced: boolean;
  readonly startedAt: number;
}

/** How long a container whose instance failed to start tries to tell the topology master before it exits. */
const FAILURE_REPORT_TIMEOUT_MS = 5000;
/** A plan change whose fences do not all arrive within this time goes ahead without them. */
const TRANSITION_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

interface Peer {
  link: Link | undefined;
  readonly address: string;
  /** Frames for the peer while its connection is being (re)established. */
  queued: Uint8Array[];
  /** Its connection's backlog passed the high watermark and has not yet fallen below the low one. */
  over: boolean;
}

const PEER_BACKLOG_POLL_MS = 2;
const STALL_CHECK_MS = 5;
/** How long a stopping stream manager waits for its peers to take what it sent them. */
const PEER_DRAIN_TIMEOUT_MS = 3000;
/**
 * How often the counters go to the metrics cache between samples: what a process counted before it
 * died is missing from the metrics for at most this long.
 */
const COUNTERS_HEARTBEAT_MS = 250;
const UNPLACED_CAUSE = 'unplaced';

/** Until the packing plan is read: the resources an instance without any gets. */
const DEFAULT_RESOURCES = { cpu: 1, ramBytes: 1024 * 1024 * 1024, diskBytes: 0 };
/** How often workers are checked for progress (a small part of any sensible hungInstanceMs) and memory. */
const SUPERVISE_MS = 250;
/** After a restart for memory, time for the worker's memory to be released before the next verdict. */
const MEMORY_SETTLE_MS = 2000;
/** A worker inside one call for longer than this has not sampled its memory lately (it does every 200 ms). */
const STALE_MEMORY_SAMPLE_MS = 1000;

const EMPTY_COUNTERS: InstanceCounters = { emitted: 0, executed: 0, acked: 0, failed: 0, errors: 0, busyNs: 0, executeNs: 0 };

function backlogOf(counters: Float64Array): { backlog?: number } {
  const backlog = readBacklog(counters);
  return backlog === undefined ? {} : { backlog };
}

/** Emits per output stream since the instance started, across worker restarts. */
function streamEmitsOf(instance: LocalInstance): number[] {
  const current = readStreamEmits(instance.counters);
  return instance.streamEmitsBase.map((base, i) => base + (current[i] ?? 0));
}

function addCounters(a: InstanceCounters, b: InstanceCounters): InstanceCounters {
  return {
    emitted: a.emitted + b.emitted,
    executed: a.executed + b.executed,
    acked: a.acked + b.acked,
    failed: a.failed + b.failed,
    errors: a.errors + b.errors,
    busyNs: a.busyNs + b.busyNs,
    executeNs: a.executeNs + b.executeNs,
  };
}

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
  private readonly peers = new Map<number, Peer>();
  private readonly localCauses = new Set<string>();
  private readonly peersAnnouncing = new Set<number>();
  /** The newest plan version each peer has fenced. */
  private readonly fenceVersions = new Map<number, number>();
  private transition: Transition | undefined;
  private spoutsPaused = false;
  private heldFromSpouts: ArrayBuffer[] = [];
  private pausedSince: number | undefined;
  private initiatedSince: number | undefined;
  private spoutsPausedMs = 0;
  private initiatedMs = 0;
  private metricsTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** This process's run of the container, in its metrics (see MetricsReport.incarnation). */
  private readonly incarnation = randomUUID();
  /**
   * Frames from peers for tasks no plan this stream manager has seen names: the peer routes by a
   * newer plan, which names a task this container is about to host. They wait for that plan.
   */
  private unplaced: Uint8Array[] = [];
  private unplacedBytes = 0;
  private droppedFrames = 0;
  private droppedTuples = 0;
  private stopping = false;
  /** Instances that failed to start and are not yet reported to the topology master. */
  private readonly startFailures: InstanceFailedMessage[] = [];
  private readonly logger: Logger;
  private readonly configRounds = new Map<number, ConfigRound>();
  private superviseTimer: NodeJS.Timeout | undefined;
  /** The container's RAM in the current packing plan. */
  private ramLimitBytes: number;
  private memoryVerdictAfter = 0;
  /** Local tasks whose worker hung and is being restarted, and each peer's. */
  private readonly avoidedHere = new Set<number>();
  private readonly avoidedByPeer = new Map<number, readonly number[]>();
  /** The union last sent to the local instances. */
  private avoided: readonly number[] = [];

  constructor(private readonly options: StreamManagerOptions) {
    this.logger = options.logger.child({ role: 'stmgr', container: options.container.id });
    this.ramLimitBytes = (options.container.scheduled ?? options.container.required).ramBytes;
  }

  get port(): number {
    return this.dataPort;
  }

  async start(): Promise<void> {
    acceptAuthenticated(this.server, { secret: this.options.secret, topologyId: this.options.definition.id, logger: this.logger }, (link, answer) => {
      this.inbound.add(link);
      link.on('data', (frame) => this.deliverLocal(frame));
      link.on('control', (message) => {
        if (message.type === 'fence') this.onFence(message as unknown as FenceMessage);
        else if (message.type === 'avoid-tasks') this.onPeerAvoid(message as unknown as AvoidTasksMessage);
        else this.onPeerControl(message as BackpressureMessage);
      });
      link.on('close', () => {
        this.inbound.delete(link);
        if (this.peersAnnouncing.delete(answer.containerId)) this.updateSpouts();
        if (this.avoidedByPeer.delete(answer.containerId)) this.updateAvoided();
        // A container that left the plan and stopped can send nothing more: as good as fenced.
        if (this.plan && !this.plan.streamManagers.some((s) => s.containerId === answer.containerId)) {
          this.fenceVersions.set(answer.containerId, Number.MAX_SAFE_INTEGER);
          this.advanceTransition();
        }
      });
    });
    this.dataPort = await listen(this.server, this.options.host);
    try {
      await Promise.all(this.options.container.instances.map((instance) => this.startInstance(instance)));
    } catch (error) {
      // The container exits with this error and its pool restarts it; the report is what lets
      // submit and update say at once which instance cannot start, and why.
      await this.reportStartFailures();
      throw error;
    }
    await this.connectToMaster();
    this.scheduleReport();
    this.heartbeatTimer = setInterval(() => this.sendCounters('counters'), COUNTERS_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    if (this.options.backpressure.stallMs) {
      this.stallTimer = setInterval(() => this.checkStalls(), STALL_CHECK_MS);
      this.stallTimer.unref();
    }
    this.superviseTimer = setInterval(() => {
      this.checkHung();
      this.checkMemory();
    }, SUPERVISE_MS);
    this.superviseTimer.unref();
  }

  private startInstance(instance: ContainerPlan['instances'][number]): Promise<void> {
    const local = this.register(instance);
    local.starting = this.spawn(local);
    return local.starting;
  }

  /** Makes an instance known: from now on frames for it wait in its backlog until its worker runs. */
  private register(instance: ContainerPlan['instances'][number]): LocalInstance {
    const component = this.options.definition.components.find((c) => c.name === instance.component)!;
    const local: LocalInstance = {
      plan: instance,
      taskId: instance.taskId,
      component: instance.component,
      componentIndex: instance.componentIndex,
      isSpout: component.kind === 'spout',
      streams: component.outputs.map((o) => o.id),
      worker: undefined,
      ready: false,
      removed: false,
      inPlan: false,
      starting: undefined,
      backlog: [],
      restarts: 0,
      pendingBytes: 0,
      maxPendingBytes: 0,
      counters: idleCounters(component.outputs.length),
      countersBase: EMPTY_COUNTERS,
      streamEmitsBase: component.outputs.map(() => 0),
      overSince: undefined,
      backpressureMs: 0,
      deliveries: [],
      lastConsumedAt: 0,
      serviceMs: 1,
      stalled: false,
      hungMs: hungInstanceMsOf(this.options.hungInstanceMs ?? 0, component),
      progressMark: 0,
      progressAt: 0,
      hungRestarts: 0,
      memoryRestarts: 0,
    };
    this.instances.set(instance.taskId, local);
    return local;
  }

  /**
   * Starts (or restarts) the worker of one instance. A worker that dies later is restarted alone,
   * after a backoff; frames for it wait in its backlog meanwhile, and backpressure bounds how many.
   */
  private spawn(local: LocalInstance): Promise<void> {
    const name = instanceName(this.options.container.id, local.plan);
    const shared = newCounterBuffer(local.streams.length);
    const init: InstanceInit = {
      counters: shared,
      bundleUrl: this.options.bundleUrl,
      definition: this.options.definition,
      component: local.component,
      taskId: local.taskId,
      componentIndex: local.componentIndex,
      ...(this.plan ? { tasks: [...tasksByComponent(this.plan.instances)] } : {}),
      runtimeConfig: (this.plan?.runtimeConfig ?? this.options.initialRuntimeConfig ?? {})[local.component] ?? {},
      logLevel: this.options.logLevel,
    };
    const heapMb = Math.max(64, Math.floor(local.plan.resources.ramBytes / (1024 * 1024)));
    const worker = new Worker(new URL('./instance/instance-worker.js', import.meta.url), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    let ready = false;
    return new Promise((resolve, reject) => {
      let failed = false;
      const failToStart = (message: string, stack?: string) => {
        if (ready || failed) return;
        failed = true;
        reject(this.startFailed(local, name, message, stack));
      };
      worker.on('message', (message: FromInstance) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            local.ready = true;
            local.worker = worker;
            local.counters = new Float64Array(shared);
            this.onWorkerReady(local);
            resolve();
            break;
          case 'data':
            // Like a Heron stream manager that stops reading its spouts' sockets: while spouts are
            // paused, what they emitted before seeing the pause waits here, not in a bolt's queue.
            if (local.isSpout && this.spoutsPaused) this.heldFromSpouts.push(...message.frames);
            else for (const frame of message.frames) this.route(new Uint8Array(frame), frame);
            break;
          case 'consumed':
            this.onConsumed(local, message.bytes);
            break;
          case 'error':
            this.logger.warn(`instance ${name} reported an error`, { error: message.message });
            break;
          case 'failed':
            if (!ready) failToStart(message.message, message.stack);
            else this.logger.error(`instance ${name} failed`, { error: message.message });
            break;
          case 'tasks-applied':
            this.onTasksApplied(local, message.version);
            break;
          case 'config-applied':
            if (message.error !== undefined) this.logger.warn(`instance ${name} rejected a runtime config change`, { error: message.error });
            this.onConfigApplied(local.taskId, message.version, message.error === undefined ? undefined : { instance: name, component: local.component, message: message.error });
            break;
          case 'closed':
            break;
        }
      });
      worker.on('error', (error) => {
        if (!ready) failToStart(describeError(error), error.stack);
        else this.logger.error(`instance ${name} crashed`, { error: describeError(error) });
      });
      worker.on('exit', (code) => {
        if (local.worker === worker) {
          local.worker = undefined;
          local.ready = false;
        }
        failToStart(`its worker exited with code ${code} before the component was ready`);
        // A dead worker answers no config change; the new one starts with the current config.
        for (const version of [...this.configRounds.keys()]) this.onConfigApplied(local.taskId, version, undefined);
        if (this.stopping || !ready || local.removed) return;
        // Counters restart from zero in the new worker; keep what the old one counted.
        local.countersBase = addCounters(local.countersBase, readCounters(local.counters));
        local.streamEmitsBase = streamEmitsOf(local);
        local.counters = idleCounters(local.streams.length);
        // Frames delivered to the dead worker are lost with it (at-most-once); they no longer count as
        // pending. Those that arrived after it was found hung wait in the backlog for the new one.
        this.onConsumed(local, local.pendingBytes - local.backlog.reduce((acc, frame) => acc + frame.byteLength, 0));
        local.deliveries = [];
        local.restarts++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(local.restarts - 1, 6));
        this.logger.error(`instance ${name} exited with code ${code}; restarting it in ${delay} ms`, { restarts: local.restarts });
        setTimeout(() => {
          if (this.stopping || local.removed) return;
          this.spawn(local).catch(async (error: unknown) => {
            this.logger.error(`instance ${name} could not be restarted; restarting the container`, { error: describeError(error) });
            await this.reportStartFailures();
            process.exitCode = 1;
            process.kill(process.pid, 'SIGTERM');
          });
        }, delay).unref();
      });
    });
  }

  /** Records why an instance failed to start, for {@link reportStartFailures}, and returns the error to reject with. */
  private startFailed(local: LocalInstance, name: string, message: string, stack?: string): Error {
    const failure: InstanceFailedMessage = {
      type: 'instance-failed',
      containerId: this.options.container.id,
      instance: name,
      component: local.component,
      message,
      ...(stack ? { stack } : {}),
    };
    this.startFailures.push(failure);
    return instanceStartError(failure);
  }

  /**
   * Tells the topology master which instances failed to start, over the registered link or, before
   * registration, over a connection of its own; gives up after a few seconds, since the container
   * exits either way.
   */
  private async reportStartFailures(): Promise<void> {
    const failures = this.startFailures.splice(0);
    if (failures.length === 0) return;
    for (const failure of failures) this.logger.error(`instance ${failure.instance} failed to start`, { error: failure.message, stack: failure.stack });
    if (this.tmLink && !this.tmLink.isClosed) {
      for (const failure of failures) this.tmLink.sendControl(failure);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${FAILURE_REPORT_TIMEOUT_MS} ms`)), FAILURE_REPORT_TIMEOUT_MS);
    });
    try {
      const link = await Promise.race([
        this.options.locateTopologyMaster().then((address) =>
          connectAuthenticated({
            ...address,
            secret: this.options.secret,
            identity: { role: 'stmgr', containerId: this.options.container.id, topologyId: this.options.definition.id },
            logger: this.logger,
          }),
        ),
        timeout,
      ]);
      for (const failure of failures) link.sendControl(failure);
      const closed = new Promise<void>((resolve) => link.once('close', resolve));
      link.close();
      await Promise.race([closed, timeout]);
    } catch (error) {
      this.logger.warn('could not tell the topology master that an instance failed to start', { error: describeError(error) });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Brings a (re)started worker up to date: routing, runtime config, activation, backpressure, backlog. */
  private onWorkerReady(local: LocalInstance): void {
    local.progressMark = 0;
    local.progressAt = performance.now();
    if (this.avoided.length > 0) this.post(local, { type: 'avoid', tasks: this.avoided });
    if (this.plan) {
      this.post(local, { type: 'tasks', version: this.plan.version, tasks: [...tasksByComponent(this.plan.instances)] });
      if (local.isSpout && this.plan.state === 'RUNNING') this.post(local, { type: 'activate' });
    }
    if (local.isSpout && this.spoutsPaused) this.post(local, { type: 'pause' });
    const backlog = local.backlog;
    local.backlog = [];
    local.deliveries = [];
    for (const frame of backlog) {
      local.pendingBytes -= frame.byteLength;
      this.deliverToWorker(local, frame);
    }
    if (this.avoidedHere.delete(local.taskId)) this.announceAvoided();
  }

  /**
   * A worker is hung when it makes no progress (executes or emits nothing) for its `hungMs` while
   * inside one call into the component (BUSY_SINCE) or while frames wait for it. Its own event loop
   * is what is stuck, so the check runs here, on the stream manager's. From half that time on,
   * shuffle traffic already goes around it, until it makes progress again or is restarted.
   */
  private checkHung(): void {
    const now = performance.now();
    const wall = Date.now();
    let changed = false;
    for (const local of this.instances.values()) {
      if (!local.worker || !local.ready || local.removed || local.hungMs <= 0) continue;
      const mark = local.counters[EXECUTED]! + local.counters[EMITTED]!;
      if (mark !== local.progressMark) {
        local.progressMark = mark;
        local.progressAt = now;
        changed = this.avoidedHere.delete(local.taskId) || changed;
        continue;
      }
      const busySince = local.counters[BUSY_SINCE]!;
      const busyFor = busySince > 0 ? Math.min(wall - busySince, now - local.progressAt) : 0;
      const queuedFor = local.deliveries.length > 0 ? now - Math.max(local.progressAt, local.deliveries[0]!) : 0;
      const stuckFor = Math.max(busyFor, queuedFor);
      if (stuckFor > local.hungMs) this.restartHung(local, stuckFor);
      else if (stuckFor > local.hungMs / 2 && !this.avoidedHere.has(local.taskId)) {
        this.avoidedHere.add(local.taskId);
        changed = true;
      }
    }
    if (changed) this.announceAvoided();
  }

  private restartHung(local: LocalInstance, stuckFor: number): void {
    local.hungRestarts++;
    const name = instanceName(this.options.container.id, local.plan);
    this.logger.error(`instance ${name} made no progress for ${Math.round(stuckFor)} ms (hungInstanceMs ${local.hungMs}); terminating and restarting it`, {
      queuedBytes: local.pendingBytes,
      hungRestarts: local.hungRestarts,
    });
    this.restartWorker(local);
  }

  /**
   * Keeps the container's RSS below its RAM in the packing plan (less headroom, see ramTrigger): the
   * worker furthest over its own RAM is restarted — or, when the stream manager's own thread is,
   * the container exits and its pool restarts it.
   */
  private checkMemory(): void {
    const now = performance.now();
    if (!this.options.enforceContainerRam || this.stopping || now < this.memoryVerdictAfter) return;
    const rss = process.memoryUsage.rss();
    const limit = this.ramLimitBytes;
    if (rss <= ramTrigger(limit)) return;
    this.memoryVerdictAfter = now + MEMORY_SETTLE_MS;
    const running = [...this.instances.values()].filter((i) => i.worker && i.ready && !i.removed);
    const own = process.memoryUsage();
    const planned = [...this.instances.values()].reduce((acc, i) => acc + i.plan.resources.ramBytes, 0);
    const wall = Date.now();
    const culprit = memoryCulprit(
      rss,
      { usedBytes: own.heapTotal + own.external, plannedBytes: Math.max(0, limit - planned) },
      running.map((i) => {
        const busySince = i.counters[BUSY_SINCE]!;
        return { id: i, usedBytes: i.counters[MEMORY_BYTES]!, plannedBytes: i.plan.resources.ramBytes, silent: busySince > 0 && wall - busySince > STALE_MEMORY_SAMPLE_MS };
      }),
    );
    const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;
    if (culprit === 'main') {
      this.logger.error(`container RSS ${mib(rss)} exceeds its RAM of ${mib(limit)} and the stream manager itself holds ${mib(own.heapTotal + own.external)}; restarting the container`);
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
      return;
    }
    culprit.memoryRestarts++;
    this.logger.error(
      `container RSS ${mib(rss)} exceeds its RAM of ${mib(limit)}; instance ${instanceName(this.options.container.id, culprit.plan)} holds ${mib(culprit.counters[MEMORY_BYTES]!)} of its ${mib(culprit.plan.resources.ramBytes)}; terminating and restarting it`,
      { memoryRestarts: culprit.memoryRestarts },
    );
    this.restartWorker(culprit);
  }

  /**
   * Terminates a worker (terminate stops even an endless loop) and lets the exit handler restart it
   * with the usual backoff. Frames arriving meanwhile wait in its backlog, and every stream
   * manager routes shuffle traffic around the task until the new worker is ready.
   */
  private restartWorker(local: LocalInstance): void {
    const worker = local.worker!;
    local.worker = undefined;
    local.ready = false;
    this.avoidedHere.add(local.taskId);
    this.announceAvoided();
    void worker.terminate();
  }

  /** Tells every peer which local tasks to avoid, and the local instances the new union. */
  private announceAvoided(): void {
    this.broadcastPeers({ type: 'avoid-tasks', containerId: this.options.container.id, tasks: [...this.avoidedHere] });
    this.updateAvoided();
  }

  private onPeerAvoid(message: AvoidTasksMessage): void {
    this.avoidedByPeer.set(message.containerId, message.tasks);
    this.updateAvoided();
  }

  private updateAvoided(): void {
    const union = [...new Set([...this.avoidedHere, ...[...this.avoidedByPeer.values()].flat()])].sort((a, b) => a - b);
    if (JSON.stringify(union) === JSON.stringify(this.avoided)) return;
    this.avoided = union;
    for (const instance of this.instances.values()) if (instance.ready) this.post(instance, { type: 'avoid', tasks: union });
  }

  private post(instance: LocalInstance, message: ToInstance, transfer?: ArrayBuffer[]): void {
    instance.worker?.postMessage(message, transfer ?? []);
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
      this.drop(view, containerId === this.options.container.id ? 'its task stopped here' : 'no container hosts its task');
      return;
    }
    if (peer.link && !peer.link.isClosed) {
      peer.link.sendFrame(view);
      if (!peer.over && peer.link.backlogBytes > this.options.backpressure.highWatermarkBytes) {
        peer.over = true;
        this.addCause(`peer-${containerId}`);
        this.watchPeerBacklog(containerId!, peer);
      }
    } else {
      peer.queued.push(view);
    }
  }

  /**
   * Polls a congested peer connection until its backlog is below the low watermark. Polling rather
   * than waiting for 'drain': a socket whose last write fit its buffer never emits one.
   */
  private watchPeerBacklog(containerId: number, peer: Peer): void {
    const timer = setInterval(() => {
      const backlog = peer.link && !peer.link.isClosed ? peer.link.backlogBytes : 0;
      if (this.peers.get(containerId) === peer && backlog > this.options.backpressure.lowWatermarkBytes) return;
      clearInterval(timer);
      peer.over = false;
      this.removeCause(`peer-${containerId}`);
    }, PEER_BACKLOG_POLL_MS);
  }

  /** A frame from a peer stream manager, for one of our instances or one a newer plan gives us. */
  private deliverLocal(frame: Buffer): void {
    const destTask = destTaskOf(frame);
    const local = this.instances.get(destTask);
    const copy = new ArrayBuffer(frame.length);
    new Uint8Array(copy).set(frame);
    if (local) this.deliverToWorker(local, copy);
    else if (this.containerOfTask.has(destTask)) this.route(new Uint8Array(copy), copy);
    else this.holdUnplaced(new Uint8Array(copy));
  }

  private holdUnplaced(frame: Uint8Array): void {
    this.unplaced.push(frame);
    this.unplacedBytes += frame.byteLength;
    if (this.unplacedBytes > this.options.backpressure.highWatermarkBytes) this.addCause(UNPLACED_CAUSE);
  }

  /** After a plan change: frames that waited for a plan naming their task go where it says. */
  private placeUnplaced(): void {
    const waiting = this.unplaced;
    this.unplaced = [];
    this.unplacedBytes = 0;
    for (const frame of waiting) {
      if (this.containerOfTask.has(destTaskOf(frame))) this.route(frame, frame.buffer as ArrayBuffer);
      else this.holdUnplaced(frame);
    }
    if (this.unplacedBytes <= this.options.backpressure.lowWatermarkBytes) this.removeCause(UNPLACED_CAUSE);
  }

  /**
   * A frame that can go nowhere. Nothing in a working engine does this (short of a plan change
   * that timed out), so it is counted in the metrics and logged as an error, never silently lost.
   */
  private drop(frame: Uint8Array, reason: string): void {
    const tuples = tupleCountOf(frame);
    this.droppedFrames++;
    this.droppedTuples += tuples;
    this.logger.error(`dropping a frame: ${reason}`, { destTask: destTaskOf(frame), tuples, droppedTuples: this.droppedTuples });
  }

  private deliverToWorker(instance: LocalInstance, frame: ArrayBuffer): void {
    instance.pendingBytes += frame.byteLength;
    instance.deliveries.push(performance.now());
    if (instance.pendingBytes > instance.maxPendingBytes) instance.maxPendingBytes = instance.pendingBytes;
    if (instance.worker) this.post(instance, { type: 'data', frame }, [frame]);
    else instance.backlog.push(frame);
    if (instance.overSince === undefined && instance.pendingBytes > this.options.backpressure.highWatermarkBytes) {
      instance.overSince = Date.now();
      this.addCause(`task-${instance.taskId}`);
    }
  }

  private onConsumed(instance: LocalInstance, bytes: number): void {
    instance.pendingBytes -= bytes;
    const now = performance.now();
    instance.progressAt = now;
    const delivered = instance.deliveries.shift();
    if (delivered !== undefined) {
      const sample = now - Math.max(delivered, instance.lastConsumedAt);
      instance.serviceMs = instance.serviceMs * 0.9 + sample * 0.1;
    }
    instance.lastConsumedAt = now;
    if (instance.overSince === undefined) return;
    const relieved = instance.stalled
      ? instance.deliveries.length === 0 || now - instance.deliveries[0]! < this.stallThreshold(instance) / 2
      : instance.pendingBytes <= this.options.backpressure.lowWatermarkBytes;
    if (relieved && instance.pendingBytes <= this.options.backpressure.lowWatermarkBytes) {
      instance.backpressureMs += Date.now() - instance.overSince;
      instance.overSince = undefined;
      instance.stalled = false;
      this.removeCause(`task-${instance.taskId}`);
    }
  }

  private stallThreshold(instance: LocalInstance): number {
    return Math.max(this.options.backpressure.stallMs ?? 0, 4 * instance.serviceMs);
  }

  /** The time trigger: see {@link BackpressureSettings.stallMs}. */
  private checkStalls(): void {
    const now = performance.now();
    for (const instance of this.instances.values()) {
      if (instance.overSince !== undefined || instance.deliveries.length === 0) continue;
      if (now - instance.deliveries[0]! > this.stallThreshold(instance)) {
        instance.overSince = Date.now();
        instance.stalled = true;
        this.addCause(`task-${instance.taskId}`);
      }
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

  private broadcastPeers(message: BackpressureMessage | AvoidTasksMessage): void {
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
    if (!pause) {
      const held = this.heldFromSpouts;
      this.heldFromSpouts = [];
      for (const frame of held) this.route(new Uint8Array(frame), frame);
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
    const me = this.options.container.id;
    // An update may have changed what this container holds, and so its RAM.
    void this.options.readPackingPlan().then(
      (packing) => {
        const container = packing?.containers.find((c) => c.id === me);
        if (container) this.ramLimitBytes = (container.scheduled ?? container.required).ramBytes;
      },
      () => undefined,
    );
    // Tasks a new plan drops keep their container here: frames routed by the old plan may still come.
    for (const instance of plan.instances) this.containerOfTask.set(instance.taskId, instance.containerId);
    for (const stmgr of plan.streamManagers) {
      if (stmgr.containerId === me) continue;
      const address = `${stmgr.host}:${stmgr.dataPort}`;
      const existing = this.peers.get(stmgr.containerId);
      if (existing && existing.address === address) continue;
      existing?.link?.close();
      const peer: Peer = { link: undefined, address, queued: existing?.queued ?? [], over: false };
      this.peers.set(stmgr.containerId, peer);
      void this.connectPeer(stmgr.containerId, stmgr.host, stmgr.dataPort, peer);
    }
    // Links to containers that left the plan stay open: the fence exchange below still needs them,
    // and they close when those containers stop.

    const mine = plan.instances.filter((i) => i.containerId === me);
    // Only instances an earlier plan contained can be dropped; a container added by an update may see
    // the running plan before the one that contains its instances.
    const removed = [...this.instances.values()].filter((local) => local.inPlan && !mine.some((i) => i.taskId === local.taskId));
    for (const local of this.instances.values()) if (mine.some((i) => i.taskId === local.taskId)) local.inPlan = true;
    for (const instance of mine) {
      if (!this.instances.has(instance.taskId)) this.addInstance(instance);
    }
    this.placeUnplaced();
    const fencePeers = new Set([...(previous?.streamManagers ?? []), ...plan.streamManagers].map((s) => s.containerId));
    fencePeers.delete(me);
    const tasks = [...tasksByComponent(plan.instances)];
    const waiting = new Set<number>();
    const configured = new Set<number>();
    let configChanged = false;
    for (const instance of this.instances.values()) {
      if (instance.worker && instance.ready) {
        waiting.add(instance.taskId);
        this.post(instance, { type: 'tasks', version: plan.version, tasks });
      }
      const config = plan.runtimeConfig[instance.component];
      if (config && JSON.stringify(config) !== JSON.stringify(previous?.runtimeConfig[instance.component])) {
        configChanged = true;
        if (instance.worker && instance.ready) configured.add(instance.taskId);
        this.post(instance, { type: 'config', version: plan.version, runtimeConfig: config });
      }
      if (instance.isSpout && plan.state !== previous?.state) this.post(instance, { type: plan.state === 'RUNNING' ? 'activate' : 'deactivate' });
    }
    if (configChanged) {
      this.configRounds.set(plan.version, { waiting: configured, failures: [] });
      this.onConfigApplied(undefined, plan.version, undefined);
    }
    this.transition = { version: plan.version, fencePeers, waiting, removed: new Set(removed.map((r) => r.taskId)), fenced: false, startedAt: Date.now() };
    this.updateSpouts();
    this.advanceTransition();
  }

  /**
   * An instance ran `onConfigChange` for plan `version` (or can no longer: it died). Once every
   * instance that was sent the change has answered, the topology master hears what failed.
   */
  private onConfigApplied(taskId: number | undefined, version: number, failure: ConfigFailure | undefined): void {
    const round = this.configRounds.get(version);
    if (!round) return;
    if (taskId !== undefined) round.waiting.delete(taskId);
    if (failure) round.failures.push(failure);
    if (round.waiting.size > 0) return;
    this.configRounds.delete(version);
    this.tmLink?.sendControl({ type: 'config-applied', containerId: this.options.container.id, version, failures: round.failures } satisfies ConfigAppliedMessage);
  }

  /** A local instance acknowledged that it routes by plan `version`. */
  private onTasksApplied(local: LocalInstance, version: number): void {
    if (this.transition && this.transition.version <= version) {
      this.transition.waiting.delete(local.taskId);
      this.advanceTransition();
    }
  }

  /**
   * Moves the current plan change forward: once every local instance routes by the new plan, fence
   * every peer; once every peer has fenced too, the queues of removed instances are final, so they
   * stop after executing them; then tell the topology master the plan is applied here.
   */
  private advanceTransition(): void {
    const transition = this.transition;
    if (!transition || this.stopping) return;
    const me = this.options.container.id;
    if (!transition.fenced) {
      if (transition.waiting.size > 0 && Date.now() - transition.startedAt < TRANSITION_TIMEOUT_MS) return;
      // Spout output held for backpressure was routed by the old plan; it must leave before the fence.
      const held = this.heldFromSpouts;
      this.heldFromSpouts = [];
      for (const frame of held) this.route(new Uint8Array(frame), frame);
      const fence = encodeControlFrame({ type: 'fence', containerId: me, version: transition.version } satisfies FenceMessage);
      for (const containerId of transition.fencePeers) {
        const peer = this.peers.get(containerId);
        if (peer?.link && !peer.link.isClosed) peer.link.sendFrame(fence);
        else peer?.queued.push(fence);
      }
      transition.fenced = true;
    }
    const unfenced = [...transition.fencePeers].filter((p) => (this.fenceVersions.get(p) ?? 0) < transition.version);
    if (unfenced.length > 0) {
      if (Date.now() - transition.startedAt < TRANSITION_TIMEOUT_MS) return;
      this.logger.warn('peers did not fence the new plan in time; stopping removed instances anyway', { version: transition.version, unfenced });
    }
    this.transition = undefined;
    void this.stopInstances([...transition.removed]).then(() => {
      this.tmLink?.sendControl({ type: 'plan-applied', containerId: me, version: transition.version } satisfies PlanAppliedMessage);
    });
  }

  private onFence(message: FenceMessage): void {
    if ((this.fenceVersions.get(message.containerId) ?? 0) < message.version) this.fenceVersions.set(message.containerId, message.version);
    this.advanceTransition();
  }

  /**
   * An instance a plan adds here. It is registered at once, so frames that peers and local
   * instances route to it by that plan wait in its backlog; its worker starts once its resources
   * are read from the packing plan.
   */
  private addInstance(instance: PhysicalPlan['instances'][number]): void {
    const local = this.register({ component: instance.component, taskId: instance.taskId, componentIndex: instance.componentIndex, resources: DEFAULT_RESOURCES });
    local.inPlan = true;
    local.starting = (async () => {
      const packing = await this.options.readPackingPlan().catch(() => undefined);
      const planned = packing?.containers.find((c) => c.id === this.options.container.id)?.instances.find((i) => i.taskId === instance.taskId);
      if (planned) local.plan = planned;
      if (this.stopping) return;
      await this.spawn(local).catch(async (error: unknown) => {
        this.logger.error('a new instance failed to start; restarting the container', { task: instance.taskId, error: describeError(error) });
        await this.reportStartFailures();
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      });
    })();
  }

  /**
   * Stops instances after they executed everything queued for them, reports their final counts (the
   * metrics cache keeps them, so cumulative counts survive a scale-down), and forgets them.
   */
  private async stopInstances(taskIds: number[]): Promise<void> {
    const stopping = taskIds.map((taskId) => this.instances.get(taskId)).filter((local): local is LocalInstance => local !== undefined);
    if (stopping.length === 0) return;
    await Promise.all(
      stopping.map(async (local) => {
        local.removed = true;
        // A worker still starting gets its queue first, then the shutdown.
        await local.starting;
        await this.shutdownWorker(local);
        // Only a worker that died and was not restarted yet leaves frames behind.
        for (const frame of local.backlog) this.drop(new Uint8Array(frame), 'its instance was removed while its worker was down');
        local.backlog = [];
      }),
    );
    this.reportMetrics();
    for (const local of stopping) {
      this.instances.delete(local.taskId);
      if (local.overSince !== undefined) this.removeCause(`task-${local.taskId}`);
      if (this.avoidedHere.delete(local.taskId)) this.announceAvoided();
    }
  }

  private shutdownWorker(instance: LocalInstance): Promise<void> {
    const worker = instance.worker;
    if (!worker) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), SHUTDOWN_TIMEOUT_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post(instance, { type: 'shutdown' });
    });
  }

  private async connectPeer(containerId: number, host: string, port: number, peer: Peer): Promise<void> {
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
        if (this.avoidedHere.size > 0) link.sendControl({ type: 'avoid-tasks', containerId: this.options.container.id, tasks: [...this.avoidedHere] } satisfies AvoidTasksMessage);
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

  /**
   * Reports fall on multiples of the interval in wall-clock time, so every container of a topology
   * reports at the same instants and components can be compared with each other.
   */
  private scheduleReport(): void {
    const interval = this.options.metricsIntervalMs;
    this.metricsTimer = setTimeout(() => {
      this.reportMetrics();
      if (!this.stopping) this.scheduleReport();
    }, interval - (Date.now() % interval));
    this.metricsTimer.unref();
  }

  private reportMetrics(): void {
    this.sendCounters('metrics');
  }

  /** A series sample (`metrics`) or a heartbeat between samples (`counters`) to the metrics cache. */
  private sendCounters(type: MetricsReport['type']): void {
    if (!this.tmLink) return;
    const now = Date.now();
    const instances: Record<string, InstanceMetricsSample> = {};
    for (const instance of this.instances.values()) {
      instances[instanceName(this.options.container.id, instance)] = {
        ...addCounters(instance.countersBase, readCounters(instance.counters)),
        component: instance.component,
        taskId: instance.taskId,
        pendingBytes: instance.pendingBytes,
        maxPendingBytes: instance.maxPendingBytes,
        restarts: instance.restarts,
        hungRestarts: instance.hungRestarts,
        memoryRestarts: instance.memoryRestarts,
        memoryBytes: instance.counters[MEMORY_BYTES]!,
        emittedByStream: Object.fromEntries(streamEmitsOf(instance).map((count, i) => [instance.streams[i]!, count])),
        backpressureMs: instance.backpressureMs + (instance.overSince === undefined ? 0 : now - instance.overSince),
        ...backlogOf(instance.counters),
      };
    }
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const report: MetricsReport = {
      type,
      containerId: this.options.container.id,
      incarnation: this.incarnation,
      timestamp: now,
      instances,
      streamManager: {
        backpressureInitiatedMs: this.initiatedMs + (this.initiatedSince === undefined ? 0 : now - this.initiatedSince),
        spoutsPausedMs: this.spoutsPausedMs + (this.pausedSince === undefined ? 0 : now - this.pausedSince),
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        droppedFrames: this.droppedFrames,
        droppedTuples: this.droppedTuples,
        ramLimitBytes: this.ramLimitBytes,
      },
    };
    this.tmLink.sendControl(report);
  }

  /** Stops spouts, lets instances close, and closes every connection. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.metricsTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.stallTimer);
    clearInterval(this.superviseTimer);
    await Promise.all([...this.instances.values()].map((instance) => this.shutdownWorker(instance)));
    // What the instances emitted last — a removed container's final output among it — must reach
    // the peers before this process exits.
    await Promise.all(
      [...this.peers.values()].map((peer) => {
        for (const frame of peer.queued) if (frame[DataFrameHeader.kindOffset] === FrameKind.Data) this.drop(frame, `its peer stream manager at ${peer.address} is not connected`);
        peer.queued = [];
        return peer.link?.closeGracefully(PEER_DRAIN_TIMEOUT_MS);
      }),
    );
    this.reportMetrics();
    await this.tmLink?.closeGracefully(PEER_DRAIN_TIMEOUT_MS);
    for (const link of this.inbound) link.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
