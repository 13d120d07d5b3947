import { describe, expect, it } from 'vitest';
import { TopologyBuilder } from '../api/topology-builder.js';
import type { Bolt, Spout } from '../api/component.js';
import { decodeDataFrame, Emitter, hashValue, OutboundBatches, StreamTable } from './routing.js';
import { destTaskOf } from './wire/frames.js';

const spout = (): Spout => ({ nextTuple() {} });
const bolt = (): Bolt => ({ execute() {} });

function topology() {
  const builder = new TopologyBuilder('t');
  builder.setSpout('words', spout).outputFields('word', 'n').stream('control', ['cmd']).stream('pick', ['x'], { direct: true });
  builder.setBolt('shuffled', bolt, 3).shuffleGrouping('words');
  builder.setBolt('keyed', bolt, 4).fieldsGrouping('words', ['word']);
  builder.setBolt('everyone', bolt, 2).allGrouping('words', 'control');
  builder.setBolt('lowest', bolt, 2).globalGrouping('words', 'control');
  builder.setBolt('picked', bolt, 2).directGrouping('words', 'pick');
  return builder.build();
}

const TASKS = new Map<string, number[]>([
  ['words', [1]],
  ['shuffled', [2, 3, 4]],
  ['keyed', [5, 6, 7, 8]],
  ['everyone', [9, 10]],
  ['lowest', [11, 12]],
  ['picked', [13, 14]],
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
    const buffer = Buffer.from(frame);
    const task = destTaskOf(buffer);
    const tuples: unknown[][] = [];
    decodeDataFrame(buffer, table, (entry, values) => tuples.push([entry.stream, ...values]));
    byTask.set(task, tuples);
  }
  return byTask;
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
});
