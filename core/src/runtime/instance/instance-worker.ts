/**
 * Entry point of one spout or bolt instance, run as a worker thread inside its container's executor
 * process. It imports the topology bundle, builds its component, runs it, and talks to the stream
 * manager on the main thread only through messages (see messages.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Bolt, BoltEmitOptions, ComponentContext, Spout, SpoutEmitOptions } from '../../api/component.js';
import type { Tuple } from '../../api/tuple.js';
import { isTopology, MAX_IN_FLIGHT_KEY, ORDERED_KEY, TICK_FREQUENCY_KEY, Topology } from '../../api/topology-builder.js';
import { RuntimeTuple, StreamSchema, SYSTEM_COMPONENT, TICK_STREAM } from '../../api/tuple.js';
import { describeError } from '../../errors/index.js';
import { StreamLogger } from '../../logging/index.js';
import { SHUFFLE_WEIGHTS_KEY } from '../../model/topology.js';
import {
  decodeDataFrame,
  Emitter,
  fieldsHash,
  keyGroupOwner,
  MAX_BATCH_BYTES,
  OutboundBatches,
  StreamTable,
  type StreamEntry,
} from '../routing.js';
import { AckKind } from '../wire/frames.js';
import type { ByteWriter } from '../wire/tuple-codec.js';
import { decodeReliableFrame, epochOf, markerOf, ROOT_WIDTH, sourceTaskOf, writeAckRecord, writeMarkerRecord } from './delivery-frames.js';
import { KeyedState } from './keyed-state.js';
import {
  ACKED,
  COMPLETED,
  COMPLETE_LATENCY_HISTOGRAM,
  COMPLETE_LATENCY_NS,
  latencyBucketOf,
  TIMED_OUT,
  BACKLOG_ARRIVALS,
  BUSY_NS,
  BUSY_SINCE,
  EMITTED,
  ERRORS,
  EXECUTE_NS,
  EXECUTED,
  FAILED,
  MEMORY_BYTES,
  STREAM_EMITTED,
  type FromInstance,
  type InstanceInit,
  type ToInstance,
} from './messages.js';

const port = parentPort!;
const init = workerData as InstanceInit;

/** A spout slice ends after this long, so control messages (pause, deactivate) are seen promptly. */
const SPOUT_SLICE_MS = 2;
/** A spout that emitted nothing is asked again after this pause, instead of spinning. */
const IDLE_SPOUT_DELAY_MS = 1;
const ERROR_REPORT_INTERVAL_MS = 1000;
/** How often a spout's backlog is sampled: well inside the shortest metrics interval. */
const BACKLOG_SAMPLE_MS = 200;
/** How often the worker samples its own memory for its stream manager's RAM check. */
const MEMORY_SAMPLE_MS = 200;

const send = (message: FromInstance, transfer?: ArrayBuffer[]): void => port.postMessage(message, transfer ?? []);

const logger = new StreamLogger({ level: init.logLevel, format: 'json' }, { component: init.component, task: init.taskId });
const definition = init.definition;
const self = definition.components.find((c) => c.name === init.component)!;
const table = new StreamTable(definition);
const batches = new OutboundBatches(init.taskId);
let tasks = new Map((init.tasks ?? []).map(([c, t]) => [c, [...t]]));
/**
 * Whether the instance has a plan to route by. Until the first one arrives (a container that just
 * started), anything it emitted would reach no one, so frames to execute, ticks and emits wait.
 */
let planned = init.tasks !== undefined;
const beforePlan: Array<() => void> = [];
let runtimeConfig = { ...init.runtimeConfig };

const delivery = init.delivery;
const atLeastOnce = delivery.reliability === 'at-least-once';
const effectivelyOnce = delivery.reliability === 'effectively-once';
/** Effectively-once: the rollback epoch this worker runs in; frames of other epochs are not executed. */
let epoch = init.epoch;
batches.epoch = epoch;
/** Effectively-once: a worker runs nothing until it is given its state (a `restore`). */
let awaitingRestore = effectivelyOnce;
/** Frames of a newer epoch than this worker's: they wait for its restore into that epoch. */
let futureFrames: ArrayBuffer[] = [];

const counters = new Float64Array(init.counters);
let lastErrorReport = 0;
const streamSlots = new Map(self.outputs.map((output, index) => [output.id, STREAM_EMITTED + index]));
// Components mostly emit on one stream over and over: remember the last one's slot.
let lastStream = '';
let lastSlot = -1;

/** Counts one emit, in all and on its stream (the emitter has checked that the stream exists). */
function countEmit(stream: string): void {
  counters[EMITTED]++;
  if (stream !== lastStream) {
    lastStream = stream;
    lastSlot = streamSlots.get(stream)!;
  }
  counters[lastSlot]++;
}

function reportError(error: unknown): void {
  counters[ERRORS]++;
  const now = Date.now();
  if (now - lastErrorReport >= ERROR_REPORT_INTERVAL_MS) {
    lastErrorReport = now;
    const stack = error instanceof Error ? error.stack : undefined;
    send({ type: 'error', message: describeError(error), ...(stack ? { stack } : {}) });
  }
}

/** At-least-once: acks of this turn not yet written, by spout task and root (low word): [root high word, XOR high, XOR low]. */
const pendingAcks = new Map<number, Map<number, [number, number, number]>>();

/** Writes the acks of this turn into the batches, one record per root. */
function flushAcks(): void {
  for (const [spoutTask, roots] of pendingAcks) {
    for (const [rootLow, [rootHigh, xorHigh, xorLow]] of roots)
      batches.appendRecord(spoutTask, (writer) => writeAckRecord(writer, AckKind.Ack, rootHigh, rootLow, xorHigh, xorLow));
  }
  pendingAcks.clear();
}

function flush(): void {
  if (pendingAcks.size > 0) flushAcks();
  if (batches.isEmpty) return;
  const frames = batches.take();
  send({ type: 'data', frames }, frames);
}

/**
 * Async components: calls of execute/nextTuple whose promise may be unsettled at once (validated by
 * runtimeSettingsOf at submit), and how many are.
 */
const maxInFlight =
  typeof self.config[MAX_IN_FLIGHT_KEY] === 'number' ? Math.max(1, Math.floor(self.config[MAX_IN_FLIGHT_KEY] as number)) : 1;
let inFlight = 0;
/** When (performance.now()) the time with calls in flight was last added to the busy time. */
let busyMark = 0;
let inFlightSampler: ReturnType<typeof setInterval> | undefined;
/** How often the in-flight busy time is added up while calls stay unsettled, well inside the shortest metrics interval. */
const IN_FLIGHT_SAMPLE_MS = 100;

/**
 * Busy time of async calls: the time since the last mark weighted by the share of the instance's
 * concurrency in use, so an instance whose slots are always full reads busy 1 (its true rate is what
 * it executes) and one using half its slots 0.5. Time inside a synchronous call counts in full (endTurn).
 */
function accrueInFlight(now: number): void {
  if (inFlight > 0) counters[BUSY_NS] += Math.round((now - busyMark) * 1e6 * Math.min(1, inFlight / maxInFlight));
  busyMark = now;
}

/** A call returned a promise: it is in flight until it settles. */
function callStarted(): void {
  inFlight++;
  // Without a sample, a call that stays in flight across a metrics interval would show its busy time only when it settles.
  inFlightSampler ??= setInterval(() => accrueInFlight(performance.now()), IN_FLIGHT_SAMPLE_MS).unref();
}

