import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type Bolt,
  type BoltOutputCollector,
  type ComponentContext,
  type CustomGrouping,
  RuntimeTuple,
  type Spout,
  type SpoutOutputCollector,
  type State,
  type StateKey,
  StreamSchema,
  type Topology,
  type Tuple,
} from '../api/index.js';
import type { Logger } from '../logging/index.js';
import { KeyedStreamlet, Streamlet, StreamletBuilder, WindowConfig, type WindowedValue } from './index.js';
import { SourceSpout } from './components.js';
import { windowStarts } from './window.js';

/**
 * Runs a built topology in this thread: every instance of every component, tuples routed by each
 * input's grouping through one FIFO queue (so, as in the engine, what one task sends another arrives
 * in order), spouts asked for tuples in turn until each has sent its final watermark.
 */
async function runTopology(topology: Topology, options: { reliability?: string; maxPasses?: number } = {}) {
  const definition = topology.definition;
  const tasks = new Map<string, number[]>();
  let nextTask = 1;
  for (const component of definition.components)
    tasks.set(
      component.name,
      Array.from({ length: component.parallelism }, () => nextTask++),
    );
  const queue: [number, Tuple][] = [];
  const bolts = new Map<number, Bolt>();
  const spouts: { spout: Spout; finished: () => boolean }[] = [];
  const warnings: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => void warnings.push(message),
    error: () => undefined,
    child: () => logger,
  };
  const states = new Map<number, State>();
  const effectivelyOnce = options.reliability === 'effectively-once';

  const contextOf = (component: string, index: number, config: Record<string, unknown>): ComponentContext => ({
    topologyName: definition.name,
    topologyId: definition.id,
    componentName: component,
    taskId: tasks.get(component)![index]!,
    componentIndex: index,
    parallelism: tasks.get(component)!.length,
    config: { ...definition.config, ...config, ...(options.reliability ? { reliability: options.reliability } : {}) },
    logger,
    taskIdsOf: (name) => tasks.get(name) ?? [],
  });

  // Each (emitter task, consumer, stream) routes as its grouping says; custom groupings run in the emitter.
  const shuffleNext = new Map<string, number>();
  const customs = new Map<string, CustomGrouping>();
  const route = (component: string, task: number, stream: string, values: readonly unknown[]): void => {
    const fields = definition.components.find((c) => c.name === component)!.outputs.find((s) => s.id === stream)!.fields;
    const tuple = new RuntimeTuple(component, task, stream, new StreamSchema(fields), [...values]);
    for (const consumer of definition.components) {
      for (const input of consumer.inputs) {
        if (input.component !== component || input.stream !== stream) continue;
        const targets = tasks.get(consumer.name)!;
        let chosen: readonly number[];
        const grouping = input.grouping;
        if (grouping.type === 'all') chosen = targets;
        else if (grouping.type === 'fields') chosen = [targets[hash(String(tuple.get(grouping.fields[0]!))) % targets.length]!];
        else if (grouping.type === 'custom') {
          const id = `${task}/${consumer.name}/${grouping.name}`;
          let custom = customs.get(id);
          if (!custom) {
            custom = topology.createCustomGrouping(grouping.name);
            custom.prepare?.({ sourceComponent: component, stream, targetTasks: targets });
            customs.set(id, custom);
          }
          chosen = custom.chooseTasks(values);
        } else {
          const id = `${task}/${consumer.name}/${stream}`;
          const n = shuffleNext.get(id) ?? 0;
          shuffleNext.set(id, n + 1);
          chosen = [targets[n % targets.length]!];
        }
        for (const target of chosen) queue.push([target, tuple]);
      }
    }
  };

  for (const component of definition.components) {
    for (let index = 0; index < component.parallelism; index++) {
      const context = contextOf(component.name, index, component.config);
      const task = context.taskId;
      if (component.kind === 'spout') {
        const spout = topology.createSpout(component.name);
        let finished = false;
        const collector: SpoutOutputCollector = {
          emit: (values, emitOptions) => {
            if (emitOptions?.stream === 'watermark' && values[0] === Infinity) finished = true;
            route(component.name, task, emitOptions?.stream ?? 'default', values);
          },
          emitDirect: () => undefined,
          reportError: (error) => {
            throw error;
          },
        };
        await spout.open?.(context, collector);
        spouts.push({ spout, finished: () => finished });
        if (effectivelyOnce && spout.initState) await spout.initState(stateFor(states, task));
      } else {
        const bolt = topology.createBolt(component.name);
        const collector: BoltOutputCollector = {
          emit: (values, emitOptions) => route(component.name, task, emitOptions?.stream ?? 'default', values),
          emitDirect: () => undefined,
          ack: () => undefined,
          fail: () => undefined,
          reportError: (error) => {
            throw error;
          },
        };
        await bolt.prepare?.(context, collector);
        if (effectivelyOnce && bolt.initState) await bolt.initState(stateFor(states, task));
        bolts.set(task, bolt);
      }
    }
  }

  const drain = () => {
    for (let item = queue.shift(); item; item = queue.shift()) bolts.get(item[0])!.execute(item[1]);
  };
  for (let pass = 0; pass < (options.maxPasses ?? 100_000) && !spouts.every((s) => s.finished()); pass++) {
    for (const { spout, finished } of spouts) if (!finished()) spout.nextTuple();
    drain();
    // Lets an async iterable's pending pull settle.
    await new Promise((resolve) => setImmediate(resolve));
  }
  drain();
  for (const bolt of bolts.values()) await bolt.cleanup?.();
  for (const { spout } of spouts) await spout.close?.();
  return { warnings, finished: spouts.every((s) => s.finished()) };
}

