import { performance } from 'node:perf_hooks';
import type { BackpressureMessage } from '../control-messages.js';

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

/**
 * What the stream manager must do after an event changed the backpressure state. Nothing to do is
 * `undefined`, so the events of the data path allocate nothing.
 */
export interface BackpressureDecision {
  /** Tell every peer that this stream manager starts or stops causing backpressure. */
  readonly announce?: BackpressureMessage['type'];
  /** Pause or resume the local spouts. */
  readonly spouts?: 'pause' | 'resume';
  /** With `resume`: what the spouts emitted while paused, to route now, in order. */
  readonly release?: readonly ArrayBuffer[];
  /** The cause that started or ended this stream manager's backpressure, or the peer that changed the spouts' state. */
  readonly cause: string;
}

/** One local instance's queue as the controller sees it (see {@link BackpressureController.track}). */
export interface InstanceLoad {
  readonly taskId: number;
  /** Bytes delivered to the instance and not yet executed. */
  readonly pendingBytes: number;
  /** The most bytes that were ever pending at once. */
  readonly maxPendingBytes: number;
  /** When each frame not yet executed was delivered (the controller's clock), oldest first. */
  readonly deliveries: readonly number[];
}

class TrackedLoad implements InstanceLoad {
  pendingBytes = 0;
  maxPendingBytes = 0;
  deliveries: number[] = [];
  lastConsumedAt = 0;
  /** Moving average of how long the instance takes per frame, in ms. */
  serviceMs = 1;
  /** Since when it is a cause, if it is. */
  overSince: number | undefined = undefined;
  /** It became a cause by the time trigger rather than the byte watermark. */
  stalled = false;
  /** Time it was a cause, up to its latest relief. */
  backpressureMs = 0;

  constructor(readonly taskId: number) {}
}

/** Only {@link BackpressureController.track} makes loads, so every load handed back is one of these. */
function tracked(load: InstanceLoad): TrackedLoad {
  return load as TrackedLoad;
}

/**
 * Decides when this stream manager starts and stops backpressure and when its spouts pause and
 * resume, from events: bytes delivered to and consumed by each local instance, the backlog of each
 * peer connection and of frames waiting for a plan, peers' announcements, and periodic stall checks.
 * Pure bookkeeping: no sockets, no timers, and one injected clock (milliseconds, monotonic), so it
 * can be driven step by step.
 *
 * Each queue has hysteresis: it becomes a cause above the high watermark and stops being one at or
 * below the low one. While it has any cause, this stream manager announces backpressure (once, on
 * the first cause) and stops announcing when the last one ends. Its spouts are paused while it or any
 * peer announces; what they emit before they see the pause is held here and released on resume.
 */
export class BackpressureController {
  private readonly loads = new Set<TrackedLoad>();
  private readonly overInstances = new Set<TrackedLoad>();
  private readonly congestedPeers = new Set<number>();
  private unplacedOver = false;
  private readonly peersAnnouncing = new Set<number>();
  private paused = false;
  private held: ArrayBuffer[] = [];
  private initiatedSince: number | undefined;
  private initiatedTotalMs = 0;
  private pausedSince: number | undefined;
  private pausedTotalMs = 0;

