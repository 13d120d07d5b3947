import { describe, expect, it } from 'vitest';
import { TopologyError } from '../errors/index.js';
import { MiB } from '../model/resources.js';
import type { Bolt, Spout } from './component.js';
import { isTopology, TopologyBuilder } from './topology-builder.js';
import { RuntimeTuple, StreamSchema } from './tuple.js';

class Sentences implements Spout {
  nextTuple(): void {}
}
class Split implements Bolt {
  execute(): void {}
}

function wordCount(): TopologyBuilder {
  const builder = new TopologyBuilder('word-count').containers(2).config('topology.debug', false);
  builder
    .setSpout('sentence', () => new Sentences())
    .outputFields('sentence')
    .config('rate', 1000);
  builder
    .setBolt('split', () => new Split(), 2)
    .shuffleGrouping('sentence')
    .outputFields('word');
  builder
    .setBolt('count', () => new Split(), 3)
    .fieldsGrouping('split', ['word'])
    .outputFields('word', 'count')
    .resources({ cpu: 0.5, ram: '512MiB' })
    .tickFrequency(1000);
  return builder;
}

describe('TopologyBuilder', () => {
  it('builds a validated definition with streams, groupings, resources and config', () => {
    const topology = wordCount().build();
    expect(isTopology(topology)).toBe(true);
    const { definition } = topology;
    expect(definition.name).toBe('word-count');
    expect(definition.packing).toEqual({ containers: 2 });
    expect(definition.config).toEqual({ 'topology.debug': false });
    const count = definition.components.find((c) => c.name === 'count')!;
    expect(count).toMatchObject({
      kind: 'bolt',
      parallelism: 3,
      resources: { cpu: 0.5, ramBytes: 512 * MiB },
      config: { tickFrequencyMs: 1000 },
      outputs: [{ id: 'default', fields: ['word', 'count'] }],
      inputs: [{ component: 'split', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }],
    });
    expect(definition.components.find((c) => c.name === 'sentence')!.config).toEqual({ rate: 1000 });
  });

  it('creates a fresh component per call and refuses the wrong kind', () => {
    const topology = wordCount().build();
    const a = topology.createBolt('split');
    expect(a).toBeInstanceOf(Split);
    expect(topology.createBolt('split')).not.toBe(a);
    expect(() => topology.createSpout('split')).toThrow(/'split' is a bolt, not a spout/);
    expect(() => topology.createBolt('join')).toThrow(/has no component 'join'/);
  });

  it('fails at build time for an unknown component, an undeclared field or a cycle', () => {
    const unknown = new TopologyBuilder('t');
    unknown.setSpout('s', () => new Sentences()).outputFields('x');
    unknown.setBolt('b', () => new Split()).shuffleGrouping('source');
    expect(() => unknown.build()).toThrow(/bolt 'b' subscribes to unknown component 'source'/);

    const field = new TopologyBuilder('t');
    field.setSpout('s', () => new Sentences()).outputFields('x');
    field.setBolt('b', () => new Split()).fieldsGrouping('s', ['y']);
    expect(() => field.build()).toThrow(/field\(s\) 'y'/);

    const cycle = new TopologyBuilder('t');
    cycle.setSpout('s', () => new Sentences()).outputFields('x');
    cycle
      .setBolt('a', () => new Split())
      .shuffleGrouping('s')
      .shuffleGrouping('b')
      .outputFields('x');
    cycle
      .setBolt('b', () => new Split())
      .shuffleGrouping('a')
      .outputFields('x');
    expect(() => cycle.build()).toThrow(/cycle: a -> b -> a/);
  });

  it('rejects duplicates, instances instead of factories, ticks on spouts and bad byte amounts', () => {
    const builder = new TopologyBuilder('t');
    builder.setSpout('s', () => new Sentences());
    expect(() => builder.setBolt('s', () => new Split())).toThrow(/defined twice/);
    expect(() => builder.setBolt('b', new Split() as unknown as () => Bolt)).toThrow(/pass a factory/);
    expect(() =>
      builder
        .setBolt('c', () => new Split())
        .shuffleGrouping('s')
        .shuffleGrouping('s'),
    ).toThrow(/twice/);
    expect(() => builder.setBolt('d', () => new Split()).resources({ ram: 'big' })).toThrow(TopologyError);
    const ticking = new TopologyBuilder('t');
    ticking
      .setSpout('s', () => new Sentences())
      .outputFields('x')
      .tickFrequency(10);
    expect(() => ticking.build()).toThrow(/spout 's' asks for tick tuples/);
  });

  it('registers custom groupings by name', () => {
    const builder = new TopologyBuilder('t');
    builder.setSpout('s', () => new Sentences()).outputFields('x');
    builder.setBolt('b', () => new Split(), 4).customGrouping('s', 'first-two', () => ({ chooseTasks: () => [1, 2] }));
    const topology = builder.build();
    expect(topology.definition.components[1]!.inputs[0]!.grouping).toEqual({ type: 'custom', name: 'first-two' });
    expect(topology.createCustomGrouping('first-two').chooseTasks([])).toEqual([1, 2]);
    expect(() => topology.createCustomGrouping('other')).toThrow(/no custom grouping 'other'/);
  });
});

describe('async component declarations', () => {
  it('set maxInFlight and ordered in the component config, and refuse a maxInFlight that is not a positive whole number', () => {
    const builder = new TopologyBuilder('async');
    builder
      .setSpout('source', () => new Sentences())
      .outputFields('n')
      .maxInFlight(4);
    const lookup = builder
      .setBolt('lookup', () => new Split())
      .shuffleGrouping('source')
      .maxInFlight(50)
      .unordered();
    const { definition } = builder.build();
    expect(definition.components.find((c) => c.name === 'source')!.config).toMatchObject({ maxInFlight: 4 });
    expect(definition.components.find((c) => c.name === 'lookup')!.config).toMatchObject({ maxInFlight: 50, ordered: false });
    expect(() => lookup.maxInFlight(0)).toThrow(/component 'lookup': maxInFlight must be a positive integer, got 0/);
    expect(() => lookup.maxInFlight(1.5)).toThrow(TopologyError);
  });
});

describe('tuples', () => {
  it('read fields by name and report unknown fields with the declared ones', () => {
    const tuple = new RuntimeTuple('split', 3, 'default', new StreamSchema(['word', 'count']), ['heron', 2]);
    expect(tuple.getString('word')).toBe('heron');
    expect(tuple.getNumber('count')).toBe(2);
    expect(tuple.isTick).toBe(false);
    expect(() => tuple.get('total')).toThrow("tuple from 'split' on stream 'default' has no field 'total' (fields: word, count)");
    expect(() => tuple.getNumber('word')).toThrow(/is string, not a number/);
  });
});
