import type { PhysicalPlan } from '../model/runtime-state.js';
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
  /** The container's RAM in the packing plan, which the stream manager keeps RSS below. */
  readonly ramLimitBytes?: number;
}

export interface MetricsReport {
  readonly type: 'metrics';
  readonly containerId: number;
  readonly timestamp: number;
  readonly instances: Readonly<Record<string, InstanceMetricsSample>>;
  readonly streamManager: StreamManagerMetricsSample;
}

export type ToTopologyMaster = ChallengeAnswer | Register | MetricsReport | PlanAppliedMessage | ConfigAppliedMessage;
export type FromTopologyMaster = Challenge | PhysicalPlanMessage | { readonly type: 'rejected'; readonly reason: string };
export type PeerMessage = ChallengeAnswer | BackpressureMessage | FenceMessage | AvoidTasksMessage;
