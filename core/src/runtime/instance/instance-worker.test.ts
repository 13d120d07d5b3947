/**
 * The instance worker with an async bolt (fixtures/async-topology.mjs), driven as its stream manager
 * drives it: frames in, output frames, credits and snapshots out. Runs the built worker (dist/), as
 * link.test.ts runs the built link. What is checked is the order of the worker's messages, never
 * how long anything took.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { TopologyDefinition } from '../../model/topology.js';
import { decodeDataFrame, Emitter, OutboundBatches, StreamTable } from '../routing.js';
import { AckKind, DataFrameHeader } from '../wire/frames.js';
import { decodeReliableFrame, writeMarkerRecord } from './delivery-frames.js';
import { KeyedState } from './keyed-state.js';
import { newCounterBuffer, ERRORS, EXECUTED, FAILED, type DeliverySettings, type FromInstance, type InstanceInit } from './messages.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = new URL('../../../dist/runtime/instance/instance-worker.js', import.meta.url);
const BUNDLE = pathToFileURL(path.join(here, 'fixtures', 'async-topology.mjs')).href;

const SOURCE = 1;
const SLOW = 2;
const OUT = 3;
const TICKER = 4;
const TASKS: Array<[string, number[]]> = [
  ['ticker', [TICKER]],
  ['source', [SOURCE]],
  ['slow', [SLOW]],
  ['out', [OUT]],
];

async function definitionWith(config: Record<string, unknown>, component = 'slow'): Promise<TopologyDefinition> {
  const topology = ((await import(BUNDLE)) as { default: { definition: TopologyDefinition } }).default;
  const definition = structuredClone(topology.definition);
  return {
    ...definition,
    components: definition.components.map((c) => (c.name === component ? { ...c, config: { ...c.config, ...config } } : c)),
  };
}

/** The worker of `slow` and every message it sent, in order. */
interface Harness {
  readonly worker: Worker;
  readonly messages: FromInstance[];
  readonly counters: Float64Array;
  readonly definition: TopologyDefinition;
  /** Resolves once a message matching `match` has come (or came already). */
  until(match: (message: FromInstance, index: number) => boolean): Promise<number>;
}

let running: Worker | undefined;

afterEach(async () => {
  await running?.terminate();
  running = undefined;
});

async function start(
  config: Record<string, unknown>,
  reliability: DeliverySettings['reliability'],
  component: { name: string; task: number } = { name: 'slow', task: SLOW },
): Promise<Harness> {
  const definition = await definitionWith(config, component.name);
  const counters = newCounterBuffer(1);
  const init: InstanceInit = {
    counters,
    bundleUrl: BUNDLE,
    definition,
    component: component.name,
    taskId: component.task,
    componentIndex: 0,
    tasks: TASKS,
    runtimeConfig: {},
    logLevel: 'error',
    delivery: { reliability, messageTimeoutMs: 30_000, maxSpoutPending: 0, maxParallelism: 128 },
    epoch: 0,
  };
  const worker = new Worker(WORKER, { workerData: init });
  running = worker;
  const messages: FromInstance[] = [];
  const waiters: Array<() => void> = [];
  worker.on('message', (message: FromInstance) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const until = async (match: (message: FromInstance, index: number) => boolean): Promise<number> => {
    for (;;) {
      const found = messages.findIndex(match);
      if (found >= 0) return found;
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        worker.once('error', reject);
      });
    }
  };
  const harness = { worker, messages, counters: new Float64Array(counters), definition, until };
  await until((m) => m.type === 'ready' || m.type === 'failed');
  expect(messages.find((m) => m.type === 'failed')).toBeUndefined();
  return harness;
}

/** One frame from `source` to `slow` with these values, in the worker's epoch; anchored (at-least-once) with root = value. */
function frameOf(
  definition: TopologyDefinition,
  values: readonly number[],
  options: { anchored?: boolean; epoch?: number } = {},
): ArrayBuffer {
  const batches = new OutboundBatches(SOURCE);
  batches.epoch = options.epoch ?? 0;
  const emitter = new Emitter('source', batches, new StreamTable(definition), definition, () => {
    throw new Error('no custom grouping');
  });
  emitter.setTasks(new Map(TASKS));
  for (const value of values) {
    if (options.anchored) {
      emitter.trailer = (writer) => {
        writer.u8(1);
        writer.u32(SOURCE);
        writer.u32(7);
        writer.u32(value);
        writer.u32(value + 1);
        writer.u32(value + 2);
      };
    }
    emitter.emit('default', [value]);
  }
  const frames = batches.take();
  expect(frames.length).toBe(1);
  return frames[0]!;
}