function callSettled(): void {
  accrueInFlight(performance.now());
  inFlight--;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== undefined && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Whether the worker is inside a synchronous call into the component, whose output the caller flushes. */
let inTurn = false;

/** Starts a synchronous call into the component; its start time, or -1 when already inside one. */
function beginTurn(): number {
  if (inTurn) return -1;
  inTurn = true;
  const start = performance.now();
  if (inFlight > 0) accrueInFlight(start);
  counters[BUSY_SINCE] = Date.now();
  return start;
}

/** Ends the call beginTurn started; the nanoseconds it took (0 for a nested one). */
function endTurn(start: number): number {
  if (start < 0) return 0;
  const end = performance.now();
  const elapsedNs = Math.round((end - start) * 1e6);
  counters[BUSY_NS] += elapsedNs;
  counters[BUSY_SINCE] = 0;
  busyMark = end;
  inTurn = false;
  return elapsedNs;
}

let flushScheduled = false;
const scheduledFlush = (): void => {
  flushScheduled = false;
  flush();
};

/** Output made outside a call the worker flushes after (after an `await`) leaves on the next turn of the event loop. */
function flushSoon(): void {
  if (inTurn || flushScheduled) return;
  flushScheduled = true;
  setImmediate(scheduledFlush);
}

let inconsistencyReported = -1;
/** Effectively-once: this instance's state can no longer be trusted; the topology must roll back (once per epoch). */
function reportInconsistency(reason: string): void {
  if (inconsistencyReported === epoch) return;
  inconsistencyReported = epoch;
  send({ type: 'state-inconsistent', reason });
}

/** Tells the stream manager that delivered bytes left its queue (executed, buffered here, or discarded). */
function credit(bytes: number): void {
  send({ type: 'consumed', bytes });
}

/** A 32-bit random value for tuple-tree edges; XORs of them cancel only when every edge was acked. */
function random32(): number {
  return (Math.random() * 0x100000000) >>> 0;
}

/** Weights a health policy set on this component's shuffle routes, if any. */
function shuffleWeights(): Readonly<Record<string, number>> | undefined {
  const weights = runtimeConfig[SHUFFLE_WEIGHTS_KEY];
  return typeof weights === 'object' && weights !== null ? (weights as Record<string, number>) : undefined;
}

function currentConfig(): Readonly<Record<string, unknown>> {
  return Object.freeze({ ...definition.config, ...self.config, ...runtimeConfig });
}

/** Components keep their context: what comes from the plan is read from the current plan. */
function context(): ComponentContext {
  return {
    topologyName: definition.name,
    topologyId: definition.id,
    componentName: init.component,
    taskId: init.taskId,
    componentIndex: init.componentIndex,
    get parallelism() {
      return tasks.get(init.component)?.length ?? self.parallelism;
    },
    get config() {
      return currentConfig();
    },
    logger,
    taskIdsOf: (component) => tasks.get(component) ?? [],
  };
}

/** What the runners emit through: before the first plan, emits are kept and routed once it is there. */
type Emits = Pick<Emitter, 'emit' | 'emitDirect'>;

function routedOncePlanned(emitter: Emitter): Emits {
  return {
    emit: (stream, values) => {
      if (planned) return emitter.emit(stream, values);
      const held = [...values];
      const trailer = emitter.trailer;
      beforePlan.push(() => withTrailer(emitter, trailer, () => emitter.emit(stream, held)));
      return 0;
    },
    emitDirect: (task, stream, values) => {
      if (planned) return emitter.emitDirect(task, stream, values);
      const held = [...values];
      const trailer = emitter.trailer;
      beforePlan.push(() => withTrailer(emitter, trailer, () => emitter.emitDirect(task, stream, held)));
      return 0;
    },
  };
}

function withTrailer(emitter: Emitter, trailer: Emitter['trailer'], emit: () => number): number {
  emitter.trailer = trailer;
  try {
    return emit();
  } finally {
    emitter.trailer = undefined;
  }
}

/** The first plan: what waited for it runs now, in the order it came. */
function runWhatWaitedForPlan(): void {
  planned = true;
  for (const action of beforePlan.splice(0)) {
    try {
      action();
    } catch (error) {
      reportError(error);
    }
  }
  flush();
}

async function loadTopology(): Promise<Topology> {
  const module = (await import(init.bundleUrl)) as { default?: unknown };
  if (!isTopology(module.default)) {
    throw new Error(`the topology bundle ${init.bundleUrl} does not default-export a topology built with TopologyBuilder`);
  }
  return module.default;
}

/** A tuple tree a spout emitted under at-least-once, until it completes, fails or times out. */
interface PendingTree {
  readonly messageId: unknown;
  readonly emittedAt: number;
  xorHigh: number;
  xorLow: number;
  /** Copies of the spout tuple sent; -1 while it waits for the first plan. */
  copies: number;
}

class SpoutRunner {
  private active = false;
  private paused = false;
  private scheduled = false;
  private pendingAcks: unknown[] = [];
  /** At-least-once: trees by the low word of their root id, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<number, PendingTree>();
  /** The high word of this worker's root ids: acks for trees of an earlier worker of the task are ignored. */
  private readonly rootHigh = random32();
  private nextRoot = 0;
  private readonly completions: Array<[unknown, boolean]> = [];

  constructor(
    private readonly spout: Spout,
    private readonly emitter: Emits,
    private readonly trailers: Emitter,
  ) {
    if (atLeastOnce) setInterval(() => this.expire(), Math.max(50, Math.min(1000, delivery.messageTimeoutMs / 4))).unref();
  }

  readonly collector = {
    emit: (values: readonly unknown[], options?: SpoutEmitOptions) => {
      const stream = options?.stream ?? 'default';
      if (atLeastOnce) this.emitTracked(options?.messageId, () => this.emitter.emit(stream, values));
      else this.emitter.emit(stream, values);
      countEmit(stream);
      // At-most-once: a tracked tuple counts as delivered once it leaves the spout.
      if (!atLeastOnce && !effectivelyOnce && options?.messageId !== undefined) this.pendingAcks.push(options.messageId);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
      flushSoon();
    },
    emitDirect: (taskId: number, values: readonly unknown[], options?: SpoutEmitOptions) => {
      const stream = options?.stream ?? 'default';
      if (atLeastOnce) this.emitTracked(options?.messageId, () => this.emitter.emitDirect(taskId, stream, values));
      else this.emitter.emitDirect(taskId, stream, values);
      countEmit(stream);
      if (!atLeastOnce && !effectivelyOnce && options?.messageId !== undefined) this.pendingAcks.push(options.messageId);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
      flushSoon();
    },
    reportError,
  };

  /**
   * Emits a spout tuple under at-least-once. With a message id it roots a tree: every copy carries
   * the root and an edge value of its own, whose XOR the tree starts from; acks XOR them out again.
   */
  private emitTracked(messageId: unknown, emit: () => number): void {
    if (messageId === undefined) {
      this.trailers.trailer = untrackedTrailer;
      try {
        emit();
      } finally {
        this.trailers.trailer = undefined;
      }
      return;
    }
    const root = (this.nextRoot = (this.nextRoot + 1) >>> 0);
    const tree: PendingTree = { messageId, emittedAt: performance.now(), xorHigh: 0, xorLow: 0, copies: planned ? 0 : -1 };
    this.trailers.trailer = (writer, _destTask) => {
      const high = random32();
      const low = random32();
      writer.u8(1);
      writer.u32(init.taskId);
      writer.u32(this.rootHigh);
      writer.u32(root);
      writer.u32(high);
      writer.u32(low);
      tree.xorHigh ^= high;
      tree.xorLow ^= low;
      if (tree.copies >= 0) tree.copies++;
    };
    try {
      emit();
    } finally {
      this.trailers.trailer = undefined;
    }
    // A tuple no one reads is complete at once.
    if (tree.copies === 0) this.completions.push([messageId, true]);
    else this.pending.set(root, tree);
  }

  /** An ack record for one of this spout's trees (from the frames bolts send it). */
  onAck(kind: AckKind, rootHigh: number, rootLow: number, xorHigh: number, xorLow: number): void {
    if (rootHigh !== this.rootHigh) return;
    const tree = this.pending.get(rootLow);
    // Already complete, failed or timed out: a late ack changes nothing.
    if (!tree) return;
    if (kind === AckKind.Fail) {
      this.pending.delete(rootLow);
      this.finish(tree.messageId, false);
      return;
    }
    tree.xorHigh ^= xorHigh;
    tree.xorLow ^= xorLow;
    if (tree.xorHigh === 0 && tree.xorLow === 0) {
      this.pending.delete(rootLow);
      const latencyNs = Math.round((performance.now() - tree.emittedAt) * 1e6);
      counters[COMPLETED]++;
      counters[COMPLETE_LATENCY_NS] += latencyNs;
      counters[COMPLETE_LATENCY_HISTOGRAM + latencyBucketOf(latencyNs)]++;
      this.finish(tree.messageId, true);
    }
  }

  /** Frames of ack records: applied, then the spout may be asked for more. */
  onFrame(frame: ArrayBuffer): void {
    const buffer = Buffer.from(frame);
    try {
      decodeReliableFrame(buffer, table, false, {
        tuple: () => undefined,
        marker: () => undefined,
        ack: (kind, rootHigh, rootLow, xorHigh, xorLow) => this.onAck(kind, rootHigh, rootLow, xorHigh, xorLow),
      });
    } catch (error) {
      reportError(error);
    }
    credit(frame.byteLength);
    this.deliverAcks();
    this.schedule(0);
  }

  /** Fails every tree older than the message timeout. */
  private expire(): void {
    const cutoff = performance.now() - delivery.messageTimeoutMs;
    for (const [root, tree] of this.pending) {
      if (tree.emittedAt > cutoff) break;
      this.pending.delete(root);
      counters[TIMED_OUT]++;
      this.finish(tree.messageId, false);
    }
    this.deliverAcks();
    this.schedule(0);
  }

  private finish(messageId: unknown, acked: boolean): void {
    this.completions.push([messageId, acked]);
  }

  /**
   * The spout's state is saved for checkpoint `id`, and its marker follows everything it emitted
   * before: an async nextTuple in flight finishes first, and none starts until the state is saved.
   */
  checkpoint(id: number): void {
    this.whenIdle(() => {
      if (awaitingRestore) return;
      flush();
      snapshot(id, this.spout);
    });
  }

  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    // A deactivated spout hears of it once the nextTuple calls in flight have finished.
    this.whenIdle(() => {
      try {
        if (active) this.spout.activate?.();
        else this.spout.deactivate?.();
      } catch (error) {
        reportError(error);
      }
    });
    this.schedule(0);
  }

  /** Actions that wait for the async nextTuple calls in flight to settle; no new call starts meanwhile. */
  private readonly idleWaiters: Array<() => void> = [];

  whenIdle(action: () => void): void {
    if (inFlight === 0 && this.idleWaiters.length === 0) action();
    else this.idleWaiters.push(action);
  }

  /** Resolves once no nextTuple call is in flight. */
  idle(): Promise<void> {
    return new Promise((resolve) => this.whenIdle(resolve));
  }

  /** Emits counted when an async nextTuple last settled: one that emitted nothing is asked again after a pause, not at once. */
  private emittedAtSettle = 0;

  private readonly settled = (): void => {
    callSettled();
    if (inFlight === 0) for (const action of this.idleWaiters.splice(0)) action();
    flush();
    this.deliverAcks();
    const emitted = counters[EMITTED]! !== this.emittedAtSettle;
    this.emittedAtSettle = counters[EMITTED]!;
    this.schedule(emitted ? 0 : IDLE_SPOUT_DELAY_MS);
  };

  private readonly rejected = (error: unknown): void => {
    reportError(error);
    this.settled();
  };

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.schedule(0);
  }

  schedule(delayMs: number): void {
    if (this.scheduled || !this.active || this.paused || closing || awaitingRestore) return;
    if (inFlight >= maxInFlight || this.idleWaiters.length > 0) return;
    this.scheduled = true;
    if (delayMs > 0) setTimeout(this.run, delayMs);
    else setImmediate(this.run);
  }

  private get full(): boolean {
    return atLeastOnce && delivery.maxSpoutPending > 0 && this.pending.size >= delivery.maxSpoutPending;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (!this.active || this.paused || closing || awaitingRestore) return;
    // Flow control: with maxSpoutPending trees open the spout waits for acks, which schedule it again.
    if (this.full || inFlight >= maxInFlight || this.idleWaiters.length > 0) return;
    const start = beginTurn();
    let emittedAny = false;
    for (let calls = 1; ; calls++) {
      const before = counters[EMITTED];
      let result: unknown;
      try {
        result = this.spout.nextTuple();
      } catch (error) {
        reportError(error);
      }
      if (result !== undefined && isPromiseLike(result)) {
        callStarted();
        result.then(this.settled, this.rejected);
        // Its emits come later; each settle asks the spout again.
        if (inFlight >= maxInFlight) break;
        emittedAny = true;
      } else if (counters[EMITTED] === before) break;
      else emittedAny = true;
      if (this.full) break;
      if ((calls & 31) === 0 && performance.now() - start >= SPOUT_SLICE_MS) break;
    }
    endTurn(start);
    flush();
    this.deliverAcks();
    if (!this.full) this.schedule(emittedAny ? 0 : IDLE_SPOUT_DELAY_MS);
  };

  private deliverAcks(): void {
    if (this.pendingAcks.length > 0) {
      const acks = this.pendingAcks;
      this.pendingAcks = [];
      for (const id of acks) {
        counters[ACKED]++;
        try {
          this.spout.ack?.(id);
        } catch (error) {
          reportError(error);
        }
      }
    }
    if (this.completions.length === 0) return;
    const done = this.completions.splice(0);
    for (const [messageId, acked] of done) {
      counters[acked ? ACKED : FAILED]++;
      try {
        if (acked) this.spout.ack?.(messageId);
        else this.spout.fail?.(messageId);
      } catch (error) {
        reportError(error);
      }
    }
    // Replays emitted from fail() leave now, not with the next slice.
    flush();
  }
}

