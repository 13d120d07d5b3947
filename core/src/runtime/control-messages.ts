import { InstanceStartError } from '../errors/index.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { CheckpointManifest } from '../spi/checkpoint-storage.js';
import type { InstanceCounters } from './instance/messages.js';

/** First message on every connection, from the accepting side. */
export interface Challenge {
  readonly type: 'challenge';
  readonly nonce: string;
}

/** The connecting side's answer: who it is and the HMAC of the nonce under the topology secret. */
export interface ChallengeAnswer {
  readonly type: 'answer';
  readonly role: 'stmgr' | 'peer';
  readonly containerId: number;
  readonly topologyId: string;
  readonly proof: string;
}

export interface Register {
  readonly type: 'register';
  readonly containerId: number;
  readonly host: string;
  readonly dataPort: number;
  readonly taskIds: readonly number[];
  /**
   * Effectively-once: the process has not registered before, so its instances have no state yet
   * (a first start, a restarted container, or one an update added), and the epoch it runs in.
   */
  readonly fresh?: boolean;
  readonly epoch?: number;
}

/** Effectively-once, topology master to stream managers: spouts save their state for checkpoint `id` and send its markers. */
export interface CheckpointStartMessage {
  readonly type: 'checkpoint';
  readonly id: number;
}

/** Stream manager to topology master: one instance's part of checkpoint `id` is stored. */
export interface CheckpointSavedMessage {
  readonly type: 'checkpoint-saved';
  readonly containerId: number;
  readonly id: number;
  readonly part: string;
  readonly bytes: number;
}

/** Topology master to stream managers: checkpoint `id` is committed (its instances' postSave may run). */
export interface CheckpointCommittedMessage {
  readonly type: 'checkpoint-committed';
  readonly id: number;
}

/**
 * Topology master to stream managers: every instance starts over in `epoch` from its state in
 * `checkpoint` (none: empty state). `groupsFromPeers`: the container was added by an update, so its
 * instances get the key groups they own from their previous owners instead.
 */
export interface RestoreMessage {
  readonly type: 'restore';
  readonly epoch: number;
  readonly checkpoint?: CheckpointManifest;
  readonly groupsFromPeers?: boolean;
}

/** Stream manager to topology master: every local instance runs in `epoch` with its restored state. */
export interface RestoredMessage {
  readonly type: 'restored';
  readonly containerId: number;
  readonly epoch: number;
}

/** Stream manager to topology master: an instance's worker was lost with its state; the topology must roll back. */
export interface StateLostMessage {
  readonly type: 'state-lost';
  readonly containerId: number;
  readonly taskId: number;
  readonly reason: string;
}

/** Between stream managers: the state of key groups a rescale moved to task `toTask`. */
export interface KeyGroupsMessage {
  readonly type: 'key-groups';
  readonly toTask: number;
  readonly epoch: number;
  readonly groups: readonly number[];
  readonly data: Uint8Array;
}

export interface PhysicalPlanMessage {
  readonly type: 'pplan';
  readonly plan: PhysicalPlan;
}

/** Sent by a stream manager to every peer when it starts or stops causing backpressure. */
export interface BackpressureMessage {
  readonly type: 'bp-start' | 'bp-stop';
  readonly containerId: number;
}

/**
 * Sent by a stream manager to every peer whenever the set changes (and to a peer it connects to):
 * its local tasks whose worker hung and is being restarted. Every stream manager tells its
 * instances to route shuffle traffic around the union of all peers' sets.
 */
export interface AvoidTasksMessage {
  readonly type: 'avoid-tasks';
  readonly containerId: number;
  readonly tasks: readonly number[];
}

/**
 * Sent by a stream manager to every peer, on the same connection as its data, once all its instances
 * route by plan `version`: no frame routed by an older plan follows it. A stream manager that has the
 * fence of every peer knows the queues of instances that plan removed are final.
 */
export interface FenceMessage {
  readonly type: 'fence';
  readonly containerId: number;
  readonly version: number;
}

/** Sent to the topology master once a container runs exactly the instances of plan `version`. */
export interface PlanAppliedMessage {
  readonly type: 'plan-applied';
  readonly containerId: number;
  readonly version: number;
}

/**
 * Sent by a stream manager when an instance fails to start (its `open` or `prepare` threw, or its
 * worker could not load the topology), before its container exits: the topology master keeps it
 * until that container registers, so that whoever waits for the topology can say why it does not run.
 */
