import { describe, expect, it } from 'vitest';
import { TopologyBuilder } from '../api/topology-builder.js';
import type { Bolt, Spout } from '../api/component.js';
import { TopologyError, TupleValueError } from '../errors/index.js';
import { decodeDataFrame, Emitter, hashValue, OutboundBatches, StreamTable } from './routing.js';
import { destTaskOf, MAX_FRAME_BYTES, MAX_TUPLE_BYTES } from './wire/frames.js';

const spout = (): Spout => ({ nextTuple() {} });
const bolt = (): Bolt => ({ execute() {} });

function topology() {
  const builder = new TopologyBuilder('t');
  builder
    .setSpout('words', spout)
    .outputFields('word', 'n')
    .stream('control', ['cmd'])
    .stream('pick', ['x'], { direct: true })
    .stream('solo', ['payload']);
  builder.setBolt('shuffled', bolt, 3).shuffleGrouping('words');
  builder.setBolt('keyed', bolt, 4).fieldsGrouping('words', ['word']);
  builder.setBolt('everyone', bolt, 2).allGrouping('words', 'control');
  builder.setBolt('lowest', bolt, 2).globalGrouping('words', 'control');
  builder.setBolt('picked', bolt, 2).directGrouping('words', 'pick');
  builder.setBolt('single', bolt, 2).shuffleGrouping('words', 'solo');
  return builder.build();
}

const TASKS = new Map<string, number[]>([
  ['words', [1]],
  ['shuffled', [2, 3, 4]],
  ['keyed', [5, 6, 7, 8]],
  ['everyone', [9, 10]],
  ['lowest', [11, 12]],
  ['picked', [13, 14]],
  ['single', [15, 16]],
]);

function emitter() {
  const t = topology();
  const table = new StreamTable(t.definition);
  const batches = new OutboundBatches(1);
  const e = new Emitter('words', batches, table, t.definition, (name) => t.createCustomGrouping(name));
  e.setTasks(TASKS);
  return { e, batches, table };
}

function received(batches: OutboundBatches, table: StreamTable): Map<number, unknown[][]> {
  const byTask = new Map<number, unknown[][]>();
  for (const frame of batches.take()) {
    expect(frame.byteLength).toBeLessThanOrEqual(4 + MAX_FRAME_BYTES);
    const buffer = Buffer.from(frame);
    const task = destTaskOf(buffer);
    const tuples = byTask.get(task) ?? [];
    decodeDataFrame(buffer, table, (entry, values) => tuples.push([entry.stream, ...values]));
    byTask.set(task, tuples);
  }
  return byTask;
}

function refusalOf(emit: () => unknown): TupleValueError {
  try {
    emit();
  } catch (error) {
    expect(error).toBeInstanceOf(TupleValueError);
    expect(error).toBeInstanceOf(TopologyError);
    return error as TupleValueError;
  }
  throw new Error('the emit was not refused');
}