/** The trailer of a spout tuple emitted without a message id under at-least-once: no roots. */
const untrackedTrailer = (writer: ByteWriter): void => writer.u8(0);

/** A tuple under at-least-once: its roots, and the XOR of the edges anchored to it so far. */
class TrackedTuple extends RuntimeTuple {
  ackHigh = 0;
  ackLow = 0;
  done = false;

  constructor(
    sourceComponent: string,
    sourceTask: number,
    stream: string,
    schema: StreamSchema,
    values: readonly unknown[],
    /** ROOT_WIDTH numbers per root: spout task, root id (high, low), this tuple's edge value (high, low). */
    readonly anchors: readonly number[],
  ) {
    super(sourceComponent, sourceTask, stream, schema, values);
  }
}

/** A tuple that can still anchor: tracked, with roots, not yet acked or failed. */
function isOpen(tuple: Tuple): tuple is TrackedTuple {
  return tuple instanceof TrackedTuple && tuple.anchors.length > 0 && !tuple.done;
}

/** An effectively-once checkpoint a bolt is aligning: the inputs whose marker came, and what they sent since. */
interface Alignment {
  readonly id: number;
  readonly arrived: Set<number>;
  readonly buffered: Buffer[];
}

/** An async execute: from its call until its output and its ack are released. */
class Execution {
  done = false;
  failed = false;
  error: unknown;
  /** Ordered: what it emitted, acked or failed while an earlier execute was unfinished, released in input order. */
  held: Array<() => void> | undefined;
  startedAt = 0;