function markerFrame(id: number, epoch: number, from = SOURCE): ArrayBuffer {
  const batches = new OutboundBatches(from);
  batches.epoch = epoch;
  batches.appendRecord(SLOW, (writer) => writeMarkerRecord(writer, id));
  return batches.take()[0]!;
}

/**
 * Values `slow` emitted to `out` in the messages up to `end`, in order; `reliable` frames carry
 * markers and acks, `anchored` ones anchors too.
 */
function emitted(harness: Harness, end = harness.messages.length, frames: 'plain' | 'reliable' | 'anchored' = 'plain'): number[] {
  const table = new StreamTable(harness.definition);
  const values: number[] = [];
  for (const message of harness.messages.slice(0, end)) {
    if (message.type !== 'data') continue;
    for (const frame of message.frames) {
      const buffer = Buffer.from(frame);
      if (buffer.readUInt32LE(DataFrameHeader.destTaskOffset) !== OUT) continue;
      if (frames !== 'plain')
        decodeReliableFrame(buffer, table, frames === 'anchored', {
          tuple: (_e, v) => values.push(v[0] as number),
          ack: () => undefined,
          marker: () => undefined,
        });
      else decodeDataFrame(buffer, table, (_entry, v) => values.push(v[0] as number));
    }
  }
  return values;
}

