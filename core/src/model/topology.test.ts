import { describe, expect, it } from 'vitest';
import { TopologyError } from '../errors/index.js';
import {
  ComponentDefinition,
  MAX_COMPONENT_PARALLELISM,
  MAX_CONTAINERS,
  MAX_TOPOLOGY_INSTANCES,
  TopologyDefinition,
  topologicalOrder,
  validateTopology,
  withParallelism,
} from './topology.js';

function spout(name: string, fields = ['sentence'], extra: Partial<ComponentDefinition> = {}): ComponentDefinition {
  return { name, kind: 'spout', parallelism: 1, config: {}, outputs: [{ id: 'default', fields }], inputs: [], ...extra };
}

function bolt(name: string, inputs: ComponentDefinition['inputs'], fields = ['word']): ComponentDefinition {
  return { name, kind: 'bolt', parallelism: 2, config: {}, outputs: [{ id: 'default', fields }], inputs };
}

function wordCount(): TopologyDefinition {
  return {
    name: 'word-count',
    id: 'word-count-1',
    config: {},
    components: [
      spout('sentence'),
      bolt('split', [{ component: 'sentence', stream: 'default', grouping: { type: 'shuffle' } }]),
      bolt('count', [{ component: 'split', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }], ['word', 'count']),
    ],
  };
}

describe('validateTopology', () => {
  it('accepts a well-formed DAG and returns it', () => {
    expect(validateTopology(wordCount()).components.map((c) => c.name)).toEqual(['sentence', 'split', 'count']);
  });

  it('names the unknown component a bolt subscribes to', () => {
    const topology = wordCount();
    const broken = {
      ...topology,
      components: [topology.components[0]!, bolt('split', [{ component: 'sentences', stream: 'default', grouping: { type: 'shuffle' } }])],
    };
    expect(() => validateTopology(broken)).toThrow(/bolt 'split' subscribes to unknown component 'sentences'/);
  });

  it('names the undeclared stream', () => {
    const topology = wordCount();
    const broken = {
      ...topology,
      components: [topology.components[0]!, bolt('split', [{ component: 'sentence', stream: 'lines', grouping: { type: 'shuffle' } }])],
    };
    expect(() => validateTopology(broken)).toThrow(/stream 'lines' of 'sentence', which declares no such stream \(declared: default\)/);
  });

  it('names an undeclared grouping field', () => {
    const topology = wordCount();
    const broken = {
      ...topology,
      components: [
        topology.components[0]!,
        bolt('split', [{ component: 'sentence', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }]),
      ],
    };
    expect(() => validateTopology(broken)).toThrow(/field\(s\) 'word', not declared by that stream \(fields: sentence\)/);
  });

  it('reports a cycle with its path', () => {
    const components = [
      spout('source'),
      bolt('a', [
        { component: 'source', stream: 'default', grouping: { type: 'shuffle' } },
        { component: 'b', stream: 'default', grouping: { type: 'shuffle' } },
      ]),
      bolt('b', [{ component: 'a', stream: 'default', grouping: { type: 'shuffle' } }]),
    ];
    expect(() => validateTopology({ name: 't', id: 't-1', config: {}, components })).toThrow(/has a cycle: a -> b -> a/);
  });

  it('rejects duplicate names, spouts with inputs, bolts without inputs and reserved stream ids', () => {
    const base = wordCount();
    expect(() => validateTopology({ ...base, components: [...base.components, spout('count')] })).toThrow(/'count' is used twice/);
    expect(() =>
      validateTopology({
        ...base,
        components: [spout('s', ['x'], { inputs: [{ component: 's', stream: 'default', grouping: { type: 'all' } }] })],
      }),
    ).toThrow(/spout 's' subscribes/);
    expect(() => validateTopology({ ...base, components: [spout('s'), bolt('b', [])] })).toThrow(/bolt 'b' has no inputs/);
    expect(() => validateTopology({ ...base, components: [spout('s', ['x'], { outputs: [{ id: '__tick', fields: [] }] })] })).toThrow(
      /reserved/,
    );
  });

  it('requires direct grouping exactly for direct streams', () => {
    const direct = spout('s', ['x'], { outputs: [{ id: 'default', fields: ['x'], direct: true }] });
    const shuffled = bolt('b', [{ component: 's', stream: 'default', grouping: { type: 'shuffle' } }]);
    expect(() => validateTopology({ name: 't', id: 't-1', config: {}, components: [direct, shuffled] })).toThrow(
      /direct streams need direct grouping/,
    );
    const plain = bolt('b', [{ component: 's', stream: 'default', grouping: { type: 'direct' } }]);
    expect(() => validateTopology({ name: 't', id: 't-1', config: {}, components: [spout('s'), plain] })).toThrow(
      /not declared as a direct stream/,
    );
  });

  it('reports shape errors with their path, as a TopologyError', () => {
    const broken = { ...wordCount(), components: [{ ...spout('s'), parallelism: 0 }] };
    expect(() => validateTopology(broken)).toThrow(TopologyError);
    expect(() => validateTopology(broken)).toThrow(/at components\.0\.parallelism/);
    expect(() => validateTopology({ ...wordCount(), name: 'bad name' })).toThrow(/topology name must be/);
  });
});

describe('topology helpers', () => {
  it('orders components after their inputs', () => {
    const topology = wordCount();
    const reversed = { ...topology, components: [...topology.components].reverse() };
    expect(topologicalOrder(reversed).map((c) => c.name)).toEqual(['sentence', 'split', 'count']);
  });

  it('changes parallelism and refuses unknown components', () => {
    expect(withParallelism(wordCount(), { count: 6 }).components.find((c) => c.name === 'count')?.parallelism).toBe(6);
    expect(() => withParallelism(wordCount(), { counter: 2 })).toThrow(/has no component 'counter'/);
  });

  it('refuses parallelism above the size limits, naming the component and the limit', () => {
    expect(withParallelism(wordCount(), { count: MAX_COMPONENT_PARALLELISM }).components.find((c) => c.name === 'count')?.parallelism).toBe(
      MAX_COMPONENT_PARALLELISM,
    );
    expect(() => withParallelism(wordCount(), { count: 1_000_000_000 })).toThrow(
      new TopologyError(
        `component 'count' of topology 'word-count': parallelism 1000000000 is ` +
          `above the limit of ${MAX_COMPONENT_PARALLELISM} instances per component`,
      ),
    );
    const all = { sentence: MAX_COMPONENT_PARALLELISM, split: MAX_COMPONENT_PARALLELISM, count: MAX_COMPONENT_PARALLELISM };
    expect(() => withParallelism(wordCount(), all)).not.toThrow();
    const big = {
      ...wordCount(),
      components: Array.from({ length: 6 }, (_, i) => spout(`s${i}`, ['x'], { parallelism: MAX_COMPONENT_PARALLELISM })),
    };
    expect(() => validateTopology(big)).toThrow(
      `topology 'word-count' would have 60000 instances, above the limit of ${MAX_TOPOLOGY_INSTANCES} instances per topology`,
    );
  });

  it('refuses a containers hint above the container limit', () => {
    expect(() => validateTopology({ ...wordCount(), packing: { containers: MAX_CONTAINERS + 1 } })).toThrow(
      `at most ${MAX_CONTAINERS} containers`,
    );
  });
});
