import { randomUUID } from 'node:crypto';
import { CheckpointError, describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ContainerPlan, PackingPlan } from '../model/packing-plan.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { CheckpointStorage } from '../spi/checkpoint-storage.js';
import type {
  CheckpointSavedMessage,
  ConfigAppliedMessage,
  ConfigFailure,
  FromTopologyMaster,
  KeyGroupsMessage,
  MetricsReport,
  PlanAppliedMessage,
  RestoredMessage,
  RestoreMessage,
  StateLostMessage,
} from './control-messages.js';
import type { DeliverySettings, FromInstance, InstanceInit } from './instance/messages.js';
import { isKeyed } from './runtime-settings.js';
import { checkpointPart, componentOfPart } from './checkpoint-parts.js';
import { connectAuthenticated, type Link } from './link.js';
import { BackpressureController, type BackpressureDecision, type BackpressureSettings } from './stream-manager/backpressure.js';
import { InstanceHost } from './stream-manager/instance-host.js';
import { PeerMesh } from './stream-manager/peer-mesh.js';
import { PlanTransition } from './stream-manager/plan-transition.js';
import { destTaskOf, tupleCountOf } from './wire/frames.js';

export type { BackpressureSettings } from './stream-manager/backpressure.js';

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
  /** Default: at-most-once. */
  readonly delivery?: DeliverySettings;
  /** Effectively-once: where instances' state is saved. */
  readonly checkpoints?: CheckpointStorage;
}

const AT_MOST_ONCE: DeliverySettings = { reliability: 'at-most-once', messageTimeoutMs: 30_000, maxSpoutPending: 0, maxParallelism: 128 };

/** After a failed load of checkpoint state, how long before the next rollback is asked for. */
const RESTORE_RETRY_MS = 2000;

/** How long a plan change waits for the local instances to hand off and receive their key groups. */
const HANDOFF_TIMEOUT_MS = 120_000;

/** Instances that were sent a plan version's runtime config and have not yet answered. */
interface ConfigRound {
  readonly waiting: Set<number>;
  readonly failures: ConfigFailure[];
}

/** How long a container whose instance failed to start tries to tell the topology master before it exits. */
const FAILURE_REPORT_TIMEOUT_MS = 5000;
const STALL_CHECK_MS = 5;
/** How long a stopping stream manager waits for its peers to take what it sent them. */
const PEER_DRAIN_TIMEOUT_MS = 3000;
/**
 * How often the counters go to the metrics cache between samples: what a process counted before it
 * died is missing from the metrics for at most this long.
 */
const COUNTERS_HEARTBEAT_MS = 250;

/**
 * Runs in the main thread of containers 1..N. It hosts the container's instances as worker threads,
 * registers with the topology master, keeps a connection to every other stream manager, forwards
 * data frames by destination task, and applies backpressure: when an instance's queue (or a peer
 * connection) passes the high watermark it tells every peer, and every stream manager stops its
 * local spouts until no one reports backpressure any more.
 *
 * The parts (in ./stream-manager/): the {@link InstanceHost} runs the workers, the
 * {@link BackpressureController} decides when to announce backpressure and pause spouts, the
 * {@link PeerMesh} holds the connections to the other stream managers, and the
 * {@link PlanTransition} carries the container from plan to plan. This class wires them together,
 * routes frames between them, and talks to the topology master.
 */
export class StreamManager {
  private readonly logger: Logger;
  private readonly pressure: BackpressureController;
  private readonly host: InstanceHost;
  private readonly mesh: PeerMesh;
  private readonly transition: PlanTransition;
  private dataPort = 0;
  private tmLink: Link | undefined;
  private metricsTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** This process's run of the container, in its metrics (see MetricsReport.incarnation). */
  private readonly incarnation = randomUUID();
  private droppedFrames = 0;
  private droppedTuples = 0;
  private stopping = false;
  private readonly configRounds = new Map<number, ConfigRound>();
  /** Effectively-once: the rollback epoch the instances run in, and whether this process has registered before. */
  private epoch = 0;
  private registered = false;
  private rollbackAskedInEpoch = -1;
  /** Effectively-once: local instances that have not yet answered the latest restore. */
  private restoring: { readonly epoch: number; readonly waiting: Set<number> } | undefined;
  /** Effectively-once: handoffs of plan changes under way here, by version: the instances yet to answer. */
  private readonly handoffs = new Map<number, { readonly waiting: Set<number>; readonly done: () => void }>();