  constructor(
    readonly tuple: TrackedTuple | undefined,
    /** Effectively-once, keyed: the key group of its tuple, which entries it creates belong to. */
    readonly group: number | undefined,
  ) {}
}

/**
 * Input not started yet because the bolt's async executes fill its concurrency (or a barrier waits for
 * them): a frame, the rest of one, or an action that must wait until no execute is in flight
 * (`barrier`: a checkpoint marker, a handoff, a shutdown).
 */
interface QueuedStep {
  /**
   * Runs the step, taken off the queue first (so what it puts back at the front stays before what
   * came after it); a `resumable` one runs in place and returns false when it ran only in part (every
   * slot got taken), staying first.
   */
  readonly run: () => boolean | void;
  readonly resumable?: boolean;
  /** Bytes to credit if the step is dropped (a rollback) rather than run. */
  readonly credit?: number;
  readonly barrier?: boolean;
}

/**
 * The tuples of a frame (or of key groups that arrived) that found every slot taken, as one step:
 * each run starts as many as there are free slots, and the frame's bytes are credited once the last
 * has started. One step, not one per tuple: a frame holds thousands of small tuples.
 */
function remainderStep(tuples: ReadonlyArray<() => void>, creditBytes: number | undefined): QueuedStep {
  let next = 0;
  const run = (): boolean => {
    while (next < tuples.length) {
      if (inFlight >= maxInFlight) return false;
      tuples[next++]!();
    }
    if (creditBytes !== undefined) {
      // What its tuples emitted so far leaves before the credit, as after a frame executed at once.
      flush();
      credit(creditBytes);
    }
    return true;
  };
  return creditBytes === undefined ? { run, resumable: true } : { run, resumable: true, credit: creditBytes };
}

class BoltRunner {
  /** The input being executed: auto-ack anchors to it (and, one async execute at a time, stays it until that settles). */
  private current: TrackedTuple | undefined;
  private readonly autoAck = self.config.autoAck === true;
  private readonly ordered = self.config[ORDERED_KEY] !== false;
  /**
   * With several executes in flight, the one whose code runs (after an `await` too) is found through
   * async context: its emits anchor to its tuple and, ordered, wait for the executes before it.
   */
  private readonly executions = maxInFlight > 1 ? new AsyncLocalStorage<Execution>() : undefined;
  /** maxInFlight 1: the execute in flight, if any. */
  private single: Execution | undefined;
  /** Ordered, maxInFlight above 1: executes whose output is not released yet, oldest first. */
  private readonly order: Execution[] = [];
  private readonly queue: QueuedStep[] = [];
  private pumping = false;
  private ticking = false;
  /** Tuples of the frame being executed that found the concurrency full: they run first once a slot frees. */
  private overflow: Array<() => void> | undefined;
  private alignment: Alignment | undefined;
  /** Markers of checkpoints up to this one are stale: it was saved here, or abandoned. */
  private settledCheckpoint = 0;
  /** For each input stream read with fields grouping (by stream index): its grouping fields' positions. */
  private readonly keyFields = new Map<number, readonly number[]>();
  /** Stateful keyed bolts: key groups whose state this instance holds, and tuples waiting for a group's state to arrive. */
  private readonly held = new Set<number>();
  private readonly waitingForGroup = new Map<number, Array<[StreamEntry, number, unknown[]]>>();
  private handoffVersion: number | undefined;
  /** Key groups this instance handed to another since its state was last restored. */
  private readonly handedOff = new Set<number>();

  constructor(
    private readonly bolt: Bolt,
    private readonly emitter: Emits,
    private readonly trailers: Emitter,
  ) {
    for (const input of self.inputs) {
      if (input.grouping.type !== 'fields') continue;
      const entry = table.lookup(input.component, input.stream);
      if (entry)
        this.keyFields.set(
          entry.index,
          input.grouping.fields.map((f) => entry.schema.indexOf.get(f)!),
        );
    }
  }

  /** Whether this bolt keeps state by key group (stateful, with a fields-grouped input). */
  get keyedState(): boolean {
    return effectivelyOnce && stateful && this.keyFields.size > 0;
  }

  // A bolt that emits much per input (split) flushes mid-batch, so one input frame never turns into
  // an unbounded output frame.
  readonly collector = {
    emit: (values: readonly unknown[], options?: BoltEmitOptions) => this.emitFromExecute(-1, values, options),
    emitDirect: (taskId: number, values: readonly unknown[], options?: BoltEmitOptions) => this.emitFromExecute(taskId, values, options),
    ack: (tuple: Tuple) => {
      const held = this.executions?.getStore()?.held;
      if (held) held.push(() => this.collector.ack(tuple));
      else {
        counters[ACKED]++;
        if (atLeastOnce && tuple instanceof TrackedTuple) this.complete(tuple, AckKind.Ack);
        flushSoon();
      }
    },
    fail: (tuple: Tuple) => {
      const held = this.executions?.getStore()?.held;
      if (held) held.push(() => this.collector.fail(tuple));
      else {
        counters[FAILED]++;
        if (atLeastOnce && tuple instanceof TrackedTuple) this.complete(tuple, AckKind.Fail);
        flushSoon();
      }
    },
    reportError,
  };

  /**
   * An emit of the execute whose code runs now: at once, or, ordered with an earlier execute still
   * unfinished, held until that one is released.
   */
  private emitFromExecute(task: number, values: readonly unknown[], options: BoltEmitOptions | undefined): void {
    const execution = this.executions?.getStore();
    if (execution === undefined) this.emitNow(task, values, options, this.current);
    else if (execution.held === undefined) this.emitNow(task, values, options, execution.tuple);
    else {
      const held = [...values];
      execution.held.push(() => this.emitNow(task, held, options, execution.tuple));
    }
  }

  /** An emit (direct to `task` when it is 0 or more); `autoAnchor` is the input autoAck anchors it to. */
  private emitNow(
    task: number,
    values: readonly unknown[],
    options: BoltEmitOptions | undefined,
    autoAnchor: TrackedTuple | undefined,
  ): void {
    const stream = options?.stream ?? 'default';
    if (atLeastOnce)
      this.emitAnchored(options?.anchors, autoAnchor, () =>
        task < 0 ? this.emitter.emit(stream, values) : this.emitter.emitDirect(task, stream, values),
      );
    else if (task < 0) this.emitter.emit(stream, values);
    else this.emitter.emitDirect(task, stream, values);
    countEmit(stream);
    if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
    flushSoon();
  }

  /**
   * Emits under at-least-once. Each copy gets a fresh edge value per anchor: XORed into the anchor
   * (so acking the anchor reports it) and into the copy's value for each of the anchor's roots (so
   * acking the copy cancels it).
   */
  private emitAnchored(given: Tuple | readonly Tuple[] | undefined, autoAnchor: TrackedTuple | undefined, emit: () => number): void {
    let tracked: readonly TrackedTuple[];
    if (given === undefined) tracked = this.autoAck && autoAnchor && isOpen(autoAnchor) ? [autoAnchor] : [];
    else if (Array.isArray(given)) tracked = (given as readonly Tuple[]).filter(isOpen);
    else tracked = isOpen(given as Tuple) ? [given as TrackedTuple] : [];
    this.anchoring = tracked;
    this.trailers.trailer = tracked.length === 0 ? untrackedTrailer : tracked.length === 1 ? this.oneAnchorTrailer : this.anchorsTrailer;
    try {
      emit();
    } finally {
      this.trailers.trailer = undefined;
    }
  }

