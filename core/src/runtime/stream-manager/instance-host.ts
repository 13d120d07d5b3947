import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { describeError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { instanceName, type ContainerPlan, type PackingPlan } from '../../model/packing-plan.js';
import type { PhysicalPlan } from '../../model/runtime-state.js';
import type { TopologyDefinition } from '../../model/topology.js';
import {
  instanceStartError,
  type ConfigFailure,
  type InstanceErrorReport,
  type InstanceFailedMessage,
  type InstanceMetricsSample,
} from '../control-messages.js';
import {
  BUSY_SINCE,
  EMITTED,
  EXECUTED,
  idleCounters,
  LATENCY_BUCKETS,
  MEMORY_BYTES,
  newCounterBuffer,
  readBacklog,
  readCounters,
  readStreamEmits,
  type FromInstance,
  type InstanceCounters,
  type DeliverySettings,
  type InstanceInit,
  type ToInstance,
} from '../instance/messages.js';
import { memoryCulprit, ramTrigger } from '../memory-guard.js';
import { tasksByComponent } from '../routing.js';
import { hungInstanceMsOf } from '../runtime-settings.js';
import type { BackpressureController, BackpressureDecision, InstanceLoad } from './backpressure.js';

/** What the instance host tells the rest of the stream manager. */
export interface InstanceHostEvents {
  /** A frame a local instance emitted. */
  route(view: Uint8Array, buffer: ArrayBuffer): void;
  /** A backpressure decision an instance's queue caused. */
  pressure(decision: BackpressureDecision): void;
  /** A local instance confirmed that it routes by plan `version`. */
  tasksApplied(taskId: number, version: number): void;
  /** A local instance ran `onConfigChange` for plan `version`; `failure` is what it threw. */
  configApplied(taskId: number, version: number, failure: ConfigFailure | undefined): void;
  /** A worker exited: it answers no runtime config change sent to it any more. */
  workerExited(taskId: number): void;
  /** The local tasks every stream manager should route shuffle traffic around changed. */
  avoidChanged(tasks: readonly number[]): void;
  /** A frame that can go nowhere. */
  drop(frame: Uint8Array, reason: string): void;
  /** Effectively-once: a worker sent what it does not route by tuples (its snapshot, a restore's answer, key groups, a handoff's end). */
  delivery(taskId: number, message: Extract<FromInstance, { type: 'snapshot' | 'restored' | 'key-groups' | 'handoff-done' }>): void;
  /** Effectively-once: a worker of a running instance was lost (its state with it): the topology must roll back. */
  stateLost(taskId: number, reason: string): void;
  /**
   * The container must exit (and its pool restart it): an instance cannot start, or the stream manager itself is over the container's
   * RAM.
   */
  restartContainer(): Promise<void>;
}

export interface InstanceHostOptions {
  readonly definition: TopologyDefinition;
  readonly container: ContainerPlan;
  readonly bundleUrl: string;
  readonly logLevel: InstanceInit['logLevel'];
  /** The topology's `hungInstanceMs` (components may override it in their config); 0: no check. */
  readonly hungInstanceMs?: number;
  /** Keep the container's RSS within its RAM in the packing plan (see memory-guard.ts). */
  readonly enforceContainerRam?: boolean;
  /** Runtime config instances start with until a physical plan says otherwise. */
  readonly initialRuntimeConfig?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Reads the current packing plan, for the resources of instances a plan change adds here. */
  readonly readPackingPlan: () => Promise<PackingPlan | undefined>;
  /** The newest physical plan, once one came. */
  readonly currentPlan: () => PhysicalPlan | undefined;
  /** Accounts for every instance's queue; its clock is performance.now(), which the hung check compares delivery times with. */
  readonly pressure: BackpressureController;
  readonly logger: Logger;
  readonly events: InstanceHostEvents;
  readonly delivery: DeliverySettings;
  /** Effectively-once: the rollback epoch workers start in. */
  readonly epoch: () => number;
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
  /** Effectively-once messages for a worker that is not ready yet: posted, in order, once it is. */
  control: Array<[ToInstance, ArrayBuffer[]]>;
  restarts: number;
  /** The last error its workers reported, kept across their restarts. */
  lastError?: InstanceErrorReport;
  /** Its queue, for backpressure. */
  readonly load: InstanceLoad;
  /** The current worker's counters, shared with it. */
  counters: Float64Array;
  /** Totals of earlier workers of this instance, so counters stay cumulative across restarts. */
  countersBase: InstanceCounters;
  /** Per-stream emits of earlier workers of this instance. */
  streamEmitsBase: number[];
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

/** What a physical plan changed among the local instances (see {@link InstanceHost.announcePlan}). */
export interface PlanAnnouncement {
  /** Instances told to route by the plan: each answers once it does. */
  readonly waiting: Set<number>;
  /** Instances sent a changed runtime config, which will answer; undefined when the plan changed no config here. */
  readonly configured: Set<number> | undefined;
}

const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Until the packing plan is read: the resources an instance without any gets. */
const DEFAULT_RESOURCES = { cpu: 1, ramBytes: 1024 * 1024 * 1024, diskBytes: 0 };
/** How often workers are checked for progress (a small part of any sensible hungInstanceMs) and memory. */
const SUPERVISE_MS = 250;
/** After a restart for memory, time for the worker's memory to be released before the next verdict. */
const MEMORY_SETTLE_MS = 2000;
/** A worker inside one call for longer than this has not sampled its memory lately (it does every 200 ms). */
const STALE_MEMORY_SAMPLE_MS = 1000;

const EMPTY_COUNTERS: InstanceCounters = {
  emitted: 0,
  executed: 0,
  acked: 0,
  failed: 0,
  errors: 0,
  busyNs: 0,
  executeNs: 0,
  timedOut: 0,
  completed: 0,
  completeLatencyNs: 0,
  completeLatencyHistogram: new Array<number>(LATENCY_BUCKETS).fill(0),
};

function backlogOf(counters: Float64Array, emitted: number): { backlog?: number } {
  const backlog = readBacklog(counters, emitted);
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
    timedOut: a.timedOut + b.timedOut,
    completed: a.completed + b.completed,
    completeLatencyNs: a.completeLatencyNs + b.completeLatencyNs,
    completeLatencyHistogram: a.completeLatencyHistogram.map((count, i) => count + (b.completeLatencyHistogram[i] ?? 0)),
  };
}

/**
 * Hosts a container's instances, one worker thread each: starts them, delivers frames to them (into
 * a backlog while a worker restarts), restarts a worker that dies, hangs or holds the container's
 * memory, keeps their counters cumulative across restarts, tells them what the plan and the
 * backpressure say, and records instances that failed to start.
 */
export class InstanceHost {
  private readonly instances = new Map<number, LocalInstance>();
  private stopping = false;
  private superviseTimer: NodeJS.Timeout | undefined;
  /** Instances that failed to start and are not yet reported to the topology master. */
  private readonly startFailures: InstanceFailedMessage[] = [];
  /** The container's RAM in the current packing plan. */
  private ramLimit: number;
  private memoryVerdictAfter = 0;
  /** Local tasks whose worker hung and is being restarted, and each peer's. */
  private readonly avoidedHere = new Set<number>();
  private readonly avoidedByPeer = new Map<number, readonly number[]>();
  /** The union last sent to the local instances. */
  private avoided: readonly number[] = [];

  constructor(private readonly options: InstanceHostOptions) {
    this.ramLimit = (options.container.scheduled ?? options.container.required).ramBytes;
  }

  /** The container's RAM in the current packing plan. */
  get ramLimitBytes(): number {
    return this.ramLimit;
  }

  /** Local tasks whose worker hung and is being restarted, which peers should route around. */
  get localAvoided(): readonly number[] {
    return [...this.avoidedHere];
  }

  /** Starts the workers of the container's instances; rejects if one fails to start (see {@link takeStartFailures}). */
  startAll(): Promise<void> {
    return Promise.all(this.options.container.instances.map((instance) => this.startInstance(instance))).then(() => undefined);
  }

  /** Starts checking workers for hangs and the container for its RAM. */
  startSupervision(): void {
    this.superviseTimer = setInterval(() => {
      this.checkHung();
      this.checkMemory();
    }, SUPERVISE_MS);
    this.superviseTimer.unref();
  }

  /** Instances that failed to start since the last call. */
  takeStartFailures(): InstanceFailedMessage[] {
    return this.startFailures.splice(0);
  }

  /** Delivers a frame to a local instance; false if no instance of that task is hosted here. */
  deliver(taskId: number, frame: ArrayBuffer): boolean {
    const instance = this.instances.get(taskId);
    if (!instance) return false;
    const decision = this.options.pressure.delivered(instance.load, frame.byteLength);
    if (instance.worker) this.post(instance, { type: 'data', frame }, [frame]);
    else instance.backlog.push(frame);
    if (decision) this.options.events.pressure(decision);
    return true;
  }

  /**
   * Sends an effectively-once message to a local instance now, or once its worker is ready; false if
   * no instance of that task is hosted here.
   */
  postControl(taskId: number, message: ToInstance, transfer: ArrayBuffer[] = []): boolean {
    const instance = this.instances.get(taskId);
    if (!instance) return false;
    if (instance.worker && instance.ready) this.post(instance, message, transfer);
    else instance.control.push([message, transfer]);
    return true;
  }

  /** Local instances, as the checkpoint and rollback protocol needs them. */
  get hosted(): ReadonlyArray<{
    readonly taskId: number;
    readonly component: string;
    readonly componentIndex: number;
    readonly isSpout: boolean;
    readonly running: boolean;
    readonly removed: boolean;
  }> {
    return [...this.instances.values()].map((local) => ({
      taskId: local.taskId,
      component: local.component,
      componentIndex: local.componentIndex,
      isSpout: local.isSpout,
      running: local.worker !== undefined && local.ready,
      removed: local.removed,
    }));
  }

  /** Tells every local spout to pause or resume. */
  pauseSpouts(pause: boolean): void {
    for (const instance of this.instances.values()) {
      if (instance.isSpout) this.post(instance, { type: pause ? 'pause' : 'resume' });
    }
  }

  /**
   * Brings the set of local instances to what `plan` places here: instances it adds are registered
   * at once and started; returns the tasks it dropped (they stop once the plan change allows).
   */
  adopt(plan: PhysicalPlan): number[] {
    const me = this.options.container.id;
    // An update may have changed what this container holds, and so its RAM.
    void this.options.readPackingPlan().then(
      (packing) => {
        const container = packing?.containers.find((c) => c.id === me);
        if (container) this.ramLimit = (container.scheduled ?? container.required).ramBytes;
      },
      () => undefined,
    );
    const mine = plan.instances.filter((i) => i.containerId === me);
    // Only instances an earlier plan contained can be dropped; a container added by an update may see
    // the running plan before the one that contains its instances.
    const removed = [...this.instances.values()].filter((local) => local.inPlan && !mine.some((i) => i.taskId === local.taskId));
    for (const local of this.instances.values()) if (mine.some((i) => i.taskId === local.taskId)) local.inPlan = true;
    for (const instance of mine) {
      if (!this.instances.has(instance.taskId)) this.addInstance(instance);
    }
    return removed.map((local) => local.taskId);
  }

  /** Tells the local instances to route by `plan`, and sends them what it changed: runtime config, activation. */
  announcePlan(plan: PhysicalPlan, previous: PhysicalPlan | undefined): PlanAnnouncement {
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
      if (instance.isSpout && plan.state !== previous?.state)
        this.post(instance, { type: plan.state === 'RUNNING' ? 'activate' : 'deactivate' });
    }
    return { waiting, configured: configChanged ? configured : undefined };
  }

  /**
   * Stops instances after they executed everything queued for them; returns the tasks that were
   * hosted here. They still count in {@link samples} until {@link forget}.
   */
  async stopInstances(taskIds: readonly number[]): Promise<number[]> {
    const stopping = taskIds.map((taskId) => this.instances.get(taskId)).filter((local): local is LocalInstance => local !== undefined);
    await Promise.all(
      stopping.map(async (local) => {
        local.removed = true;
        // A worker still starting gets its queue first, then the shutdown.
        await local.starting;
        await this.shutdownWorker(local, true);
        // Only a worker that died and was not restarted yet leaves frames behind.
        for (const frame of local.backlog)
          this.options.events.drop(new Uint8Array(frame), 'its instance was removed while its worker was down');
        local.backlog = [];
      }),
    );
    return stopping.map((local) => local.taskId);
  }

  /** Forgets stopped instances: they are no longer a cause of backpressure or avoided. */
  forget(taskIds: readonly number[]): void {
    for (const taskId of taskIds) {
      const local = this.instances.get(taskId);
      if (!local) continue;
      this.instances.delete(taskId);
      const decision = this.options.pressure.untrack(local.load);
      if (decision) this.options.events.pressure(decision);
      if (this.avoidedHere.delete(taskId)) this.announceAvoided();
    }
  }

  /** A peer's tasks to route around (undefined: the peer is gone). */
  peerAvoids(containerId: number, tasks: readonly number[] | undefined): void {
    if (tasks) this.avoidedByPeer.set(containerId, tasks);
    else if (!this.avoidedByPeer.delete(containerId)) return;
    this.updateAvoided();
  }

  /** Each instance's counters since it started, across worker restarts, keyed by instance name. */
  samples(): Record<string, InstanceMetricsSample> {
    const { pressure } = this.options;
    const samples: Record<string, InstanceMetricsSample> = {};
    for (const instance of this.instances.values()) {
      const current = readCounters(instance.counters);
      samples[instanceName(this.options.container.id, instance)] = {
        ...addCounters(instance.countersBase, current),
        component: instance.component,
        taskId: instance.taskId,
        pendingBytes: instance.load.pendingBytes,
        maxPendingBytes: instance.load.maxPendingBytes,
        restarts: instance.restarts,
        hungRestarts: instance.hungRestarts,
        memoryRestarts: instance.memoryRestarts,
        memoryBytes: instance.counters[MEMORY_BYTES]!,
        emittedByStream: Object.fromEntries(streamEmitsOf(instance).map((count, i) => [instance.streams[i]!, count])),
        backpressureMs: pressure.backpressureMs(instance.load),
        ...backlogOf(instance.counters, current.emitted),
        ...(instance.lastError ? { lastError: instance.lastError } : {}),
      };
    }
    return samples;
  }

  /** Lets every instance close; workers that crash or hang from now on stay down. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.superviseTimer);
    await Promise.all([...this.instances.values()].map((instance) => this.shutdownWorker(instance)));
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
      control: [],
      restarts: 0,
      load: this.options.pressure.track(instance.taskId),
      counters: idleCounters(component.outputs.length),
      countersBase: EMPTY_COUNTERS,
      streamEmitsBase: component.outputs.map(() => 0),
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
   * An instance a plan adds here. It is registered at once, so frames that peers and local
   * instances route to it by that plan wait in its backlog; its worker starts once its resources
   * are read from the packing plan.
   */
  private addInstance(instance: PhysicalPlan['instances'][number]): void {
    const local = this.register({
      component: instance.component,
      taskId: instance.taskId,
      componentIndex: instance.componentIndex,
      resources: DEFAULT_RESOURCES,
    });
    local.inPlan = true;
    // Effectively-once: a new instance starts empty in the current epoch; the key groups it owns come from their previous owners.
    if (this.options.delivery.reliability === 'effectively-once')
      local.control.push([{ type: 'restore', epoch: this.options.epoch(), parts: [], groupsFromPeers: true }, []]);
    local.starting = (async () => {
      const packing = await this.options.readPackingPlan().catch(() => undefined);
      const planned = packing?.containers
        .find((c) => c.id === this.options.container.id)
        ?.instances.find((i) => i.taskId === instance.taskId);
      if (planned) local.plan = planned;
      if (this.stopping) return;
      await this.spawn(local).catch(async (error: unknown) => {
        this.options.logger.error('a new instance failed to start; restarting the container', {
          task: instance.taskId,
          error: describeError(error),
        });
        await this.options.events.restartContainer();
      });
    })();
  }

  /**
   * Starts (or restarts) the worker of one instance. A worker that dies later is restarted alone,
   * after a backoff; frames for it wait in its backlog meanwhile, and backpressure bounds how many.
   */
  private spawn(local: LocalInstance): Promise<void> {
    const { events, logger, pressure } = this.options;
    const name = instanceName(this.options.container.id, local.plan);
    const shared = newCounterBuffer(local.streams.length);
    const plan = this.options.currentPlan();
    const init: InstanceInit = {
      counters: shared,
      bundleUrl: this.options.bundleUrl,
      definition: this.options.definition,
      component: local.component,
      taskId: local.taskId,
      componentIndex: local.componentIndex,
      ...(plan ? { tasks: [...tasksByComponent(plan.instances)] } : {}),
      runtimeConfig: (plan?.runtimeConfig ?? this.options.initialRuntimeConfig ?? {})[local.component] ?? {},
      logLevel: this.options.logLevel,
      delivery: this.options.delivery,
      epoch: this.options.epoch(),
    };
    const heapMb = Math.max(64, Math.floor(local.plan.resources.ramBytes / (1024 * 1024)));
    const worker = new Worker(new URL('../instance/instance-worker.js', import.meta.url), {
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
            // Checked per frame: one of a message's frames can start the pause that holds the rest.
            for (const frame of message.frames) {
              if (local.isSpout && pressure.spoutsPaused) pressure.hold([frame]);
              else events.route(new Uint8Array(frame), frame);
            }
            break;
          case 'consumed': {
            local.progressAt = performance.now();
            const decision = pressure.consumed(local.load, message.bytes);
            if (decision) events.pressure(decision);
            break;
          }
          case 'error':
            local.lastError = { message: message.message, ...(message.stack ? { stack: message.stack } : {}), at: Date.now() };
            logger.warn(`instance ${name} reported an error`, { error: message.message });
            break;
          case 'failed':
            if (!ready) failToStart(message.message, message.stack);
            else logger.error(`instance ${name} failed`, { error: message.message });
            break;
          case 'tasks-applied':
            events.tasksApplied(local.taskId, message.version);
            break;
          case 'config-applied':
            if (message.error !== undefined) logger.warn(`instance ${name} rejected a runtime config change`, { error: message.error });
            events.configApplied(
              local.taskId,
              message.version,
              message.error === undefined ? undefined : { instance: name, component: local.component, message: message.error },
            );
            break;
          case 'closed':
            break;
          case 'state-inconsistent':
            events.stateLost(local.taskId, message.reason);
            break;
          case 'snapshot':
          case 'restored':
          case 'key-groups':
          case 'handoff-done':
            events.delivery(local.taskId, message);
            break;
        }
      });
      worker.on('error', (error) => {
        if (!ready) failToStart(describeError(error), error.stack);
        else logger.error(`instance ${name} crashed`, { error: describeError(error) });
      });
      worker.on('exit', (code) => {
        if (local.worker === worker) {
          local.worker = undefined;
          local.ready = false;
        }
        failToStart(`its worker exited with code ${code} before the component was ready`);
        // A dead worker answers no config change; the new one starts with the current config.
        events.workerExited(local.taskId);
        if (this.stopping || !ready || local.removed) return;
        // Counters restart from zero in the new worker; keep what the old one counted.
        local.countersBase = addCounters(local.countersBase, readCounters(local.counters));
        local.streamEmitsBase = streamEmitsOf(local);
        local.counters = idleCounters(local.streams.length);
        // Frames delivered to the dead worker are lost with it (at-most-once); they no longer count as
        // pending. Those that arrived after it was found hung wait in the backlog for the new one.
        const decision = pressure.workerLost(
          local.load,
          local.backlog.reduce((acc, frame) => acc + frame.byteLength, 0),
        );
        if (decision) events.pressure(decision);
        local.restarts++;
        // Its queued control messages were for the lost worker's state.
        local.control = [];
        if (this.options.delivery.reliability === 'effectively-once') events.stateLost(local.taskId, `its worker exited with code ${code}`);
        const delay = Math.min(30_000, 500 * 2 ** Math.min(local.restarts - 1, 6));
        logger.error(`instance ${name} exited with code ${code}; restarting it in ${delay} ms`, { restarts: local.restarts });
        setTimeout(() => {
          if (this.stopping || local.removed) return;
          this.spawn(local).catch(async (error: unknown) => {
            logger.error(`instance ${name} could not be restarted; restarting the container`, { error: describeError(error) });
            await events.restartContainer();
          });
        }, delay).unref();
      });
    });
  }

  /** Records why an instance failed to start, for {@link takeStartFailures}, and returns the error to reject with. */
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

  /** Brings a (re)started worker up to date: routing, runtime config, activation, backpressure, backlog. */
  private onWorkerReady(local: LocalInstance): void {
    local.progressMark = 0;
    local.progressAt = performance.now();
    if (this.avoided.length > 0) this.post(local, { type: 'avoid', tasks: this.avoided });
    const plan = this.options.currentPlan();
    if (plan) {
      this.post(local, { type: 'tasks', version: plan.version, tasks: [...tasksByComponent(plan.instances)] });
      if (local.isSpout && plan.state === 'RUNNING') this.post(local, { type: 'activate' });
    }
    if (local.isSpout && this.options.pressure.spoutsPaused) this.post(local, { type: 'pause' });
    const backlog = local.backlog;
    local.backlog = [];
    this.options.pressure.redelivered(local.load, backlog.length);
    for (const [message, transfer] of local.control.splice(0)) this.post(local, message, transfer);
    for (const frame of backlog) this.post(local, { type: 'data', frame }, [frame]);
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
      const deliveries = local.load.deliveries;
      const queuedFor = deliveries.length > 0 ? now - Math.max(local.progressAt, deliveries[0]!) : 0;
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
    this.options.logger.error(
      `instance ${name} made no progress for ${Math.round(stuckFor)} ms (hungInstanceMs ${local.hungMs}); terminating and restarting it`,
      {
        queuedBytes: local.load.pendingBytes,
        hungRestarts: local.hungRestarts,
      },
    );
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
    const limit = this.ramLimit;
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
        return {
          id: i,
          usedBytes: i.counters[MEMORY_BYTES]!,
          plannedBytes: i.plan.resources.ramBytes,
          silent: busySince > 0 && wall - busySince > STALE_MEMORY_SAMPLE_MS,
        };
      }),
    );
    const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;
    if (culprit === 'main') {
      this.options.logger.error(
        `container RSS ${mib(rss)} exceeds its RAM of ${mib(limit)} and the stream manager ` +
          `itself holds ${mib(own.heapTotal + own.external)}; restarting the container`,
      );
      void this.options.events.restartContainer();
      return;
    }
    culprit.memoryRestarts++;
    this.options.logger.error(
      `container RSS ${mib(rss)} exceeds its RAM of ${mib(limit)}; ` +
        `instance ${instanceName(this.options.container.id, culprit.plan)} holds ${mib(culprit.counters[MEMORY_BYTES]!)} ` +
        `of its ${mib(culprit.plan.resources.ramBytes)}; terminating and restarting it`,
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
    this.options.events.avoidChanged([...this.avoidedHere]);
    this.updateAvoided();
  }

  private updateAvoided(): void {
    const union = [...new Set([...this.avoidedHere, ...[...this.avoidedByPeer.values()].flat()])].sort((a, b) => a - b);
    if (JSON.stringify(union) === JSON.stringify(this.avoided)) return;
    this.avoided = union;
    for (const instance of this.instances.values()) if (instance.ready) this.post(instance, { type: 'avoid', tasks: union });
  }

  /**
   * Asks a worker to close after what is queued for it, and terminates it if it has not exited within
   * {@link SHUTDOWN_TIMEOUT_MS}. With `drain` (an instance a plan removed, whose queue must run to the
   * end or its tuples are lost) the time runs from its last progress instead: a slow bolt with a deep
   * queue — an async one awaiting a service, say — may take minutes to work through it, and only one
   * that stopped making progress is cut off.
   */
  private shutdownWorker(instance: LocalInstance, drain = false): Promise<void> {
    const worker = instance.worker;
    if (!worker) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout;
      const expire = () => {
        const idleFor = performance.now() - instance.progressAt;
        if (drain && idleFor < SHUTDOWN_TIMEOUT_MS) {
          timer = setTimeout(expire, SHUTDOWN_TIMEOUT_MS - idleFor);
          return;
        }
        if (drain && instance.load.pendingBytes > 0)
          this.options.logger.error('a removed instance made no progress while draining; terminating it with its queue', {
            instance: instanceName(this.options.container.id, instance),
            pendingBytes: instance.load.pendingBytes,
          });
        void worker.terminate().then(() => resolve());
      };
      timer = setTimeout(expire, SHUTDOWN_TIMEOUT_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post(instance, { type: 'shutdown' });
    });
  }

  private post(instance: LocalInstance, message: ToInstance, transfer?: ArrayBuffer[]): void {
    instance.worker?.postMessage(message, transfer ?? []);
  }
}