describe('emitter-side routing', () => {
  it('shuffles evenly, keys by fields consistently, and ignores consumers of other streams', () => {
    const { e, batches, table } = emitter();
    for (let i = 0; i < 30; i++) expect(e.emit('default', [`w${i % 5}`, i])).toBe(2);
    const byTask = received(batches, table);
    expect([2, 3, 4].map((t) => byTask.get(t)?.length)).toEqual([10, 10, 10]);
    const keyed = [5, 6, 7, 8].flatMap((t) => (byTask.get(t) ?? []).map((tuple) => [t, tuple[1]] as const));
    expect(keyed).toHaveLength(30);
    const taskOfWord = new Map<unknown, number>();
    for (const [task, word] of keyed) {
      expect(taskOfWord.get(word) ?? task).toBe(task);
      taskOfWord.set(word, task);
    }
    expect(byTask.has(9)).toBe(false);
  });

  it('routes shuffle traffic around avoided tasks while others can take it, and keeps keyed traffic where it belongs', () => {
    const { e, batches, table } = emitter();
    e.setShuffleWeights({ '2': 3 });
    e.setAvoidedTasks(new Set([2, 5, 6, 7, 8]));
    for (let i = 0; i < 30; i++) e.emit('default', [`w${i % 5}`, i]);
    let byTask = received(batches, table);
    expect([2, 3, 4].map((t) => byTask.get(t)?.length ?? 0)).toEqual([0, 15, 15]);
    // Fields grouping still delivers every tuple to its key's task, avoided or not.
    expect([5, 6, 7, 8].reduce((acc, t) => acc + (byTask.get(t)?.length ?? 0), 0)).toBe(30);
    // A new plan keeps the avoidance; lifting it restores the weights.
    e.setTasks(TASKS);
    e.setAvoidedTasks(new Set([2, 3, 4]));
    for (let i = 0; i < 30; i++) e.emit('default', [`w${i % 5}`, i]);
    byTask = received(batches, table);
    expect([2, 3, 4].map((t) => byTask.get(t)?.length ?? 0)).toEqual([18, 6, 6]);
    e.setAvoidedTasks(new Set());
    for (let i = 0; i < 30; i++) e.emit('default', [`w${i % 5}`, i]);
    byTask = received(batches, table);
    expect([2, 3, 4].map((t) => byTask.get(t)?.length ?? 0)).toEqual([18, 6, 6]);
  });

  it('sends to all tasks, to the lowest task, and directly to a chosen task', () => {
    const { e, batches, table } = emitter();
    expect(e.emit('control', ['stop'])).toBe(3);
    expect(e.emitDirect(14, 'pick', [1])).toBe(1);
    const byTask = received(batches, table);
    expect(byTask.get(9)).toEqual([['control', 'stop']]);
    expect(byTask.get(10)).toEqual([['control', 'stop']]);
    expect(byTask.get(11)).toEqual([['control', 'stop']]);
    expect(byTask.has(12)).toBe(false);
    expect(byTask.get(14)).toEqual([['pick', 1]]);
  });

  it('rejects undeclared streams, wrong arity and direct emits to tasks that do not read the stream', () => {
    const { e } = emitter();
    expect(() => e.emit('lines', ['x'])).toThrow(/emitted on stream 'lines', which it does not declare/);
    expect(() => e.emit('default', ['only-one'])).toThrow(/emitted 1 value\(s\) on stream 'default', which declares 2 field\(s\): word, n/);
    expect(() => e.emitDirect(2, 'pick', [1])).toThrow(/'picked' has tasks 13, 14/);
    expect(() => e.emitDirect(13, 'default', ['w', 1])).toThrow(/no bolt reads it with direct grouping/);
  });

  it('hashes values the same way in every process', () => {
    expect(hashValue('heron')).toBe(hashValue('heron'));
    expect(hashValue('heron')).not.toBe(hashValue('ardea'));
    expect(hashValue(42)).toBe(hashValue(42));
    expect(hashValue({ a: 1 })).toBe(hashValue({ a: 1 }));
  });

  it('groups by fields holding bigints, Maps and objects: equal values to one task, different ones spread', () => {
    const { e, batches, table } = emitter();
    const key = (i: number) =>
      new Map<unknown, unknown>([
        ['id', BigInt(i) * 10n ** 20n],
        [{ nested: i }, new Set([i])],
      ]);
    for (let i = 0; i < 40; i++) e.emit('default', [key(i % 8), i]);
    const byTask = received(batches, table);
    const taskOfKey = new Map<string, number>();
    for (const task of [5, 6, 7, 8]) {
      for (const [, word] of byTask.get(task) ?? []) {
        const id = String((word as Map<unknown, unknown>).get('id'));
        expect(taskOfKey.get(id) ?? task).toBe(task);
        taskOfKey.set(id, task);
      }
    }
    expect(taskOfKey.size).toBe(8);
    expect(new Set(taskOfKey.values()).size).toBeGreaterThan(1);
  });
});

describe('emit is all or nothing', () => {
  it('refuses a value that cannot be sent with one error naming the component, stream, field and where in the value', () => {
    const { e, batches } = emitter();
    const error = refusalOf(() => e.emit('default', ['w', { items: [0, 1, 2, { fn: function handler() {} }] }]));
    expect(error.message).toMatch(
      new RegExp(
        String.raw`^'words' emitted on stream 'default', field 'n' at \.items\[3\]\.fn: a function \(handler\) cannot be sent; ` +
          String.raw`nothing of this tuple was sent`,
      ),
    );
    expect(error.code).toBe('tuple.unsendable');
    expect(refusalOf(() => e.emit('solo', [Symbol('s')])).message).toContain("field 'payload': a symbol cannot be sent");
    class Reading {
      value = 1;
    }
    expect(refusalOf(() => e.emitDirect(13, 'pick', [[new Reading()]])).message).toContain(
      "field 'x' at [0]: an instance of Reading cannot be sent",
    );
    expect(batches.isEmpty).toBe(true);
  });

  it('delivers every good tuple intact around refused ones, whether a tuple goes to one task or several', () => {
    const { e, batches, table } = emitter();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad = [Symbol('bad'), cyclic, () => 0, new (class Widget {})(), Promise.resolve(), [new WeakSet()]];
    const sent: unknown[][] = [];
    let refused = 0;
    for (let i = 0; i < 2020; i++) {
      const payload = { i, word: `w${i}`, bytes: Buffer.from([i & 0xff, i >> 8]), when: new Date(i), big: BigInt(i) ** 3n };
      if (i % 101 === 100) {
        const value = bad[refused % bad.length];
        // A good value in the first field: what was written of it must be rolled back too.
        refusalOf(() => e.emit('default', [`w${i}`, [payload, value]]));
        refusalOf(() => e.emit('solo', [[payload, value]]));
        refused++;
        continue;
      }
      e.emit('default', [`w${i}`, payload]);
      e.emit('solo', [payload]);
      sent.push(['default', `w${i}`, payload], ['solo', payload]);
    }
    expect(refused).toBe(20);
    const byTask = received(batches, table);
    const shuffled = [2, 3, 4].flatMap((t) => byTask.get(t) ?? []);
    const keyed = [5, 6, 7, 8].flatMap((t) => byTask.get(t) ?? []);
    const single = [15, 16].flatMap((t) => byTask.get(t) ?? []);
    const sort = (tuples: unknown[][]) => [...tuples].sort((a, b) => (a.at(-1) as { i: number }).i - (b.at(-1) as { i: number }).i);
    const expectedDefault = sent.filter((t) => t[0] === 'default');
    expect(sort(shuffled)).toStrictEqual(expectedDefault);
    expect(sort(keyed)).toStrictEqual(expectedDefault);
    expect(sort(single)).toStrictEqual(sent.filter((t) => t[0] === 'solo'));
  });

  it('reaches no consumer of an all-grouped stream with a refused value', () => {
    const { e, batches, table } = emitter();
    e.emit('control', ['before']);
    refusalOf(() => e.emit('control', [{ nested: [1, Symbol('no')] }]));
    e.emit('control', ['after']);
    const byTask = received(batches, table);
    for (const task of [9, 10, 11])
      expect(byTask.get(task)).toEqual([
        ['control', 'before'],
        ['control', 'after'],
      ]);
  });

  it('checks values even when no task reads the stream', () => {
    const { e } = emitter();
    e.setTasks(new Map([...TASKS].filter(([component]) => component !== 'single')));
    expect(e.emit('solo', ['fine'])).toBe(0);
    refusalOf(() => e.emit('solo', [() => 0]));
  });
});