  /** The anchors of the emit under way. */
  private anchoring: readonly TrackedTuple[] = [];

  /** The common case, one anchor: the copy's value for each of the anchor's roots is one fresh edge. */
  private readonly oneAnchorTrailer = (writer: ByteWriter): void => {
    const anchor = this.anchoring[0]!;
    const high = random32();
    const low = random32();
    anchor.ackHigh ^= high;
    anchor.ackLow ^= low;
    const roots = anchor.anchors;
    writer.u8(roots.length / ROOT_WIDTH);
    for (let r = 0; r < roots.length; r += ROOT_WIDTH) {
      writer.u32(roots[r]!);
      writer.u32(roots[r + 1]!);
      writer.u32(roots[r + 2]!);
      writer.u32(high);
      writer.u32(low);
    }
  };

  /** Several anchors: a root they share gets the XOR of their edges. */
  private readonly anchorsTrailer = (writer: ByteWriter): void => {
    const roots: number[] = [];
    for (const anchor of this.anchoring) {
      const high = random32();
      const low = random32();
      anchor.ackHigh ^= high;
      anchor.ackLow ^= low;
      for (let r = 0; r < anchor.anchors.length; r += ROOT_WIDTH) {
        let at = -1;
        for (let k = 0; k < roots.length; k += ROOT_WIDTH) {
          if (roots[k] === anchor.anchors[r] && roots[k + 1] === anchor.anchors[r + 1] && roots[k + 2] === anchor.anchors[r + 2]) at = k;
        }
        if (at < 0) {
          roots.push(anchor.anchors[r]!, anchor.anchors[r + 1]!, anchor.anchors[r + 2]!, high, low);
        } else {
          roots[at + 3] = (roots[at + 3]! ^ high) >>> 0;
          roots[at + 4] = (roots[at + 4]! ^ low) >>> 0;
        }
      }
    }
    writer.u8(roots.length / ROOT_WIDTH);
    for (const n of roots) writer.u32(n >>> 0);
  };

  /**
   * Acks (or fails) a tracked tuple towards the spout task of each of its roots. Acks of one root
   * within a turn are XORed into one record, sent with the turn's output (see flushAcks): a word
   * count's words of one sentence then cost their spout one record per count instance, not one each.
   */
  private complete(tuple: TrackedTuple, kind: AckKind): void {
    if (tuple.done) return;
    tuple.done = true;
    const anchors = tuple.anchors;
    for (let r = 0; r < anchors.length; r += ROOT_WIDTH) {
      const spoutTask = anchors[r]!;
      const rootHigh = anchors[r + 1]!;
      const rootLow = anchors[r + 2]!;
      const xorHigh = (anchors[r + 3]! ^ tuple.ackHigh) >>> 0;
      const xorLow = (anchors[r + 4]! ^ tuple.ackLow) >>> 0;
      if (kind === AckKind.Fail) {
        batches.appendRecord(spoutTask, (writer) => writeAckRecord(writer, AckKind.Fail, rootHigh, rootLow, 0, 0));
        continue;
      }
      let roots = pendingAcks.get(spoutTask);
      if (!roots) pendingAcks.set(spoutTask, (roots = new Map()));
      const pending = roots.get(rootLow);
      if (pending === undefined) roots.set(rootLow, [rootHigh, xorHigh, xorLow]);
      else if (pending[0] === rootHigh) {
        pending[1] = (pending[1] ^ xorHigh) >>> 0;
        pending[2] = (pending[2] ^ xorLow) >>> 0;
      } else batches.appendRecord(spoutTask, (writer) => writeAckRecord(writer, AckKind.Ack, rootHigh, rootLow, xorHigh, xorLow));
    }
  }

  /** A delivered frame. */
  onFrame(frame: ArrayBuffer): void {
    const buffer = Buffer.from(frame);
    if (!effectivelyOnce) {
      // Async executes fill the concurrency: the frame waits here uncredited, so its bytes still count
      // in the stream manager's queue for this instance and backpressure sees the bolt full.
      if (inFlight < maxInFlight && this.queue.length === 0) this.execute(buffer, true);
      else this.queue.push({ run: () => this.execute(buffer, true), credit: buffer.length });
      return;
    }
    const frameEpoch = epochOf(buffer);
    // Emitted before the latest rollback: what it led to is replayed from the checkpoint.
    if (frameEpoch < epoch) {
      credit(frame.byteLength);
      return;
    }
    // A newer epoch, or this worker has no state yet: it waits for the restore, which keeps what belongs to its epoch.
    if (frameEpoch > epoch || awaitingRestore) {
      futureFrames.push(frame);
      credit(frame.byteLength);
      return;
    }
    this.admit(buffer, true);
  }

  /**
   * Effectively-once: a frame of the current epoch runs now, or after the input queued before it.
   * A marker is a barrier: what executes before it finishes before the state is saved.
   */
  admit(buffer: Buffer, credited: boolean): void {
    const barrier = markerOf(buffer) !== undefined;
    if (this.queue.length === 0 && (barrier ? inFlight === 0 : inFlight < maxInFlight)) this.dispatch(buffer, credited);
    else this.queue.push({ run: () => this.dispatch(buffer, credited), barrier, ...(credited ? { credit: buffer.length } : {}) });
  }