  constructor(private readonly options: StreamManagerOptions) {
    const me = options.container.id;
    this.logger = options.logger.child({ role: 'stmgr', container: me });
    this.pressure = new BackpressureController(options.backpressure);
    this.host = new InstanceHost({
      definition: options.definition,
      container: options.container,
      bundleUrl: options.bundleUrl,
      logLevel: options.logLevel,
      hungInstanceMs: options.hungInstanceMs,
      enforceContainerRam: options.enforceContainerRam,
      initialRuntimeConfig: options.initialRuntimeConfig,
      delivery: options.delivery ?? AT_MOST_ONCE,
      epoch: () => this.epoch,
      readPackingPlan: options.readPackingPlan,
      currentPlan: () => this.transition.plan,
      pressure: this.pressure,
      logger: this.logger,
      events: {
        route: (view, buffer) => this.route(view, buffer),
        pressure: (decision) => this.applyPressure(decision),
        tasksApplied: (taskId, version) => this.transition.tasksApplied(taskId, version),
        configApplied: (taskId, version, failure) => this.onConfigApplied(taskId, version, failure),
        workerExited: (taskId) => {
          for (const version of [...this.configRounds.keys()]) this.onConfigApplied(taskId, version, undefined);
        },
        avoidChanged: (tasks) => this.mesh.broadcast({ type: 'avoid-tasks', containerId: me, tasks }),
        drop: (frame, reason) => this.drop(frame, reason),
        restartContainer: () => this.restartContainer(),
        delivery: (taskId, message) => this.onDeliveryMessage(taskId, message),
        stateLost: (taskId, reason) => {
          this.restoring?.waiting.delete(taskId);
          for (const handoff of this.handoffs.values()) handoff.waiting.delete(taskId);
          this.tmLink?.sendControl({ type: 'state-lost', containerId: me, taskId, reason } satisfies StateLostMessage);
        },
      },
    });
    this.mesh = new PeerMesh({
      containerId: me,
      topologyId: options.definition.id,
      secret: options.secret,
      host: options.host,
      logger: this.logger,
      events: {
        data: (frame) => this.deliverLocal(frame),
        fence: (message) => this.transition.fenced(message),
        keyGroups: (message) => this.deliverKeyGroups(message),
        avoidTasks: (message) => this.host.peerAvoids(message.containerId, message.tasks),
        backpressure: (message) => this.applyPressure(this.pressure.peerAnnounced(message)),
        peerClosed: (containerId) => {
          this.applyPressure(this.pressure.peerGone(containerId));
          this.host.peerAvoids(containerId, undefined);
          this.transition.peerClosed(containerId);
          if (this.transition.plan && !this.transition.plan.streamManagers.some((s) => s.containerId === containerId))
            this.mesh.forget(containerId, (frame, reason) => this.drop(frame, reason));
        },
        greeting: () => {
          const avoided = this.host.localAvoided;
          return [
            ...(this.pressure.announcing ? [{ type: 'bp-start', containerId: me } as const] : []),
            ...(avoided.length > 0 ? [{ type: 'avoid-tasks', containerId: me, tasks: avoided } as const] : []),
          ];
        },
      },
    });
    this.transition = new PlanTransition({
      containerId: me,
      logger: this.logger,
      ports: {
        route: (frame) => this.route(frame, frame.buffer as ArrayBuffer),
        unplacedBacklog: (bytes) => this.applyPressure(this.pressure.unplacedBacklog(bytes)),
        flushHeld: () => {
          for (const frame of this.pressure.takeHeld()) this.route(new Uint8Array(frame), frame);
        },
        sendToPeer: (containerId, frame) => void this.mesh.send(containerId, frame),
        stopRemoved: (taskIds) => this.stopRemoved(taskIds),
        handOff: (version) => this.handOff(version),
        applied: (version) => this.tmLink?.sendControl({ type: 'plan-applied', containerId: me, version } satisfies PlanAppliedMessage),
      },
    });
  }