describe('the tuple size limit', () => {
  // A one-field tuple takes 2 bytes of stream index and 5 of Buffer header besides its bytes.
  const fitting = () => Buffer.alloc(MAX_TUPLE_BYTES - 7, 7);

  it('sends a tuple just under the limit to one task and to several, each in a frame within the limit', () => {
    const { e, batches, table } = emitter();
    e.emit('solo', ['small']);
    e.emit('solo', ['small']);
    e.emit('solo', [fitting()]);
    e.emit('control', [fitting()]);
    const byTask = received(batches, table);
    const payloads = [15, 16].flatMap((t) => byTask.get(t) ?? []).map((tuple) => tuple[1]);
    expect(payloads.filter((p) => p === 'small')).toHaveLength(2);
    expect(payloads.filter((p) => Buffer.isBuffer(p) && p.equals(fitting()))).toHaveLength(1);
    for (const task of [9, 10, 11]) {
      expect(byTask.get(task)).toHaveLength(1);
      expect((byTask.get(task)![0]![1] as Buffer).equals(fitting())).toBe(true);
    }
  });

  it('splits a batch that a big tuple would overflow, keeping the order of tuples', () => {
    const { e, batches, table } = emitter();
    e.emitDirect(13, 'pick', ['first']);
    e.emitDirect(13, 'pick', [Buffer.alloc(MAX_TUPLE_BYTES - 7, 1)]);
    e.emitDirect(13, 'pick', ['last']);
    // The big tuple fills a frame of its own: one before it, one after it.
    const frames = batches.take();
    expect(frames).toHaveLength(3);
    const tuples: unknown[] = [];
    for (const frame of frames) {
      expect(frame.byteLength).toBeLessThanOrEqual(4 + MAX_FRAME_BYTES);
      decodeDataFrame(Buffer.from(frame), table, (_entry, values) => tuples.push(values[0]));
    }
    expect(tuples.map((t) => (Buffer.isBuffer(t) ? t.length : t))).toEqual(['first', MAX_TUPLE_BYTES - 7, 'last']);
  });

  it('refuses a tuple just over the limit, whatever reads it, saying its size and the limit', () => {
    const { e, batches } = emitter();
    const over = Buffer.alloc(MAX_TUPLE_BYTES - 6);
    for (const emit of [() => e.emit('solo', [over]), () => e.emit('control', [over]), () => e.emitDirect(14, 'pick', [over])]) {
      const error = refusalOf(emit);
      expect(error.code).toBe('tuple.too-large');
      expect(error.message).toContain(
        `whose encoding takes ${MAX_TUPLE_BYTES + 1} bytes; a tuple may take at most ${MAX_TUPLE_BYTES} bytes`,
      );
    }
    const text = refusalOf(() => e.emit('solo', ['x'.repeat(70 * 1024 * 1024)]));
    expect(text.message).toContain(`'words' emitted a tuple on stream 'solo' whose encoding takes ${2 + 5 + 70 * 1024 * 1024} bytes`);
    expect(batches.isEmpty).toBe(true);
  });
});