export interface InstanceFailedMessage {
  readonly type: 'instance-failed';
  readonly containerId: number;
  /** As in metrics and the physical plan (`container_<id>_<component>_<task>`). */
  readonly instance: string;
  readonly component: string;
  readonly message: string;
  readonly stack?: string;
}

export type InstanceFailure = Omit<InstanceFailedMessage, 'type'>;

/** The one-line error for a failed instance; the stack goes under it. */
export function instanceStartError(failure: InstanceFailure): InstanceStartError {
  return new InstanceStartError(`instance ${failure.instance} of component '${failure.component}' failed to start: ${failure.message}`, {
    ...(failure.stack ? { detail: failure.stack } : {}),
  });
}

/**
 * Sent to the topology master once every local instance whose runtime config plan `version` changed
 * has run its `onConfigChange`: which of them threw, and what.
 */
export interface ConfigAppliedMessage {
  readonly type: 'config-applied';
  readonly containerId: number;
  readonly version: number;
  readonly failures: readonly ConfigFailure[];
}

export interface ConfigFailure {
  readonly instance: string;
  readonly component: string;
  readonly message: string;
}

export interface InstanceMetricsSample extends InstanceCounters {
  readonly component: string;
  readonly taskId: number;
  /** Bytes delivered to the instance and not yet executed. */
  readonly pendingBytes: number;
  /** The most bytes that were ever pending at once. */
  readonly maxPendingBytes: number;
  /** How often the stream manager restarted this instance's worker after it died or it terminated it (hung, over memory). */
  readonly restarts: number;
  /** Cumulative milliseconds this instance's queue was above the high watermark. */
  readonly backpressureMs: number;
  /** Spouts that report one: the backlog at their source, as last sampled. */
  readonly backlog?: number;
  /** Of `restarts`: workers the stream manager terminated because they hung (see `hungInstanceMs`). */
  readonly hungRestarts?: number;
  /** Of `restarts`: workers the stream manager terminated because the container exceeded its RAM. */
  readonly memoryRestarts?: number;
  /** The worker's own memory (V8 heap plus Buffers and ArrayBuffers), as last sampled. */
  readonly memoryBytes?: number;
  /** Cumulative emits per output stream; they add up to `emitted`. */
  readonly emittedByStream?: Readonly<Record<string, number>>;
  /** The last error the instance's workers reported (see `errors` for how many there were). */
  readonly lastError?: InstanceErrorReport;
}

/** An error of user code, as a worker reported it. */
export interface InstanceErrorReport {
  readonly message: string;
  readonly stack?: string;
  /** When the stream manager heard of it (ms since the epoch). */
  readonly at: number;
}

export interface StreamManagerMetricsSample {
  /** Cumulative milliseconds this stream manager announced backpressure. */
  readonly backpressureInitiatedMs: number;
  /** Cumulative milliseconds the local spouts were paused, whoever caused it. */
  readonly spoutsPausedMs: number;
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /**
   * Frames (and the tuples in them) this stream manager could deliver nowhere. Always 0 unless the
   * engine has a bug or a plan change timed out: a drop is logged as an error.
   */
  readonly droppedFrames: number;
  readonly droppedTuples: number;
  /** The container's RAM in the packing plan, which the stream manager keeps RSS below. */
  readonly ramLimitBytes?: number;
}

export interface MetricsReport {
  /**
   * `metrics`: a sample of the container's series, taken at a multiple of the metrics interval.
   * `counters`: the same values sent between samples (a heartbeat), so the metrics cache knows what a
   * process had counted shortly before it died; it adds nothing to the series.
   */
  readonly type: 'metrics' | 'counters';
  readonly containerId: number;
  /**
   * Identifies the process (one run of the container's executor) that counted: every process
   * counts from zero, so the metrics cache carries a previous incarnation's last counts forward.
   */
  readonly incarnation: string;
  readonly timestamp: number;
  readonly instances: Readonly<Record<string, InstanceMetricsSample>>;
  readonly streamManager: StreamManagerMetricsSample;
}

export type ToTopologyMaster =
  | ChallengeAnswer
  | Register
  | MetricsReport
  | PlanAppliedMessage
  | InstanceFailedMessage
  | ConfigAppliedMessage
  | CheckpointSavedMessage
  | RestoredMessage
  | StateLostMessage;
export type FromTopologyMaster =
  | Challenge
  | PhysicalPlanMessage
  | CheckpointStartMessage
  | CheckpointCommittedMessage
  | RestoreMessage
  | { readonly type: 'rejected'; readonly reason: string };
export type PeerMessage = ChallengeAnswer | BackpressureMessage | FenceMessage | AvoidTasksMessage | KeyGroupsMessage;