describe('an async bolt in its worker', () => {
  it('takes no more input while maxInFlight executes are in flight: a frame is credited only once its last tuple started', async () => {
    const harness = await start({ maxInFlight: 2, delayMs: 30 }, 'at-most-once');
    const frame = frameOf(harness.definition, [0, 1, 2, 3, 4]);
    const bytes = frame.byteLength;
    harness.worker.postMessage({ type: 'data', frame }, [frame]);
    const credited = await harness.until((m) => m.type === 'consumed');
    expect(harness.messages[credited]).toEqual({ type: 'consumed', bytes });
    // Two slots: tuple 4 starts once 0..3 have run in two rounds, so at least two outputs left before the credit.
    expect(emitted(harness, credited).length).toBeGreaterThanOrEqual(2);
    await harness.until(() => emitted(harness).length === 5);
    // Ordered (the default): output in input order, whatever order the timers fired in.
    expect(emitted(harness)).toEqual([0, 1, 2, 3, 4]);
    expect(harness.counters[EXECUTED]).toBe(5);
  });

  it('runs frames queued behind a full bolt once each, in order, and credits each of them once', async () => {
    const harness = await start({ maxInFlight: 3, delayMs: 10 }, 'at-most-once');
    const frames = [0, 1, 2, 3].map((f) => frameOf(harness.definition, [5 * f, 5 * f + 1, 5 * f + 2, 5 * f + 3, 5 * f + 4]));
    const bytes = frames.map((frame) => frame.byteLength);
    for (const frame of frames) harness.worker.postMessage({ type: 'data', frame }, [frame]);
    await harness.until(() => emitted(harness).length >= 20 && harness.messages.filter((m) => m.type === 'consumed').length >= 4);
    expect(emitted(harness)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(harness.messages.filter((m) => m.type === 'consumed')).toEqual(bytes.map((b) => ({ type: 'consumed', bytes: b })));
    expect(harness.counters[EXECUTED]).toBe(20);
  });

  it('with maxInFlight 1 runs one execute at a time, each tuple after the previous one finished', async () => {
    const harness = await start({ delayMs: 5 }, 'at-most-once');
    const frame = frameOf(harness.definition, [0, 1, 2, 3]);
    harness.worker.postMessage({ type: 'data', frame }, [frame]);
    const credited = await harness.until((m) => m.type === 'consumed');
    expect(emitted(harness, credited)).toEqual([0, 1, 2]);
    await harness.until(() => emitted(harness).length === 4);
    expect(emitted(harness)).toEqual([0, 1, 2, 3]);
  });

  it.each([1, 4])(
    'under at-least-once with autoAck and maxInFlight %i fails the tuple whose execute rejected, acks the others, counts errors',
    async (maxInFlight) => {
      const harness = await start({ maxInFlight, delayMs: 5, failOdd: true, autoAck: true }, 'at-least-once');
      const frame = frameOf(harness.definition, [10, 11, 12, 13], { anchored: true });
      harness.worker.postMessage({ type: 'data', frame }, [frame]);
      const table = new StreamTable(harness.definition);
      const outcomes = new Map<number, AckKind>();
      const readAcks = () => {
        outcomes.clear();
        for (const message of harness.messages) {
          if (message.type !== 'data') continue;
          for (const f of message.frames) {
            const buffer = Buffer.from(f);
            if (buffer.readUInt32LE(DataFrameHeader.destTaskOffset) !== SOURCE) continue;
            decodeReliableFrame(buffer, table, false, {
              tuple: () => undefined,
              marker: () => undefined,
              ack: (kind, _rootHigh, rootLow) => outcomes.set(rootLow, kind),
            });
          }
        }
        return outcomes.size;
      };
      await harness.until(() => readAcks() === 4);
      expect(Object.fromEntries(outcomes)).toEqual({ 10: AckKind.Ack, 11: AckKind.Fail, 12: AckKind.Ack, 13: AckKind.Fail });
      expect(harness.counters[ERRORS]).toBe(2);
      expect(harness.counters[FAILED]).toBe(2);
      expect(emitted(harness, undefined, 'anchored')).toEqual([10, 12]);
    },
  );

  it('under effectively-once finishes executes begun before a marker before saving state, starting none after it until then', async () => {
    const harness = await start({ maxInFlight: 8, delayMs: 40 }, 'effectively-once');
    harness.worker.postMessage({ type: 'restore', epoch: 1, parts: [] });
    await harness.until((m) => m.type === 'restored');
    const before = frameOf(harness.definition, [0, 1, 2, 3], { epoch: 1 });
    const marker = markerFrame(5, 1);
    const after = frameOf(harness.definition, [4, 5], { epoch: 1 });
    harness.worker.postMessage({ type: 'data', frame: before }, [before]);
    harness.worker.postMessage({ type: 'data', frame: marker }, [marker]);
    // slow reads ticker too: its marker completes the alignment (it sends nothing else).
    const tickerMarker = markerFrame(5, 1, TICKER);
    harness.worker.postMessage({ type: 'data', frame: tickerMarker }, [tickerMarker]);
    harness.worker.postMessage({ type: 'data', frame: after }, [after]);
    const saved = await harness.until((m) => m.type === 'snapshot');
    // Everything before the marker finished and left before the snapshot; nothing after it had started.
    expect(emitted(harness, saved, 'reliable')).toEqual([0, 1, 2, 3]);
    const snapshot = harness.messages[saved] as Extract<FromInstance, { type: 'snapshot' }>;
    expect(snapshot.id).toBe(5);
    const state = new KeyedState('slow', false);
    state.decode(snapshot.data, () => true);
    expect(state.get('done')).toBe(4);
    await harness.until(() => emitted(harness, undefined, 'reliable').length === 6);
    expect(emitted(harness, undefined, 'reliable')).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('an async spout in its worker', () => {
  /** [call number, most calls unsettled so far] of each tuple the ticker sent `slow`, once there are `count`. */
  async function ticks(harness: Harness, count: number): Promise<Array<[number, number]>> {
    const table = new StreamTable(harness.definition);
    const read = () => {
      const got: Array<[number, number]> = [];
      for (const message of harness.messages) {
        if (message.type !== 'data') continue;
        for (const frame of message.frames)
          decodeDataFrame(Buffer.from(frame), table, (_e, v) => got.push([v[0] as number, v[1] as number]));
      }
      return got;
    };
    await harness.until(() => read().length >= count);
    return read();
  }

  it('is not asked for more until its nextTuple settles', async () => {
    const harness = await start({}, 'at-most-once', { name: 'ticker', task: TICKER });
    harness.worker.postMessage({ type: 'activate' });
    const got = await ticks(harness, 10);
    expect(got.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, n) => [n, 1]));
  });

  it('with maxInFlight n has up to n calls unsettled at once', async () => {
    const harness = await start({ maxInFlight: 3 }, 'at-most-once', { name: 'ticker', task: TICKER });
    harness.worker.postMessage({ type: 'activate' });
    const got = await ticks(harness, 30);
    expect(Math.max(...got.map(([, most]) => most))).toBe(3);
    expect(got.map(([n]) => n).sort((a, b) => a - b)).toEqual(got.map((_, i) => i));
  });
});