function stateFor(states: Map<number, State>, task: number): State {
  let state = states.get(task);
  if (!state) {
    const map = new Map<StateKey, unknown>();
    state = {
      get: (key) => map.get(key),
      put: (key, value) => void map.set(key, value),
      delete: (key) => map.delete(key),
      has: (key) => map.has(key),
      entries: () => map.entries(),
      get size() {
        return map.size;
      },
    };
    states.set(task, state);
  }
  return state;
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const sentences = ['the cat sat', 'the dog sat on the cat', 'a cat'];

describe('Streamlet API', () => {
  it('counts words with flatMap, keyBy and countByKey, every update in order per key', async () => {
    const builder = StreamletBuilder.create('wc');
    const seen: [string, number][] = [];
    builder
      .fromIterable(() => sentences)
      .flatMap((s) => s.split(' '))
      .setNumPartitions(2)
      .keyBy((w) => w)
      .countByKey()
      .setNumPartitions(3)
      .consume(([word, count]) => void seen.push([word, count]));
    const { finished } = await runTopology(builder.build());
    expect(finished).toBe(true);
    const expected = new Map<string, number>();
    for (const word of sentences.join(' ').split(' ')) expected.set(word, (expected.get(word) ?? 0) + 1);
    for (const [word, n] of expected)
      expect(
        seen.filter(([w]) => w === word).map(([, c]) => c),
        word,
      ).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(seen.length).toBe(sentences.join(' ').split(' ').length);
  });

  it('infers element types through every operator', () => {
    const builder = StreamletBuilder.create('types');
    const numbers = builder.newSource(() => 1);
    expectTypeOf(numbers).toEqualTypeOf<Streamlet<number>>();
    const strings = numbers.map((n) => `${n}`);
    expectTypeOf(strings).toEqualTypeOf<Streamlet<string>>();
    const keyed = strings.keyBy(
      (s) => s.length,
      (s) => ({ s }),
    );
    expectTypeOf(keyed).toEqualTypeOf<KeyedStreamlet<number, { s: string }>>();
    expectTypeOf(keyed.countByKey()).toEqualTypeOf<KeyedStreamlet<number, number>>();
    expectTypeOf(keyed.reduceByKey(0, (a, v) => a + v.s.length)).toEqualTypeOf<KeyedStreamlet<number, number>>();
    const windowed = keyed.reduceByKeyAndWindow(WindowConfig.tumblingTime(10), (a, b) => ({ s: a.s + b.s }));
    expectTypeOf(windowed).toEqualTypeOf<Streamlet<WindowedValue<number, { s: string }>>>();
    const other = numbers.keyBy(
      (n) => n,
      () => true,
    );
    expectTypeOf(keyed.join(other, WindowConfig.tumblingTime(10), (l, r) => [l.s, r] as const)).toEqualTypeOf<
      Streamlet<WindowedValue<number, readonly [string, boolean]>>
    >();
    keyed.outerJoin(other, WindowConfig.tumblingTime(10), (l, r) => {
      expectTypeOf(l).toEqualTypeOf<{ s: string } | undefined>();
      expectTypeOf(r).toEqualTypeOf<boolean | undefined>();
      return 0;
    });
    const parts = strings.split({ short: (s) => s.length < 3, long: (s) => s.length >= 3 });
    expectTypeOf(parts.short).toEqualTypeOf<Streamlet<string>>();
    expectTypeOf(strings.filter((s): s is 'a' => s === 'a')).toEqualTypeOf<Streamlet<'a'>>();
  });

  it('compiles to an ordinary topology: readable unique names, fields grouping on the key, watermarks to every consumer', () => {
    const builder = StreamletBuilder.create('shape');
    const words = builder.fromIterable(() => ['a']).map((w) => w);
    words
      .keyBy((w) => w)
      .countByKey()
      .setName('counts')
      .setNumPartitions(4)
      .consume(() => undefined);
    const { definition } = builder.build({ reliability: 'at-least-once' });
    expect(definition.components.map((c) => [c.name, c.parallelism])).toEqual([
      ['source-1', 1],
      ['map-2', 1],
      ['keyBy-3', 1],
      ['counts', 4],
      ['sink-5', 4],
    ]);
    const counts = definition.components.find((c) => c.name === 'counts')!;
    expect(counts.inputs).toEqual([
      { component: 'keyBy-3', stream: 'default', grouping: { type: 'fields', fields: ['key'] } },
      { component: 'keyBy-3', stream: 'watermark', grouping: { type: 'all' } },
    ]);
    expect(counts.config.autoAck).toBe(true);
    expect(definition.config.reliability).toBe('at-least-once');
    expect(definition.components.find((c) => c.name === 'sink-5')!.outputs).toEqual([]);
  });

  it('refuses what cannot work with errors that say what to do', () => {
    const builder = StreamletBuilder.create('bad');
    const a = builder.fromIterable(() => [1]).keyBy((n) => n);
    expect(() => a.join(a, WindowConfig.tumblingTime(10), () => 0)).toThrow(/joined with itself; clone it/);
    expect(() =>
      a.join(
        builder.fromIterable(() => [1]).keyBy((n) => n),
        WindowConfig.tumblingCount(3),
        () => 0,
      ),
    ).toThrow(/takes a time window/);
    expect(() => a.setName('source-1')).toThrow(/used twice/);
    expect(() => a.setNumPartitions(0)).toThrow(/at least 1/);
    expect(() => WindowConfig.slidingTime(10, 20)).toThrow(/slide 20 ms exceeds its size 10 ms/);
    expect(() => a.map((x) => x).split({ default: () => true })).toThrow(/reserved/);
  });

  it('map, filter, union, clone, split and repartition move every element where they say', async () => {
    const builder = StreamletBuilder.create('ops');
    const out = new Map<string, unknown[]>();
    const collect = (name: string) => (element: unknown) => void out.set(name, [...(out.get(name) ?? []), element]);
    const numbers = builder.fromIterable(() => [1, 2, 3, 4, 5, 6]);
    const [left, right] = numbers.clone(2);
    left!
      .map((n) => n * 10)
      .union(right!.filter((n) => n % 2 === 0))
      .consume(collect('union'));
    const parts = numbers.split({ small: (n) => n <= 2, even: (n) => n % 2 === 0 });
    parts.small.consume(collect('small'));
    parts.even.consume(collect('even'));
    numbers
      .repartition(3, (n) => n % 3)
      .setName('spread')
      .toSink(() => ({ put: collect('spread') }));
    const topology = builder.build();
    await runTopology(topology);
    expect((out.get('union') as number[]).sort((a, b) => a - b)).toEqual([2, 4, 6, 10, 20, 30, 40, 50, 60]);
    expect(out.get('small')).toEqual([1, 2]);
    expect(out.get('even')).toEqual([2, 4, 6]);
    expect(out.get('spread')).toEqual([1, 2, 3, 4, 5, 6]);
    // The partitioner picks the instance: partition p of the operator is its p-th task.
    const spread = topology.definition.components.find((c) => c.name === 'spread')!;
    expect(spread.parallelism).toBe(3);
    const grouping = spread.inputs[0]!.grouping;
    expect(grouping.type).toBe('custom');
    const custom = topology.createCustomGrouping((grouping as { name: string }).name);
    custom.prepare?.({ sourceComponent: 'source-1', stream: 'default', targetTasks: [10, 11, 12] });
    expect([1, 2, 3, 4, 5, 6].map((n) => custom.chooseTasks([null, n, 0]))).toEqual([[11], [12], [10], [11], [12], [10]]);
  });

  it('assigns sliding windows by timestamp', () => {
    expect(windowStarts({ sizeMs: 10, slideMs: 5 }, 12)).toEqual([5, 10]);
    expect(windowStarts({ sizeMs: 10, slideMs: 10 }, -1)).toEqual([-10]);
    expect(windowStarts({ sizeMs: 10, slideMs: 3 }, 9)).toEqual([0, 3, 6, 9]);
  });

  it('counts per key in tumbling event-time windows, firing as the watermark passes and dropping late elements', async () => {
    // ts within 3 ms of the latest are on time; 'x'@1 arrives after 'x'@15, when window [0,10) has fired.
    const events: [string, number][] = [
      ['x', 2],
      ['y', 4],
      ['x', 9],
      ['x', 7],
      ['y', 12],
      ['x', 15],
      ['x', 1],
      ['y', 11],
      ['x', 24],
    ];
    for (const reliability of ['at-most-once', 'effectively-once']) {
      const builder = StreamletBuilder.create('windows');
      const results: WindowedValue<string, number>[] = [];
      builder
        .fromIterable(() => events, { timestamp: ([, ts]) => ts, maxOutOfOrderMs: 3, watermarkIntervalMs: 0 })
        .keyBy(([key]) => key)
        .countByKeyAndWindow(WindowConfig.tumblingTime(10))
        .setNumPartitions(2)
        .consume((r) => void results.push(r));
      const { warnings } = await runTopology(builder.build(), { reliability });
      expect(results.map((r) => [r.key, r.window.start, r.window.end, r.value]).sort(), reliability).toEqual(
        [
          ['x', 0, 10, 3],
          ['y', 0, 10, 1],
          ['x', 10, 20, 1],
          ['y', 10, 20, 2],
          ['x', 20, 30, 1],
        ].sort(),
      );
      expect(warnings.join('\n'), reliability).toMatch(/dropped 1 late element\(s\) \(1 in all\)/);
    }
  });

  it('windows by ingestion time when the source has no timestamp extractor', async () => {
    const builder = StreamletBuilder.create('ingestion');
    const results: WindowedValue<string, number>[] = [];
    const before = Date.now();
    builder
      .fromIterable(() => ['a', 'b', 'a', 'a'])
      .keyBy((s) => s)
      .countByKeyAndWindow(WindowConfig.tumblingTime(3_600_000))
      .consume((r) => void results.push(r));
    await runTopology(builder.build());
    const after = Date.now();
    // The run may straddle an hour boundary: add up each key's windows.
    const totals = new Map<string, number>();
    for (const r of results) totals.set(r.key, (totals.get(r.key) ?? 0) + r.value);
    expect(Object.fromEntries(totals)).toEqual({ a: 3, b: 1 });
    for (const r of results) {
      expect(r.window.end - r.window.start).toBe(3_600_000);
      expect(r.window.end).toBeGreaterThan(before);
      expect(r.window.start).toBeLessThanOrEqual(after);
    }
  });

  it('reduces per key over sliding time windows and over tumbling and sliding count windows', async () => {
    const builder = StreamletBuilder.create('reduce');
    const sliding: WindowedValue<string, number>[] = [];
    const counted: WindowedValue<string, number[]>[] = [];
    const slidingCount: WindowedValue<string, number>[] = [];
    const source = builder
      .fromIterable(() => [1, 2, 3, 4, 5, 6, 7], { timestamp: (n) => n * 4 })
      .keyBy(
        (n) => (n % 2 === 0 ? 'even' : 'odd'),
        (n) => n,
      );
    // ts 4..28; windows of 10 ms every 5 ms.
    source.reduceByKeyAndWindow(WindowConfig.slidingTime(10, 5), (a, b) => a + b).consume((r) => void sliding.push(r));
    source.reduceByKeyAndWindow(WindowConfig.tumblingCount(2), [] as number[], (a, n) => [...a, n]).consume((r) => void counted.push(r));
    source.reduceByKeyAndWindow(WindowConfig.slidingCount(3, 1), (a, b) => a + b).consume((r) => void slidingCount.push(r));
    await runTopology(builder.build());
    const byWindow = (rs: WindowedValue<string, unknown>[]) =>
      rs.map((r) => `${r.key}[${r.window.start},${r.window.end})=${JSON.stringify(r.value)}`).sort();
    // odd: 1@4 3@12 5@20 7@28; even: 2@8 4@16 6@24
    expect(byWindow(sliding)).toEqual(
      [
        'odd[-5,5)=1',
        'odd[0,10)=1',
        'odd[5,15)=3',
        'odd[10,20)=3',
        'odd[15,25)=5',
        'odd[20,30)=12',
        'odd[25,35)=7',
        'even[0,10)=2',
        'even[5,15)=2',
        'even[10,20)=4',
        'even[15,25)=10',
        'even[20,30)=6',
      ].sort(),
    );
    expect(byWindow(counted)).toEqual(['odd[0,2)=[1,3]', 'odd[2,4)=[5,7]', 'even[0,2)=[2,4]'].sort());
    expect(byWindow(slidingCount)).toEqual(['odd[0,3)=9', 'odd[1,4)=15', 'even[0,3)=12'].sort());
  });

  it('joins two keyed streamlets per window: inner, left and outer', async () => {
    const builder = StreamletBuilder.create('joins');
    const impressions = builder
      .fromIterable(
        () => [
          { ad: 'a', id: 'i1', ts: 1 },
          { ad: 'b', id: 'i2', ts: 3 },
          { ad: 'a', id: 'i3', ts: 12 },
          { ad: 'c', id: 'i4', ts: 14 },
        ],
        { timestamp: (e) => e.ts },
      )
      .keyBy(
        (e) => e.ad,
        (e) => e.id,
      );
    const clicks = builder
      .fromIterable(
        async function* () {
          yield { ad: 'a', id: 'c1', ts: 5 };
          yield { ad: 'a', id: 'c2', ts: 8 };
          yield { ad: 'a', id: 'c3', ts: 11 };
          yield { ad: 'd', id: 'c4', ts: 13 };
        },
        { timestamp: (e) => e.ts },
      )
      .keyBy(
        (e) => e.ad,
        (e) => e.id,
      );
    const results = new Map<string, string[]>();
    const window = WindowConfig.tumblingTime(10);
    const show = (name: string) => (r: WindowedValue<string, string>) =>
      void results.set(name, [...(results.get(name) ?? []), `${r.window.start}:${r.key}:${r.value}`]);
    clicks.join(impressions, window, (c, i) => `${c}+${i}`).consume(show('inner'));
    clicks.leftJoin(impressions, window, (c, i) => `${c}+${i ?? '-'}`).consume(show('left'));
    clicks.outerJoin(impressions, window, (c, i) => `${c ?? '-'}+${i ?? '-'}`).consume(show('outer'));
    await runTopology(builder.build());
    expect(results.get('inner')!.sort()).toEqual(['0:a:c1+i1', '0:a:c2+i1', '10:a:c3+i3']);
    expect(results.get('left')!.sort()).toEqual(['0:a:c1+i1', '0:a:c2+i1', '10:a:c3+i3', '10:d:c4+-']);
    expect(results.get('outer')!.sort()).toEqual(['0:b:-+i2', '0:a:c1+i1', '0:a:c2+i1', '10:c:-+i4', '10:a:c3+i3', '10:d:c4+-'].sort());
  });

  it('takes the least watermark of its upstream instances', () => {
    const builder = StreamletBuilder.create('least');
    builder
      .fromIterable(() => [] as string[])
      .setNumPartitions(2)
      .keyBy((s) => s)
      .countByKeyAndWindow(WindowConfig.tumblingTime(10))
      .consume(() => undefined);
    const topology = builder.build();
    const bolt = topology.createBolt('countByKeyAndWindow-3');
    const emitted: [readonly unknown[], string | undefined][] = [];
    const context = {
      componentName: 'countByKeyAndWindow-3',
      taskIdsOf: (name: string) => (name === 'keyBy-2' ? [7, 8] : []),
      config: {},
      logger: { warn: () => undefined },
    } as unknown as ComponentContext;
    void bolt.prepare?.(context, {
      emit: (values, options) => void emitted.push([values, options?.stream]),
    } as BoltOutputCollector);
    const schema = new StreamSchema(['key', 'value', 'ts']);
    const watermarkSchema = new StreamSchema(['watermark']);
    const watermark = (task: number, wm: number) => bolt.execute(new RuntimeTuple('keyBy-2', task, 'watermark', watermarkSchema, [wm]));
    bolt.execute(new RuntimeTuple('keyBy-2', 7, 'default', schema, ['k', 'k', 3]));
    watermark(7, 50);
    expect(emitted).toEqual([]);
    watermark(8, 9);
    expect(emitted).toEqual([
      [[null, { key: 'k', window: { start: 0, end: 10 }, value: 1 }, 9], 'default'],
      [[9], 'watermark'],
    ]);
  });

  it('wraps an existing spout as a source and hands elements to a bolt sink', async () => {
    class Letters implements Spout {
      private collector!: SpoutOutputCollector;
      private next = 0;
      open(_context: ComponentContext, collector: SpoutOutputCollector) {
        this.collector = collector;
      }
      nextTuple() {
        if (this.next < 3) this.collector.emit(['abc'[this.next]!, this.next++]);
      }
    }
    const received: unknown[][] = [];
    const builder = StreamletBuilder.create('spout');
    builder
      .fromSpout<{ letter: string; index: number }>(() => new Letters(), ['letter', 'index'])
      .map((e) => `${e.letter}${e.index}`)
      .toSink(() => ({ execute: (tuple: Tuple) => void received.push([...tuple.values]) }));
    await runTopology(builder.build(), { maxPasses: 10 });
    expect(received.map((values) => values.slice(0, 2))).toEqual([
      [null, 'a0'],
      [null, 'b1'],
      [null, 'c2'],
    ]);
    expect(received.every((values) => typeof values[2] === 'number')).toBe(true);
  });
});

describe('streamlet sources', () => {
  function openSource(spout: SourceSpout, reliability: string) {
    const emitted: { values: unknown[]; stream: string; messageId?: unknown }[] = [];
    const context = {
      componentName: 'source-1',
      config: { reliability },
      componentIndex: 0,
      parallelism: 1,
    } as unknown as ComponentContext;
    const collector: SpoutOutputCollector = {
      emit: (values, options) =>
        void emitted.push({
          values: [...values],
          stream: options?.stream ?? 'default',
          ...(options?.messageId === undefined ? {} : { messageId: options.messageId }),
        }),
      emitDirect: () => undefined,
      reportError: (error) => {
        throw error;
      },
    };
    return { emitted, open: () => spout.open(context, collector) };
  }

  it('under at-least-once replays a failed element with its timestamp, and holds the final watermark until all are acked', async () => {
    const spout = new SourceSpout(
      { kind: 'iterable', factory: () => [10, 20, 30] },
      { timestamp: (n) => n as number, watermarkIntervalMs: 0 },
    );
    const { emitted, open } = openSource(spout, 'at-least-once');
    await open();
    spout.nextTuple();
    const data = emitted.filter((e) => e.stream === 'default');
    expect(data.map((e) => [e.values, e.messageId])).toEqual([
      [[null, 10, 10], 0],
      [[null, 20, 20], 1],
      [[null, 30, 30], 2],
    ]);
    // Element 10 is unacked: the watermark stays below it.
    expect(emitted.filter((e) => e.stream === 'watermark').every((e) => (e.values[0] as number) < 10)).toBe(true);
    spout.ack(1);
    spout.ack(2);
    spout.fail(0);
    emitted.length = 0;
    spout.nextTuple();
    expect(emitted.filter((e) => e.stream === 'default')).toEqual([{ values: [null, 10, 10], stream: 'default', messageId: 0 }]);
    expect(emitted.some((e) => e.stream === 'watermark' && e.values[0] === Infinity)).toBe(false);
    spout.ack(0);
    spout.nextTuple();
    expect(emitted.filter((e) => e.stream === 'watermark').at(-1)!.values).toEqual([Infinity]);
  });

  it('under effectively-once restores its position and goes on from there after a rollback', async () => {
    const spout = new SourceSpout({ kind: 'iterable', factory: () => ['a', 'b', 'c', 'd', 'e'] }, {});
    const { emitted, open } = openSource(spout, 'effectively-once');
    await open();
    const state = stateFor(new Map(), 1);
    await spout.initState(state);
    spout.nextTuple();
    expect(emitted.filter((e) => e.stream === 'default').map((e) => e.values[1])).toEqual(['a', 'b', 'c', 'd', 'e']);
    state.put('position', 2);
    emitted.length = 0;
    // A rollback to a checkpoint taken after two elements: the rest come again, and the end again.
    await spout.initState(state);
    spout.nextTuple();
    expect(emitted.filter((e) => e.stream === 'default').map((e) => e.values[1])).toEqual(['c', 'd', 'e']);
    expect(emitted.filter((e) => e.stream === 'watermark').at(-1)!.values).toEqual([Infinity]);
    spout.preSave(7);
    expect(state.get('position')).toBe(5);
  });

  it('passes a wrapped spout its message ids, acks and backlog, and reports a backlog only when the spout does', async () => {
    const acked: unknown[] = [];
    const spout = new SourceSpout(
      {
        kind: 'spout',
        fields: ['n'],
        factory: () => {
          let collector!: SpoutOutputCollector;
          return {
            open: (_context: ComponentContext, c: SpoutOutputCollector) => void (collector = c),
            nextTuple: () => collector.emit([5], { messageId: 'm5' }),
            ack: (id: unknown) => void acked.push(id),
            backlog: () => 42,
          };
        },
      },
      { timestamp: (e) => (e as { n: number }).n },
    );
    const { emitted, open } = openSource(spout, 'at-least-once');
    await open();
    await spout.nextTuple();
    expect(emitted[0]).toEqual({ values: [null, { n: 5 }, 5], stream: 'default', messageId: 'm5' });
    spout.ack('m5');
    expect(acked).toEqual(['m5']);
    expect(spout.backlog?.()).toBe(42);
    const plain = new SourceSpout({ kind: 'iterable', factory: () => [] }, {});
    await openSource(plain, 'at-most-once').open();
    expect(plain.backlog).toBeUndefined();
  });

  it('draws an async iterable one element at a time without blocking nextTuple', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const spout = new SourceSpout(
      {
        kind: 'iterable',
        factory: async function* () {
          yield 1;
          await gate;
          yield 2;
        },
      },
      {},
    );
    const { emitted, open } = openSource(spout, 'at-most-once');
    await open();
    const data = () => emitted.filter((e) => e.stream === 'default').map((e) => e.values[1]);
    for (let i = 0; i < 5; i++) {
      spout.nextTuple();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(data()).toEqual([1]);
    release();
    for (let i = 0; i < 5; i++) {
      spout.nextTuple();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(data()).toEqual([1, 2]);
    expect(emitted.filter((e) => e.stream === 'watermark').at(-1)!.values).toEqual([Infinity]);
  });
});