  get port(): number {
    return this.dataPort;
  }

  async start(): Promise<void> {
    this.dataPort = await this.mesh.listen();
    try {
      await this.host.startAll();
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
      this.stallTimer = setInterval(() => this.applyPressure(this.pressure.checkStalls()), STALL_CHECK_MS);
      this.stallTimer.unref();
    }
    this.host.startSupervision();
  }

  /** A frame from a local instance: to a local worker, or to the peer hosting the destination task. */
  private route(view: Uint8Array, buffer: ArrayBuffer): void {
    const destTask = destTaskOf(view);
    if (this.host.deliver(destTask, buffer)) return;
    const containerId = this.transition.containerOf(destTask);
    const backlog = containerId === undefined ? undefined : this.mesh.send(containerId, view);
    if (backlog === undefined) {
      this.drop(view, containerId === this.options.container.id ? 'its task stopped here' : 'no container hosts its task');
      return;
    }
    this.onPeerBacklog(containerId!, backlog);
  }

  /** A peer connection's backlog, after a send or while it is watched; returns whether to keep watching it. */
  private readonly onPeerBacklog = (containerId: number, backlogBytes: number): boolean => {
    const decision = this.pressure.peerBacklog(containerId, backlogBytes);
    if (decision) this.applyPressure(decision);
    if (!this.pressure.peerCongested(containerId)) return false;
    this.mesh.watchBacklog(containerId, this.onPeerBacklog);
    return true;
  };

  /** A frame from a peer stream manager, for one of our instances or one a newer plan gives us. */
  private deliverLocal(frame: Buffer): void {
    const destTask = destTaskOf(frame);
    const copy = new ArrayBuffer(frame.length);
    new Uint8Array(copy).set(frame);
    if (this.host.deliver(destTask, copy)) return;
    if (this.transition.containerOf(destTask) !== undefined) this.route(new Uint8Array(copy), copy);
    else this.transition.holdUnplaced(new Uint8Array(copy));
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
    // Effectively-once promises nothing lost: the topology goes back to its latest checkpoint instead.
    if (this.options.delivery?.reliability === 'effectively-once' && this.rollbackAskedInEpoch !== this.epoch) {
      this.rollbackAskedInEpoch = this.epoch;
      this.tmLink?.sendControl({
        type: 'state-lost',
        containerId: this.options.container.id,
        taskId: destTaskOf(frame),
        reason: `a frame for it was dropped: ${reason}`,
      } satisfies StateLostMessage);
    }
  }