  constructor(
    private readonly settings: BackpressureSettings,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Local spouts must not emit: this stream manager or a peer announces backpressure. */
  get spoutsPaused(): boolean {
    return this.paused;
  }

  /** This stream manager has a cause of its own, so every peer must know (a peer that connects, too). */
  get announcing(): boolean {
    return this.causes() > 0;
  }

  /** Starts accounting for a local instance's queue. */
  track(taskId: number): InstanceLoad {
    const load = new TrackedLoad(taskId);
    this.loads.add(load);
    return load;
  }

  /** The instance is gone: its queue is no longer a cause. */
  untrack(load: InstanceLoad): BackpressureDecision | undefined {
    const state = tracked(load);
    this.loads.delete(state);
    return this.overInstances.delete(state) ? this.ended(`task-${state.taskId}`) : undefined;
  }

  /** A frame of `bytes` was delivered to the instance (or to its backlog while its worker restarts). */
  delivered(load: InstanceLoad, bytes: number): BackpressureDecision | undefined {
    const state = tracked(load);
    const now = this.now();
    state.pendingBytes += bytes;
    state.deliveries.push(now);
    if (state.pendingBytes > state.maxPendingBytes) state.maxPendingBytes = state.pendingBytes;
    if (state.overSince !== undefined || state.pendingBytes <= this.settings.highWatermarkBytes) return undefined;
    state.overSince = now;
    return this.startInstanceCause(state);
  }

  /** The instance finished executing its oldest frame, of `bytes`. */
  consumed(load: InstanceLoad, bytes: number): BackpressureDecision | undefined {
    const state = tracked(load);
    state.pendingBytes -= bytes;
    const now = this.now();
    const delivered = state.deliveries.shift();
    if (delivered !== undefined) {
      const sample = now - Math.max(delivered, state.lastConsumedAt);
      state.serviceMs = state.serviceMs * 0.9 + sample * 0.1;
    }
    state.lastConsumedAt = now;
    if (state.overSince === undefined || state.pendingBytes > this.settings.lowWatermarkBytes) return undefined;
    // A stall ends when the oldest waiting frame is young again, not merely when few bytes wait.
    if (state.stalled && state.deliveries.length > 0 && now - state.deliveries[0]! >= this.stallThreshold(state) / 2) return undefined;
    state.backpressureMs += now - state.overSince;
    state.overSince = undefined;
    state.stalled = false;
    this.overInstances.delete(state);
    return this.ended(`task-${state.taskId}`);
  }

  /**
   * The instance's worker died: what was delivered to it is lost, except `keptBytes` of frames that
   * wait in its backlog for the next worker.
   */
  workerLost(load: InstanceLoad, keptBytes: number): BackpressureDecision | undefined {
    const state = tracked(load);
    const decision = this.consumed(state, state.pendingBytes - keptBytes);
    state.deliveries = [];
    return decision;
  }

  /** A new worker was handed the `frames` that waited in its backlog: they wait from now on. */
  redelivered(load: InstanceLoad, frames: number): void {
    const now = this.now();
    tracked(load).deliveries = Array.from({ length: frames }, () => now);
  }

  /**
   * The time trigger (see {@link BackpressureSettings.stallMs}): an instance whose oldest queued frame
   * has waited too long becomes a cause. Call it every few milliseconds.
   */
  checkStalls(): BackpressureDecision | undefined {
    if (!this.settings.stallMs) return undefined;
    const now = this.now();
    let decision: BackpressureDecision | undefined;
    for (const state of this.loads) {
      if (state.overSince !== undefined || state.deliveries.length === 0) continue;
      if (now - state.deliveries[0]! > this.stallThreshold(state)) {
        state.overSince = now;
        state.stalled = true;
        decision = this.startInstanceCause(state) ?? decision;
      }
    }
    return decision;
  }

  /** The bytes a peer connection has accepted and not yet written (0 while it is not connected). */
  peerBacklog(containerId: number, bytes: number): BackpressureDecision | undefined {
    if (this.congestedPeers.has(containerId)) {
      if (bytes > this.settings.lowWatermarkBytes) return undefined;
      this.congestedPeers.delete(containerId);
      return this.ended(`peer-${containerId}`);
    }
    if (bytes <= this.settings.highWatermarkBytes) return undefined;
    this.congestedPeers.add(containerId);
    return this.started(`peer-${containerId}`);
  }

  /** The peer connection is a cause until a {@link peerBacklog} at or below the low watermark. */
  peerCongested(containerId: number): boolean {
    return this.congestedPeers.has(containerId);
  }

  /** The bytes of frames from peers that wait for a plan naming their task. */
  unplacedBacklog(bytes: number): BackpressureDecision | undefined {
    if (this.unplacedOver) {
      if (bytes > this.settings.lowWatermarkBytes) return undefined;
      this.unplacedOver = false;
      return this.ended('unplaced');
    }
    if (bytes <= this.settings.highWatermarkBytes) return undefined;
    this.unplacedOver = true;
    return this.started('unplaced');
  }

  /** A peer announced that it starts or stops causing backpressure. */
  peerAnnounced(message: BackpressureMessage): BackpressureDecision | undefined {
    if (message.type === 'bp-start') this.peersAnnouncing.add(message.containerId);
    else this.peersAnnouncing.delete(message.containerId);
    return this.spoutsDecision(`peer-${message.containerId}`);
  }

  /** A peer's connection closed: whatever it announced no longer holds. */
  peerGone(containerId: number): BackpressureDecision | undefined {
    return this.peersAnnouncing.delete(containerId) ? this.spoutsDecision(`peer-${containerId}`) : undefined;
  }

  /** Keeps what a spout emitted while paused (it had not seen the pause yet) until the resume. */
  hold(frames: readonly ArrayBuffer[]): void {
    this.held.push(...frames);
  }

  /** Hands over the held spout output, e.g. to route it before a plan change fences the old plan. */
  takeHeld(): ArrayBuffer[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /** Cumulative time the instance's queue was a cause, the current episode included. */
  backpressureMs(load: InstanceLoad): number {
    const state = tracked(load);
    return state.backpressureMs + (state.overSince === undefined ? 0 : this.now() - state.overSince);
  }

  /** Cumulative time this stream manager announced backpressure. */
  get initiatedMs(): number {
    return this.initiatedTotalMs + (this.initiatedSince === undefined ? 0 : this.now() - this.initiatedSince);
  }

  /** Cumulative time the local spouts were paused, whoever caused it. */
  get spoutsPausedMs(): number {
    return this.pausedTotalMs + (this.pausedSince === undefined ? 0 : this.now() - this.pausedSince);
  }

  private stallThreshold(state: TrackedLoad): number {
    return Math.max(this.settings.stallMs ?? 0, 4 * state.serviceMs);
  }

  private causes(): number {
    return this.overInstances.size + this.congestedPeers.size + (this.unplacedOver ? 1 : 0);
  }

  private startInstanceCause(state: TrackedLoad): BackpressureDecision | undefined {
    this.overInstances.add(state);
    return this.started(`task-${state.taskId}`);
  }

  /** A cause was just added: the first one starts the announcement. */
  private started(cause: string): BackpressureDecision | undefined {
    if (this.causes() !== 1) return undefined;
    this.initiatedSince = this.now();
    return { announce: 'bp-start', ...this.spoutsDecision(cause), cause };
  }

  /** A cause was just removed: the last one stops the announcement. */
  private ended(cause: string): BackpressureDecision | undefined {
    if (this.causes() > 0) return undefined;
    if (this.initiatedSince !== undefined) this.initiatedTotalMs += this.now() - this.initiatedSince;
    this.initiatedSince = undefined;
    return { announce: 'bp-stop', ...this.spoutsDecision(cause), cause };
  }

  private spoutsDecision(cause: string): BackpressureDecision | undefined {
    const pause = this.causes() > 0 || this.peersAnnouncing.size > 0;
    if (pause === this.paused) return undefined;
    this.paused = pause;
    const now = this.now();
    if (pause) {
      this.pausedSince = now;
      return { spouts: 'pause', cause };
    }
    if (this.pausedSince !== undefined) this.pausedTotalMs += now - this.pausedSince;
    this.pausedSince = undefined;
    return { spouts: 'resume', release: this.takeHeld(), cause };
  }
}