  /** Runs queued input while the concurrency has room, in the order it came. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const start = beginTurn();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.barrier ? inFlight > 0 : inFlight >= maxInFlight || awaitingRestore) break;
      if (head.resumable) {
        // Its tuples start executes only: they leave the queue as it is.
        if (head.run() === false) continue;
        this.queue.shift();
      } else {
        this.queue.shift();
        head.run();
      }
    }
    counters[EXECUTE_NS] += endTurn(start);
    this.pumping = false;
    // Executes settling in one turn of the event loop (timers due together) send their output as one message.
    flushSoon();
  }

  /** Resolves once everything queued so far has run and no execute is in flight. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ run: resolve, barrier: true });
      this.pump();
    });
  }

  /** Resolves once no execute is in flight (queued input stays queued). */
  settledAll(): Promise<void> {
    if (inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onSettledAll = resolve));
  }

  private onSettledAll: (() => void) | undefined;

  /** A rollback: queued input belongs to the abandoned epoch; its bytes are credited, waiters go on. */
  dropQueued(): void {
    for (const step of this.queue.splice(0)) {
      if (step.credit !== undefined) credit(step.credit);
      else if (step.barrier) step.run();
    }
  }

  /**
   * Effectively-once: markers align the inputs. Once an input's marker came, what it sends waits
   * until every input's has; then the state is saved, the marker goes on, and what waited runs.
   */
  dispatch(buffer: Buffer, credited: boolean): void {
    const source = sourceTaskOf(buffer);
    const marker = markerOf(buffer);
    if (marker !== undefined) {
      if (credited) credit(buffer.length);
      this.onMarker(source, marker);
      return;
    }
    if (this.alignment?.arrived.has(source)) {
      this.alignment.buffered.push(buffer);
      // Counted as taken: aligning must not start backpressure, which would hold back the markers it waits for.
      if (credited) credit(buffer.length);
      return;
    }
    this.execute(buffer, credited);
  }

  private onMarker(source: number, id: number): void {
    if (id <= this.settledCheckpoint) return;
    // A newer checkpoint's marker: the one being aligned was abandoned.
    if (this.alignment && this.alignment.id < id) this.abortAlignment();
    if (!this.alignment) this.alignment = { id, arrived: new Set(), buffered: [] };
    if (this.alignment.id !== id) return;
    this.alignment.arrived.add(source);
    for (const task of inputTasks()) if (!this.alignment.arrived.has(task)) return;
    const aligned = this.alignment;
    this.alignment = undefined;
    this.settledCheckpoint = id;
    snapshot(id, this.bolt);
    this.runBuffered(aligned.buffered);
  }

  /** Frames held for an alignment run before anything queued after them, as the concurrency allows. */
  private runBuffered(buffered: readonly Buffer[]): void {
    if (buffered.length === 0) return;
    this.queue.unshift(...buffered.map((waiting) => ({ run: () => this.dispatch(waiting, false) })));
    this.pump();
  }

  /** Gives up the checkpoint being aligned (a plan change, a rollback, a newer one): what waited runs. */
  abortAlignment(): void {
    const aligned = this.alignment;
    if (!aligned) return;
    this.alignment = undefined;
    this.settledCheckpoint = Math.max(this.settledCheckpoint, aligned.id);
    this.runBuffered(aligned.buffered);
  }

  execute(buffer: Buffer, credited: boolean): void {
    const srcTask = sourceTaskOf(buffer);
    const start = beginTurn();
    try {
      if (atLeastOnce) {
        decodeReliableFrame(buffer, table, true, {
          tuple: (entry, values, anchors) => {
            const tuple = new TrackedTuple(entry.component, srcTask, entry.stream, entry.schema, values, anchors ?? []);
            if (inFlight < maxInFlight) this.run(tuple, undefined);
            else this.defer(() => this.run(tuple, undefined));
          },
          ack: () => undefined,
          marker: () => undefined,
        });
      } else if (effectivelyOnce) {
        decodeReliableFrame(buffer, table, false, {
          tuple: (entry, values) => {
            if (inFlight < maxInFlight) this.runKeyed(entry, srcTask, values);
            else this.defer(() => this.runKeyed(entry, srcTask, values));
          },
          ack: () => undefined,
          marker: () => undefined,
        });
      } else {
        decodeDataFrame(buffer, table, (entry, values) => {
          const tuple = new RuntimeTuple(entry.component, srcTask, entry.stream, entry.schema, values);
          if (inFlight < maxInFlight) this.run(tuple, undefined);
          else this.defer(() => this.run(tuple, undefined));
        });
      }
    } catch (error) {
      reportError(error);
    }
    counters[EXECUTE_NS] += endTurn(start);
    const rest = this.overflow;
    if (rest !== undefined) {
      // The frame's bytes are credited once its last tuple has started.
      this.overflow = undefined;
      this.queue.unshift(remainderStep(rest, credited ? buffer.length : undefined));
      flush();
      return;
    }
    flush();
    if (credited) credit(buffer.length);
  }

  /** A tuple of the frame being executed that found every slot taken. */
  private defer(run: () => void): void {
    (this.overflow ??= []).push(run);
  }

  /** Effectively-once: a tuple of a key group whose state has not arrived yet waits for it. */
  private runKeyed(entry: StreamEntry, srcTask: number, values: unknown[]): void {
    const fields = this.keyedState ? this.keyFields.get(entry.index) : undefined;
    if (fields === undefined) {
      if (state) state.currentGroup = undefined;
      this.run(new RuntimeTuple(entry.component, srcTask, entry.stream, entry.schema, values), undefined);
      return;
    }
    const group = fieldsHash(values, fields) % delivery.maxParallelism;
    if (!this.held.has(group)) {
      // A tuple routed by an older plan to a key group this instance already handed away: the plan
      // change went ahead without it (a timeout), and only a rollback makes the state whole again.
      if (this.handedOff.has(group) && !ownedGroups().has(group)) {
        reportInconsistency(`a tuple for key group ${group} arrived after the group was handed to its new owner`);
        return;
      }
      let waiting = this.waitingForGroup.get(group);
      if (!waiting) this.waitingForGroup.set(group, (waiting = []));
      waiting.push([entry, srcTask, values]);
      return;
    }
    state!.currentGroup = group;
    this.run(new RuntimeTuple(entry.component, srcTask, entry.stream, entry.schema, values), group);
    state!.currentGroup = undefined;
  }

  private run(tuple: RuntimeTuple, group: number | undefined): void {
    const tracked = tuple instanceof TrackedTuple ? tuple : undefined;
    if (this.executions !== undefined) {
      this.runConcurrent(tuple, tracked, group);
      return;
    }
    this.current = tracked;
    let result: unknown;
    try {
      result = this.bolt.execute(tuple);
    } catch (error) {
      reportError(error);
      if (this.autoAck && tracked && !tracked.done) this.collector.fail(tracked);
      this.current = undefined;
      counters[EXECUTED]++;
      return;
    }
    if (result !== undefined && isPromiseLike(result)) {
      // One at a time: `current` stays this tuple until it settles, so emits after an await anchor to it.
      const execution = new Execution(tracked, group);
      execution.startedAt = performance.now();
      this.single = execution;
      callStarted();
      result.then(
        () => this.settleSingle(execution, false, undefined),
        (error: unknown) => this.settleSingle(execution, true, error),
      );
      return;
    }
    if (this.autoAck && tracked && !tracked.done) this.collector.ack(tracked);
    this.current = undefined;
    counters[EXECUTED]++;
  }

  private settleSingle(execution: Execution, failed: boolean, error: unknown): void {
    callSettled();
    counters[EXECUTE_NS] += Math.round((performance.now() - execution.startedAt) * 1e6);
    this.single = undefined;
    this.current = undefined;
    execution.failed = failed;
    execution.error = error;
    this.completeExecution(execution);
    counters[EXECUTED]++;
    this.afterSettle();
  }

  private runConcurrent(tuple: RuntimeTuple, tracked: TrackedTuple | undefined, group: number | undefined): void {
    const execution = new Execution(tracked, group);
    if (this.ordered) {
      if (this.order.length > 0) execution.held = [];
      this.order.push(execution);
    }
    let result: unknown;
    try {
      result = this.executions!.run(execution, () => this.bolt.execute(tuple));
    } catch (error) {
      this.finish(execution, true, error);
      return;
    }
    if (result !== undefined && isPromiseLike(result)) {
      execution.startedAt = performance.now();
      callStarted();
      result.then(
        () => this.settleConcurrent(execution, false, undefined),
        (error: unknown) => this.settleConcurrent(execution, true, error),
      );
      return;
    }
    this.finish(execution, false, undefined);
  }

  private settleConcurrent(execution: Execution, failed: boolean, error: unknown): void {
    callSettled();
    counters[EXECUTE_NS] += Math.round((performance.now() - execution.startedAt) * 1e6);
    this.finish(execution, failed, error);
    this.afterSettle();
  }

  /** An execute finished: unordered, it completes now; ordered, with those before it. */
  private finish(execution: Execution, failed: boolean, error: unknown): void {
    execution.done = true;
    execution.failed = failed;
    execution.error = error;
    counters[EXECUTED]++;
    if (!this.ordered) this.completeExecution(execution);
    else this.release();
  }

  /** Ordered: releases the output of the oldest executes, up to the first one not finished. */
  private release(): void {
    while (this.order.length > 0) {
      const head = this.order[0]!;
      const held = head.held;
      if (held !== undefined) {
        head.held = undefined;
        for (const action of held) action();
      }
      if (!head.done) return;
      this.order.shift();
      this.completeExecution(head);
    }
  }

  private completeExecution(execution: Execution): void {
    if (execution.failed) reportError(execution.error);
    const tracked = execution.tuple;
    if (this.autoAck && tracked && !tracked.done) {
      if (execution.failed) this.collector.fail(tracked);
      else this.collector.ack(tracked);
    }
  }

  /** A slot is free: queued input may start, and what waited for no execute in flight may go on. */
  private afterSettle(): void {
    if (inFlight === 0 && this.onSettledAll) {
      const resolve = this.onSettledAll;
      this.onSettledAll = undefined;
      resolve();
    }
    this.pump();
  }

  /** The key group of the async execute whose code runs now (see KeyedState.asyncGroup). */
  readonly asyncGroup = (): number | undefined => {
    if (this.ticking) return undefined;
    return this.executions ? this.executions.getStore()?.group : this.single?.group;
  };

  tick(): void {
    if (awaitingRestore) return;
    const start = beginTurn();
    // A tick is no input's execute: what it emits anchors to nothing, and goes out at once.
    const current = this.current;
    this.current = undefined;
    this.ticking = true;
    try {
      const result: unknown = this.bolt.execute(new RuntimeTuple(SYSTEM_COMPONENT, -1, TICK_STREAM, tickSchema, []));
      if (result !== undefined && isPromiseLike(result)) result.then(undefined, reportError);
    } catch (error) {
      reportError(error);
    }
    this.ticking = false;
    this.current = current;
    endTurn(start);
    flush();
  }

  /** After a rollback: it holds the key groups the current plan gives it, with the restored state. */
  restored(): void {
    this.alignment = undefined;
    this.waitingForGroup.clear();
    this.held.clear();
    this.handedOff.clear();
    this.handoffVersion = undefined;
    if (this.keyedState) for (const group of ownedGroups()) this.held.add(group);
  }

  /** A new instance an update added: its key groups arrive from their previous owners. */
  startsEmpty(): void {
    this.restored();
    this.held.clear();
  }

  /** Plan `version` is fenced everywhere: key groups it no longer owns go to their new owners. */
  handOff(version: number): void {
    if (!this.keyedState || awaitingRestore) {
      send({ type: 'handoff-done', version });
      return;
    }
    const owned = ownedGroups();
    const owners = tasks.get(init.component) ?? [];
    const leaving = new Map<number, number[]>();
    for (const group of this.held) {
      if (owned.has(group)) continue;
      const owner = owners[keyGroupOwner(group, owners.length, delivery.maxParallelism)];
      if (owner === undefined) continue;
      let groups = leaving.get(owner);
      if (!groups) leaving.set(owner, (groups = []));
      groups.push(group);
    }
    for (const [toTask, groups] of leaving) {
      // One message per key group: a message is one frame between stream managers, and frames are
      // limited (64 MiB), so a state of any size moves as long as no single group exceeds that.
      for (const group of groups) {
        const data = state!.encode([group]);
        state!.dropGroup(group);
        this.held.delete(group);
        this.handedOff.add(group);
        send({ type: 'key-groups', epoch, toTask, groups: [group], data }, [data.buffer as ArrayBuffer]);
      }
    }
    this.handoffVersion = version;
    this.reportHandoff();
  }

  /** State of key groups this instance now owns: tuples that waited for them run. */
  receiveGroups(groups: readonly number[], data: Uint8Array): void {
    try {
      state!.decode(data, (group) => groups.includes(group));
    } catch (error) {
      reportError(error);
    }
    for (const group of groups) {
      this.held.add(group);
      this.handedOff.delete(group);
      const waiting = this.waitingForGroup.get(group);
      if (!waiting) continue;
      this.waitingForGroup.delete(group);
      for (const [entry, srcTask, values] of waiting) {
        if (inFlight < maxInFlight) this.runKeyed(entry, srcTask, values);
        else this.defer(() => this.runKeyed(entry, srcTask, values));
      }
    }
    // Tuples that found every slot taken run first once one frees, before input queued since.
    const rest = this.overflow;
    this.overflow = undefined;
    if (rest !== undefined) this.queue.unshift(remainderStep(rest, undefined));
    flush();
    this.reportHandoff();
  }

  private reportHandoff(): void {
    if (this.handoffVersion === undefined) return;
    for (const group of ownedGroups()) if (!this.held.has(group)) return;
    send({ type: 'handoff-done', version: this.handoffVersion });
    this.handoffVersion = undefined;
  }
}