  /**
   * Carries out what the backpressure controller decided: tell the peers, pause the spouts, or release what they emitted while paused
   * and resume them.
   */
  private applyPressure(decision: BackpressureDecision | undefined): void {
    if (!decision) return;
    if (decision.announce) {
      this.logger.debug(decision.announce === 'bp-start' ? 'backpressure started' : 'backpressure stopped', { cause: decision.cause });
      this.mesh.broadcast({ type: decision.announce, containerId: this.options.container.id });
    }
    if (!decision.spouts) return;
    if (decision.spouts === 'resume') {
      this.pressure.releaseHeld((frame) => this.route(new Uint8Array(frame), frame));
      // Releasing them started backpressure again: the spouts stay paused.
      if (this.pressure.spoutsPaused) return;
    }
    this.host.pauseSpouts(decision.spouts === 'pause');
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
        link.on('control', (message) => this.onMasterMessage(message as unknown as FromTopologyMaster));
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
          fresh: !this.registered,
          epoch: this.epoch,
        });
        this.registered = true;
        return;
      } catch (error) {
        const delay = Math.min(2000, 50 * 2 ** attempt);
        this.logger.debug('topology master not reachable yet', { error, retryInMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private onMasterMessage(message: FromTopologyMaster): void {
    switch (message.type) {
      case 'pplan':
        this.applyPlan(message.plan);
        break;
      case 'checkpoint':
        for (const instance of this.host.hosted)
          if (instance.isSpout) this.host.postControl(instance.taskId, { type: 'checkpoint', id: message.id });
        break;
      case 'checkpoint-committed':
        for (const instance of this.host.hosted)
          if (instance.running) this.host.postControl(instance.taskId, { type: 'committed', id: message.id });
        break;
      case 'restore':
        void this.restore(message);
        break;
      default:
        break;
    }
  }

  /**
   * Effectively-once: every local instance starts over in the message's epoch from its state in the
   * checkpoint (a keyed component gets every part of its component and keeps its key groups).
   */
  private async restore(message: RestoreMessage): Promise<void> {
    if (message.epoch < this.epoch) return;
    this.epoch = message.epoch;
    // Handoffs under way were for state the rollback replaces.
    for (const handoff of [...this.handoffs.values()]) handoff.done();
    const instances = this.host.hosted.filter((i) => !i.removed);
    const restoring = { epoch: message.epoch, waiting: new Set(instances.map((i) => i.taskId)) };
    this.restoring = restoring;
    const checkpoint = message.checkpoint;
    const topology = { topologyName: this.options.definition.name, topologyId: this.options.definition.id };
    for (const instance of instances) {
      let parts: Uint8Array[] = [];
      if (checkpoint && this.options.checkpoints) {
        const component = this.options.definition.components.find((c) => c.name === instance.component)!;
        const names = checkpoint.parts
          .map((p) => p.part)
          .filter((part) =>
            isKeyed(component)
              ? componentOfPart(part) === instance.component
              : part === checkpointPart(instance.component, instance.componentIndex),
          );
        try {
          const loaded = await Promise.all(names.map((part) => this.options.checkpoints!.load(topology, checkpoint.checkpointId, part)));
          const missing = names.filter((_, i) => loaded[i] === undefined);
          if (missing.length > 0) throw new CheckpointError(`checkpoint ${checkpoint.checkpointId} has no part(s) ${missing.join(', ')}`);
          parts = loaded as Uint8Array[];
        } catch (error) {
          // Starting without its state would break effectively-once: the instance waits, and the
          // topology rolls back again (after a pause, so a storage that is down is not hammered).
          const reason = `could not load its state from checkpoint ${checkpoint.checkpointId}: ${describeError(error)}`;
          this.logger.error(`instance ${instance.taskId} ${reason}; asking for another rollback`, { epoch: message.epoch });
          setTimeout(() => {
            if (this.epoch === message.epoch)
              this.tmLink?.sendControl({
                type: 'state-lost',
                containerId: this.options.container.id,
                taskId: instance.taskId,
                reason,
              } satisfies StateLostMessage);
          }, RESTORE_RETRY_MS).unref();
          continue;
        }
      }
      if (this.restoring !== restoring) return;
      // Copies with buffers of their own: a loaded Buffer may share its memory with others, which a transfer would take from them.
      const copies = parts.map((part) => new Uint8Array(part));
      this.host.postControl(
        instance.taskId,
        {
          type: 'restore',
          epoch: message.epoch,
          ...(checkpoint ? { checkpointId: checkpoint.checkpointId } : {}),
          parts: copies,
          ...(message.groupsFromPeers ? { groupsFromPeers: true } : {}),
        },
        copies.map((part) => part.buffer as ArrayBuffer),
      );
    }
    this.checkRestored();
  }

  private checkRestored(): void {
    const restoring = this.restoring;
    if (!restoring || restoring.waiting.size > 0) return;
    this.restoring = undefined;
    this.tmLink?.sendControl({
      type: 'restored',
      containerId: this.options.container.id,
      epoch: restoring.epoch,
    } satisfies RestoredMessage);
  }

  private onDeliveryMessage(
    taskId: number,
    message: Extract<FromInstance, { type: 'snapshot' | 'restored' | 'key-groups' | 'handoff-done' }>,
  ): void {
    if (message.type !== 'snapshot') this.logger.debug(`instance ${taskId}: ${message.type}`, { ...message, data: undefined });
    switch (message.type) {
      case 'snapshot':
        void this.storeSnapshot(taskId, message.id, message.data);
        break;
      case 'restored':
        if (this.restoring?.epoch === message.epoch) {
          this.restoring.waiting.delete(taskId);
          this.checkRestored();
        }
        break;
      case 'key-groups':
        this.deliverKeyGroups({
          type: 'key-groups',
          toTask: message.toTask,
          epoch: message.epoch,
          groups: message.groups,
          data: message.data,
        });
        break;
      case 'handoff-done': {
        const handoff = this.handoffs.get(message.version);
        if (!handoff) break;
        handoff.waiting.delete(taskId);
        if (handoff.waiting.size === 0) handoff.done();
        break;
      }
    }
  }

  private async storeSnapshot(taskId: number, id: number, data: Uint8Array): Promise<void> {
    const instance = this.host.hosted.find((i) => i.taskId === taskId);
    if (!instance || !this.options.checkpoints) return;
    const part = checkpointPart(instance.component, instance.componentIndex);
    try {
      await this.options.checkpoints.store(
        { topologyName: this.options.definition.name, topologyId: this.options.definition.id },
        id,
        part,
        data,
      );
    } catch (error) {
      // The checkpoint stays incomplete; the topology master abandons it and takes the next one.
      this.logger.error('could not store an instance state for a checkpoint', { checkpoint: id, part, error: describeError(error) });
      return;
    }
    this.tmLink?.sendControl({
      type: 'checkpoint-saved',
      containerId: this.options.container.id,
      id,
      part,
      bytes: data.byteLength,
    } satisfies CheckpointSavedMessage);
  }

  /** Key groups for a task: to its worker here, or to the stream manager hosting it. */
  private deliverKeyGroups(message: KeyGroupsMessage): void {
    this.logger.debug('key groups for a task', { task: message.toTask, groups: message.groups.length, epoch: message.epoch });
    // A copy with a buffer of its own: a received Buffer may share its memory with others, which a transfer would take from them.
    const data = new Uint8Array(message.data);
    const local = this.host.postControl(message.toTask, { type: 'key-groups', epoch: message.epoch, groups: [...message.groups], data }, [
      data.buffer as ArrayBuffer,
    ]);
    if (local) return;
    const containerId = this.transition.containerOf(message.toTask);
    if (containerId === undefined || !this.mesh.sendControl(containerId, { ...message, data })) {
      this.logger.error('key groups for a task no container hosts; the next rollback restores them', {
        task: message.toTask,
        groups: message.groups.length,
      });
    }
  }

  /**
   * Effectively-once: after a plan change is fenced, every local bolt hands the key groups it no
   * longer owns to their new owners and waits for the ones it gained; then the change may complete.
   */
  private handOff(version: number): Promise<void> {
    if (this.options.delivery?.reliability !== 'effectively-once') return Promise.resolve();
    const bolts = this.host.hosted.filter((i) => !i.isSpout && i.running);
    if (bolts.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const waiting = [...(this.handoffs.get(version)?.waiting ?? [])];
        // Key groups that did not arrive cannot be made up here: the topology rolls back to its latest
        // checkpoint, which restores every key group to its owner by the new plan.
        this.logger.error(
          'local instances did not finish handing off key groups in time; completing the plan change and asking for a rollback',
          {
            version,
            waiting,
          },
        );
        for (const taskId of waiting)
          this.tmLink?.sendControl({
            type: 'state-lost',
            containerId: this.options.container.id,
            taskId,
            reason: `its key groups were not handed over within ${HANDOFF_TIMEOUT_MS} ms of plan ${version}`,
          } satisfies StateLostMessage);
        done();
      }, HANDOFF_TIMEOUT_MS);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.handoffs.delete(version);
        resolve();
      };
      this.handoffs.set(version, { waiting: new Set(bolts.map((b) => b.taskId)), done });
      this.logger.debug('handing off key groups', { version, bolts: bolts.map((b) => b.taskId) });
      for (const bolt of bolts) this.host.postControl(bolt.taskId, { type: 'handoff', version });
    });
  }

  private applyPlan(plan: PhysicalPlan): void {
    const previous = this.transition.adopt(plan);
    this.mesh.connect(plan.streamManagers);
    const removed = this.host.adopt(plan);
    this.transition.placeUnplaced();
    const { waiting, configured } = this.host.announcePlan(plan, previous);
    if (configured) {
      this.configRounds.set(plan.version, { waiting: configured, failures: [] });
      this.onConfigApplied(undefined, plan.version, undefined);
    }
    this.transition.begin(plan, previous, waiting, removed);
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
    this.tmLink?.sendControl({
      type: 'config-applied',
      containerId: this.options.container.id,
      version,
      failures: round.failures,
    } satisfies ConfigAppliedMessage);
  }

  /**
   * Stops the instances a plan dropped after they executed everything queued for them, reports
   * their final counts (the metrics cache keeps them, so cumulative counts survive a scale-down),
   * and forgets them.
   */
  private async stopRemoved(taskIds: readonly number[]): Promise<void> {
    if (taskIds.length === 0) return;
    const stopped = await this.host.stopInstances(taskIds);
    if (stopped.length === 0) return;
    this.reportMetrics();
    this.host.forget(stopped);
  }

  /** An instance cannot (re)start, or the container is over its RAM: exit, and let the pool restart the container. */
  private async restartContainer(): Promise<void> {
    await this.reportStartFailures();
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  }

  /**
   * Tells the topology master which instances failed to start, over the registered link or, before
   * registration, over a connection of its own; gives up after a few seconds, since the container
   * exits either way.
   */
  private async reportStartFailures(): Promise<void> {
    const failures = this.host.takeStartFailures();
    if (failures.length === 0) return;
    for (const failure of failures)
      this.logger.error(`instance ${failure.instance} failed to start`, { error: failure.message, stack: failure.stack });
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

  /**
   * Reports fall on multiples of the interval in wall-clock time, so every container of a topology
   * reports at the same instants and components can be compared with each other.
   */
  private scheduleReport(): void {
    const interval = this.options.metricsIntervalMs;
    this.metricsTimer = setTimeout(
      () => {
        this.reportMetrics();
        if (!this.stopping) this.scheduleReport();
      },
      interval - (Date.now() % interval),
    );
    this.metricsTimer.unref();
  }

  private reportMetrics(): void {
    this.sendCounters('metrics');
  }

  /** A series sample (`metrics`) or a heartbeat between samples (`counters`) to the metrics cache. */
  private sendCounters(type: MetricsReport['type']): void {
    if (!this.tmLink) return;
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const report: MetricsReport = {
      type,
      containerId: this.options.container.id,
      incarnation: this.incarnation,
      timestamp: Date.now(),
      instances: this.host.samples(),
      streamManager: {
        backpressureInitiatedMs: this.pressure.initiatedMs,
        spoutsPausedMs: this.pressure.spoutsPausedMs,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        droppedFrames: this.droppedFrames,
        droppedTuples: this.droppedTuples,
        ramLimitBytes: this.host.ramLimitBytes,
      },
    };
    this.tmLink.sendControl(report);
  }

  /** Stops spouts, lets instances close, and closes every connection. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.transition.stop();
    this.mesh.stopReconnecting();
    clearTimeout(this.metricsTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.stallTimer);
    await this.host.stop();
    // What the instances emitted last — a removed container's final output among it — must reach
    // the peers before this process exits.
    await this.mesh.close(PEER_DRAIN_TIMEOUT_MS, (frame, reason) => this.drop(frame, reason));
    this.reportMetrics();
    await this.tmLink?.closeGracefully(PEER_DRAIN_TIMEOUT_MS);
  }
}
