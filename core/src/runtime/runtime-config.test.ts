import { describe, expect, it } from 'vitest';
import { TopologyBuilder } from '../api/topology-builder.js';
import { ConfigError } from '../errors/index.js';
import { acceptRuntimeConfig } from './runtime-config.js';
import { SHUFFLE_WEIGHTS_KEY } from '../model/topology.js';

const noop = { nextTuple() {} };
const sink = { execute() {} };

function topology() {
  const builder = new TopologyBuilder('probe').config('label', 'blue').config('metricsIntervalMs', 1000);
  builder
    .setSpout('source', () => noop)
    .outputFields('n')
    .config('rate', 10)
    .runtimeConfig('rate', { type: 'number', min: 0 })
    .runtimeConfig('batch', { type: 'integer', min: 1, max: 100 })
    .runtimeConfig('mode', { type: 'enum', values: ['calm', 'busy'] });
  builder
    .setBolt('sink', () => sink)
    .shuffleGrouping('source')
    .config('threshold', 5)
    .config('verbose', false);
  return builder.build().definition;
}

function refusal(changes: Parameters<typeof acceptRuntimeConfig>[1]): string {
  try {
    acceptRuntimeConfig(topology(), changes);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected the change to be refused');
}

describe('runtime config changes', () => {
  it('are checked against what a component declares', () => {
    expect(
      acceptRuntimeConfig(topology(), [
        { component: 'source', key: 'rate', value: 2.5 },
        { component: 'source', key: 'mode', value: 'busy' },
      ]),
    ).toEqual([
      { component: 'source', key: 'rate', value: 2.5 },
      { component: 'source', key: 'mode', value: 'busy' },
    ]);
    expect(refusal([{ component: 'source', key: 'rate', value: 'abc' }])).toBe(
      `runtime config source:rate="abc" refused by component 'source': rate takes a number ≥ 0; nothing was changed`,
    );
    expect(refusal([{ component: 'source', key: 'rate', value: -1 }])).toMatch(/rate takes a number ≥ 0/);
    expect(refusal([{ component: 'source', key: 'batch', value: 1.5 }])).toMatch(/batch takes an integer ≥ 1 and ≤ 100/);
    expect(refusal([{ component: 'source', key: 'mode', value: 'wild' }])).toMatch(/mode takes one of "calm", "busy"/);
    expect(refusal([{ component: 'source', key: 'rat', value: 5 }])).toMatch(
      /refused by component 'source': it does not declare 'rat' settable at run time; settable: batch, mode, rate/,
    );
  });

  it('of a component that declares nothing take only keys its config has, with a value of the same type', () => {
    expect(
      acceptRuntimeConfig(topology(), [
        { component: 'sink', key: 'threshold', value: 7 },
        { component: 'sink', key: 'label', value: 'red' },
      ]),
    ).toHaveLength(2);
    expect(refusal([{ component: 'sink', key: 'threshold', value: 'abc' }])).toMatch(/threshold takes a number like its current value 5/);
    expect(refusal([{ component: 'sink', key: 'treshold', value: 7 }])).toMatch(
      /its config has no 'treshold'.*\(label, threshold, verbose\)/,
    );
    expect(refusal([{ component: 'sink', key: 'metricsIntervalMs', value: 500 }])).toMatch(/engine setting, fixed at submit/);
  });

  it('are refused all together when one is, and name unknown components', () => {
    expect(
      refusal([
        { component: 'source', key: 'rate', value: 1 },
        { component: 'sink', key: 'verbose', value: 'yes' },
      ]),
    ).toMatch(/sink:verbose="yes" refused/);
    expect(refusal([{ component: 'sinc', key: 'threshold', value: 1 }])).toMatch(/has no component 'sinc' \(components: source, sink\)/);
  });

  it('to every component (*) go to those that take the key', () => {
    expect(acceptRuntimeConfig(topology(), [{ component: '*', key: 'label', value: 'green' }]).map((c) => c.component)).toEqual(['sink']);
    expect(acceptRuntimeConfig(topology(), [{ component: '*', key: 'rate', value: 3 }]).map((c) => c.component)).toEqual(['source']);
    expect(refusal([{ component: '*', key: 'rate', value: 'fast' }])).toMatch(/refused by component 'source'/);
    expect(refusal([{ component: '*', key: 'nothing', value: 1 }])).toMatch(/no component of 'probe' has a runtime config key 'nothing'/);
  });

  it("take the engine's shuffle weights, and no other reserved key", () => {
    expect(acceptRuntimeConfig(topology(), [{ component: 'source', key: SHUFFLE_WEIGHTS_KEY, value: { '2': 0.5 } }])).toHaveLength(1);
    expect(refusal([{ component: 'source', key: SHUFFLE_WEIGHTS_KEY, value: { two: 1 } }])).toMatch(/takes an object of task id/);
    expect(refusal([{ component: 'source', key: '__other', value: 1 }])).toMatch(/reserved/);
  });

  it('declared in the builder must fit the values the component starts with', () => {
    const builder = new TopologyBuilder('bad');
    builder
      .setSpout('source', () => noop)
      .outputFields('n')
      .config('rate', 'fast')
      .runtimeConfig('rate', { type: 'number' });
    expect(() => builder.build()).toThrow(/component 'source': config rate="fast" is not what it declares for rate: a number/);
  });
});
