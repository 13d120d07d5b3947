/**
 * Entry point of one spout or bolt instance, run as a worker thread inside its container's executor
 * process. It imports the topology bundle, builds its component, runs it, and talks to the stream
 * manager on the main thread only through messages (see messages.ts).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Bolt, BoltEmitOptions, ComponentContext, Spout, SpoutEmitOptions } from '../../api/component.js';
import { isTopology, TICK_FREQUENCY_KEY, Topology } from '../../api/topology-builder.js';
import { RuntimeTuple, StreamSchema, SYSTEM_COMPONENT, TICK_STREAM } from '../../api/tuple.js';
import { describeError } from '../../errors/index.js';
import { StreamLogger } from '../../logging/index.js';
import { SHUFFLE_WEIGHTS_KEY } from '../../model/topology.js';
import { decodeDataFrame, Emitter, MAX_BATCH_BYTES, OutboundBatches, StreamTable } from '../routing.js';
import {
  ACKED,
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
    send({ type: 'error', message: describeError(error) });
  }
}

function flush(): void {
  if (batches.isEmpty) return;
  const frames = batches.take();
  send({ type: 'data', frames }, frames);
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
      beforePlan.push(() => emitter.emit(stream, held));
      return 0;
    },
    emitDirect: (task, stream, values) => {
      if (planned) return emitter.emitDirect(task, stream, values);
      const held = [...values];
      beforePlan.push(() => emitter.emitDirect(task, stream, held));
      return 0;
    },
  };
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

class SpoutRunner {
  private active = false;
  private paused = false;
  private scheduled = false;
  private pendingAcks: unknown[] = [];

  constructor(
    private readonly spout: Spout,
    private readonly emitter: Emits,
  ) {}

  readonly collector = {
    emit: (values: readonly unknown[], options?: SpoutEmitOptions) => {
      const stream = options?.stream ?? 'default';
      this.emitter.emit(stream, values);
      countEmit(stream);
      // At-most-once: a tracked tuple counts as delivered once it leaves the spout.
      if (options?.messageId !== undefined) this.pendingAcks.push(options.messageId);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
    },
    emitDirect: (taskId: number, values: readonly unknown[], options?: SpoutEmitOptions) => {
      const stream = options?.stream ?? 'default';
      this.emitter.emitDirect(taskId, stream, values);
      countEmit(stream);
      if (options?.messageId !== undefined) this.pendingAcks.push(options.messageId);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
    },
    reportError,
  };

  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    try {
      if (active) this.spout.activate?.();
      else this.spout.deactivate?.();
    } catch (error) {
      reportError(error);
    }
    this.schedule(0);
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.scheduled || !this.active || this.paused || closing) return;
    this.scheduled = true;
    if (delayMs > 0) setTimeout(this.run, delayMs);
    else setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (!this.active || this.paused || closing) return;
    const start = performance.now();
    counters[BUSY_SINCE] = Date.now();
    let emittedAny = false;
    for (let calls = 1; ; calls++) {
      const before = counters[EMITTED];
      try {
        this.spout.nextTuple();
      } catch (error) {
        reportError(error);
      }
      if (counters[EMITTED] === before) break;
      emittedAny = true;
      if ((calls & 31) === 0 && performance.now() - start >= SPOUT_SLICE_MS) break;
    }
    counters[BUSY_NS] += Math.round((performance.now() - start) * 1e6);
    counters[BUSY_SINCE] = 0;
    flush();
    this.deliverAcks();
    this.schedule(emittedAny ? 0 : IDLE_SPOUT_DELAY_MS);
  };

  private deliverAcks(): void {
    if (this.pendingAcks.length === 0) return;
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
}

class BoltRunner {
  constructor(
    private readonly bolt: Bolt,
    private readonly emitter: Emits,
  ) {}

  // A bolt that emits much per input (split) flushes mid-batch, so one input frame never turns into
  // an unbounded output frame.
  readonly collector = {
    emit: (values: readonly unknown[], options?: BoltEmitOptions) => {
      const stream = options?.stream ?? 'default';
      this.emitter.emit(stream, values);
      countEmit(stream);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
    },
    emitDirect: (taskId: number, values: readonly unknown[], options?: BoltEmitOptions) => {
      const stream = options?.stream ?? 'default';
      this.emitter.emitDirect(taskId, stream, values);
      countEmit(stream);
      if (batches.bufferedBytes >= MAX_BATCH_BYTES) flush();
    },
    // Delivery is at-most-once in this engine version: there is no tuple tree to complete or fail.
    ack: () => {
      counters[ACKED]++;
    },
    fail: () => {
      counters[FAILED]++;
    },
    reportError,
  };

  execute(frame: ArrayBuffer): void {
    const buffer = Buffer.from(frame);
    const srcTask = buffer.readUInt32LE(9);
    const start = performance.now();
    counters[BUSY_SINCE] = Date.now();
    decodeDataFrame(buffer, table, (entry, values) => {
      try {
        this.bolt.execute(new RuntimeTuple(entry.component, srcTask, entry.stream, entry.schema, values));
      } catch (error) {
        reportError(error);
      }
      counters[EXECUTED]++;
    });
    const elapsedNs = Math.round((performance.now() - start) * 1e6);
    counters[BUSY_NS] += elapsedNs;
    counters[EXECUTE_NS] += elapsedNs;
    counters[BUSY_SINCE] = 0;
    flush();
    send({ type: 'consumed', bytes: frame.byteLength });
  }

  tick(): void {
    const start = performance.now();
    counters[BUSY_SINCE] = Date.now();
    try {
      this.bolt.execute(new RuntimeTuple(SYSTEM_COMPONENT, -1, TICK_STREAM, tickSchema, []));
    } catch (error) {
      reportError(error);
    }
    counters[BUSY_SINCE] = 0;
    counters[BUSY_NS] += Math.round((performance.now() - start) * 1e6);
    flush();
  }
}

const tickSchema = new StreamSchema([]);
let closing = false;

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
  const emitter = new Emitter(init.component, batches, table, definition, (name) => topology.createCustomGrouping(name));
  emitter.setTasks(tasks);
  emitter.setShuffleWeights(shuffleWeights());
  let spout: SpoutRunner | undefined;
  let bolt: BoltRunner | undefined;
  let userComponent: Spout | Bolt;
  if (self.kind === 'spout') {
    const component = topology.createSpout(init.component);
    spout = new SpoutRunner(component, routedOncePlanned(emitter));
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
    bolt = new BoltRunner(component, routedOncePlanned(emitter));
    await component.prepare?.(context(), bolt.collector);
    userComponent = component;
    const tickMs = Number(self.config[TICK_FREQUENCY_KEY] ?? 0);
    if (tickMs > 0) setInterval(() => planned && bolt!.tick(), tickMs).unref();
  }

  port.on('message', (message: ToInstance) => {
    switch (message.type) {
      case 'data':
        if (planned) bolt?.execute(message.frame);
        else beforePlan.push(() => bolt?.execute(message.frame));
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
        void shutdown(userComponent);
        break;
    }
  });
  send({ type: 'ready' });
}

async function shutdown(component: Spout | Bolt): Promise<void> {
  if (closing) return;
  closing = true;
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