/** Every task that sends to this bolt by the current plan: the inputs a checkpoint's markers align. */
function inputTasks(): number[] {
  const sources = new Set<number>();
  for (const input of self.inputs) for (const task of tasks.get(input.component) ?? []) sources.add(task);
  return [...sources];
}

/** The key groups the current plan gives this instance, computed once per plan. */
let owned: { readonly tasks: unknown; readonly groups: Set<number> } | undefined;
function ownedGroups(): Set<number> {
  if (owned?.tasks !== tasks) owned = { tasks, groups: computeOwnedGroups() };
  return owned.groups;
}

function computeOwnedGroups(): Set<number> {
  const owners = tasks.get(init.component) ?? [];
  const index = owners.indexOf(init.taskId);
  const owned = new Set<number>();
  if (index < 0) return owned;
  for (let group = 0; group < delivery.maxParallelism; group++)
    if (keyGroupOwner(group, owners.length, delivery.maxParallelism) === index) owned.add(group);
  return owned;
}

/** How long one slice of encoding a snapshot may hold up the instance. */
const SNAPSHOT_SLICE_MS = 4;

/**
 * Effectively-once: the instance's state for checkpoint `id` is fixed now and its markers go to every
 * task it sends to; the state is encoded in slices between the tuples that follow (see
 * KeyedState.beginSnapshot) and then goes to the stream manager.
 */
function snapshot(id: number, component: Spout | Bolt): void {
  counters[BUSY_SINCE] = Date.now();
  try {
    component.preSave?.(id);
  } catch (error) {
    reportError(error);
  }
  const saved = state ?? new KeyedState(init.component, false);
  saved.beginSnapshot();
  counters[BUSY_SINCE] = 0;
  flush();
  for (const task of markerTargets()) batches.appendRecord(task, (writer) => writeMarkerRecord(writer, id));
  flush();
  const encodeSlice = (): void => {
    // A rollback replaced the state: this checkpoint is abandoned.
    if (state !== undefined && saved !== state) return;
    let chunks: Uint8Array[] | undefined;
    try {
      chunks = saved.continueSnapshot(SNAPSHOT_SLICE_MS);
    } catch (error) {
      // A state that cannot be encoded fails this checkpoint (no part is stored): the topology master abandons it.
      reportError(error);
      saved.abandonSnapshot();
      return;
    }
    if (!chunks) {
      setImmediate(encodeSlice);
      return;
    }
    joinInSlices(chunks, (data) => {
      if (state === undefined || saved === state) send({ type: 'snapshot', id, data }, [data.buffer as ArrayBuffer]);
    });
  };
  encodeSlice();
}

/** Bytes of a snapshot copied per slice while its chunks are joined: a few milliseconds' worth. */
const JOIN_SLICE_BYTES = 8 * 1024 * 1024;

/**
 * Joins a snapshot's chunks into one buffer here, a slice at a time between tuples: one copy of a
 * large state at once would stall this instance, and in the stream manager it would stall routing
 * for every instance of the container.
 */
function joinInSlices(chunks: readonly Uint8Array[], done: (data: Uint8Array) => void): void {
  if (chunks.length === 1) {
    done(chunks[0]!);
    return;
  }
  const data = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let next = 0;
  let offset = 0;
  const copySlice = (): void => {
    for (let copied = 0; next < chunks.length && copied < JOIN_SLICE_BYTES; next++) {
      data.set(chunks[next]!, offset);
      offset += chunks[next]!.byteLength;
      copied += chunks[next]!.byteLength;
    }
    if (next < chunks.length) setImmediate(copySlice);
    else done(data);
  };
  copySlice();
}

const tickSchema = new StreamSchema([]);
let closing = false;
/** Effectively-once: the instance's state, when its component is stateful (has initState). */
let state: KeyedState | undefined;
let stateful = false;
/** Where markers go: every task reading this component's streams (set once the emitter exists). */
let markerTargets: () => readonly number[] = () => [];
/** Effectively-once control (rollback, key groups, commits) runs one step at a time, in order. */
let control: Promise<void> = Promise.resolve();

/**
 * This isolate's memory: its V8 heap plus what it holds outside the heap (Buffers, ArrayBuffers),
 * which in a worker thread process.memoryUsage() reports for the worker alone (rss is the process's).
 */
function sampleMemory(): void {
  const memory = process.memoryUsage();
  counters[MEMORY_BYTES] = memory.heapTotal + memory.external;
}

async function main(): Promise<void> {
  sampleMemory();
  setInterval(sampleMemory, MEMORY_SAMPLE_MS).unref();
  const topology = await loadTopology();
  const emitter = new Emitter(
    init.component,
    batches,
    table,
    definition,
    (name) => topology.createCustomGrouping(name),
    delivery.maxParallelism,
  );
  emitter.setTasks(tasks);
  markerTargets = () => emitter.downstreamTasks;
  emitter.setShuffleWeights(shuffleWeights());
  let spout: SpoutRunner | undefined;
  let bolt: BoltRunner | undefined;
  let userComponent: Spout | Bolt;
  if (self.kind === 'spout') {
    const component = topology.createSpout(init.component);
    spout = new SpoutRunner(component, routedOncePlanned(emitter), emitter);
    await component.open?.(context(), spout.collector);
    userComponent = component;
    if (typeof component.backlog === 'function') {
      // Sampled on a timer, not in nextTuple: the backlog grows most while the spout is paused.
      const sample = () => {
        try {
          const backlog = component.backlog!();
          if (Number.isFinite(backlog)) counters[BACKLOG_ARRIVALS] = counters[EMITTED]! + Math.max(0, backlog);
        } catch (error) {
          reportError(error);
        }
      };
      sample();
      setInterval(sample, BACKLOG_SAMPLE_MS).unref();
    }
  } else {
    const component = topology.createBolt(init.component);
    bolt = new BoltRunner(component, routedOncePlanned(emitter), emitter);
    await component.prepare?.(context(), bolt.collector);
    userComponent = component;
    const tickMs = Number(self.config[TICK_FREQUENCY_KEY] ?? 0);
    if (tickMs > 0) setInterval(() => planned && bolt!.tick(), tickMs).unref();
  }
  stateful = typeof userComponent.initState === 'function';

  /** Effectively-once: the state of checkpoint parts (or none), then initState, then what waited for this epoch. */
  const restore = async (message: Extract<ToInstance, { type: 'restore' }>): Promise<void> => {
    awaitingRestore = true;
    // The key groups an instance owns follow from the plan: a restarted container's workers may hear of the rollback first.
    if (!planned) await new Promise<void>((resolve) => beforePlan.push(resolve));
    // Async calls of the old epoch finish before its output is discarded, so none of it leaves in the new one.
    await bolt?.settledAll();
    await spout?.idle();
    // What is still batched was emitted in the old epoch: no one would execute it.
    batches.take();
    bolt?.abortAlignment();
    bolt?.dropQueued();
    state?.abandonSnapshot();
    if (stateful) {
      state = new KeyedState(init.component, bolt?.keyedState ?? false);
      if (bolt) state.asyncGroup = bolt.asyncGroup;
      const keyed = bolt?.keyedState ?? false;
      const owned = keyed ? ownedGroups() : undefined;
      for (const part of message.parts) state.decode(part, (group) => owned === undefined || owned.has(group));
      if (message.groupsFromPeers) bolt?.startsEmpty();
      else bolt?.restored();
      try {
        await userComponent.initState!(state);
      } catch (error) {
        reportError(error);
      }
    }
    epoch = message.epoch;
    batches.epoch = epoch;
    awaitingRestore = false;
    const waiting = futureFrames;
    futureFrames = [];
    send({ type: 'restored', epoch });
    for (const frame of waiting) {
      const frameEpoch = epochOf(Buffer.from(frame));
      if (frameEpoch === epoch) bolt?.admit(Buffer.from(frame), false);
      else if (frameEpoch > epoch) futureFrames.push(frame);
    }
    spout?.schedule(0);
  };
  const inOrder = (step: () => void | Promise<void>): void => {
    control = control.then(step).catch((error: unknown) => reportError(error));
  };

  port.on('message', (message: ToInstance) => {
    switch (message.type) {
      case 'data':
        if (spout) spout.onFrame(message.frame);
        else if (planned) bolt?.onFrame(message.frame);
        else beforePlan.push(() => bolt?.onFrame(message.frame));
        break;
      case 'checkpoint':
        spout?.checkpoint(message.id);
        break;
      case 'committed':
        inOrder(async () => {
          if (!awaitingRestore) await userComponent.postSave?.(message.id);
        });
        break;
      case 'restore':
        inOrder(() => restore(message));
        break;
      case 'handoff':
        inOrder(async () => {
          // The state of key groups leaving includes every execute of tuples delivered before the handoff.
          if (bolt) {
            await bolt.drained();
            bolt.handOff(message.version);
          } else send({ type: 'handoff-done', version: message.version });
        });
        break;
      case 'key-groups':
        inOrder(() => {
          if (message.epoch === epoch && !awaitingRestore) bolt?.receiveGroups(message.groups, message.data);
        });
        break;
      case 'activate':
        spout?.setActive(true);
        break;
      case 'deactivate':
        spout?.setActive(false);
        break;
      case 'pause':
        spout?.setPaused(true);
        break;
      case 'resume':
        spout?.setPaused(false);
        break;
      case 'tasks':
        // What was emitted under the old routing leaves first, so the stream manager can fence it.
        flush();
        tasks = new Map(message.tasks.map(([c, t]) => [c, [...t]]));
        emitter.setTasks(tasks);
        // The inputs a checkpoint aligns may have changed: it is abandoned (the topology master does not checkpoint across a plan change).
        bolt?.abortAlignment();
        if (!planned) runWhatWaitedForPlan();
        send({ type: 'tasks-applied', version: message.version });
        break;
      case 'config':
        runtimeConfig = { ...message.runtimeConfig };
        flush();
        emitter.setShuffleWeights(shuffleWeights());
        counters[BUSY_SINCE] = Date.now();
        try {
          userComponent.onConfigChange?.(currentConfig());
          send({ type: 'config-applied', version: message.version });
        } catch (error) {
          reportError(error);
          send({ type: 'config-applied', version: message.version, error: describeError(error) });
        }
        counters[BUSY_SINCE] = 0;
        break;
      case 'avoid':
        flush();
        emitter.setAvoidedTasks(new Set(message.tasks));
        break;
      case 'shutdown':
        void shutdown(userComponent, () => (spout ? spout.idle() : bolt!.drained()));
        break;
    }
  });
  send({ type: 'ready' });
}

async function shutdown(component: Spout | Bolt, drained: () => Promise<void>): Promise<void> {
  if (closing) return;
  closing = true;
  // Input delivered before the shutdown and async calls in flight finish first: nothing is lost.
  await drained();
  try {
    if ('nextTuple' in component) await component.close?.();
    else await component.cleanup?.();
  } catch (error) {
    reportError(error);
  }
  flush();
  send({ type: 'closed' });
  port.close();
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: describeError(error), ...(error instanceof Error && error.stack ? { stack: error.stack } : {}) });
  port.close();
});
