import { describe, expect, it } from 'vitest';
import type { PackingPlan } from '../model/packing-plan.js';
import { GiB } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { PackingSettings } from '../spi/packing.js';
import { expectInPlace, packingFixture } from '../testing/packing-conformance.js';
import { ResourceCompliantRoundRobinPacking } from './resource-compliant-round-robin.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

const rcrr = new ResourceCompliantRoundRobinPacking();

const tenGiB: PackingSettings = {
  ...DEFAULT_PACKING_SETTINGS,
  containerMax: { cpu: 100, ramBytes: 10 * GiB, diskBytes: 100 * GiB },
  padding: { fixed: { cpu: 0, ramBytes: 0, diskBytes: 0 }, percent: 0 },
};

function layout(plan: PackingPlan): string[][] {
  return plan.containers.map((c) => c.instances.map((i) => `${i.component}:${i.componentIndex}`));
}

function withParallelism(topology: TopologyDefinition, parallelism: Record<string, number>): TopologyDefinition {
  return { ...topology, components: topology.components.map((c) => ({ ...c, parallelism: parallelism[c.name] ?? c.parallelism })) };
}

describe('ResourceCompliantRoundRobinPacking.pack', () => {
  it('deals over packing.containers when the instances fit', () => {
    const topology = packingFixture('fits-1', { a: { parallelism: 6 } });
    expect(layout(rcrr.pack(topology, { ...DEFAULT_PACKING_SETTINGS, containers: 3 }))).toEqual([
      ['a:0', 'a:3'],
      ['a:1', 'a:4'],
      ['a:2', 'a:5'],
    ]);
  });

  it('adds a container and deals again when the strict round robin overflows one', () => {
    // 20 GiB in total fits 2 containers of 10 GiB, but dealing in turn puts 10.5 GiB into the first.
    const topology = packingFixture('retry-1', {
      a: { parallelism: 2, resources: { ramBytes: 6 * GiB } },
      b: { parallelism: 1, resources: { ramBytes: 1 * GiB } },
      c: { parallelism: 2, resources: { ramBytes: 3.5 * GiB } },
    });
    expect(layout(rcrr.pack(topology, { ...tenGiB, containers: 1 }))).toEqual([['a:0', 'c:1'], ['a:1', 'b:0'], ['c:0']]);
  });

  it('starts from what the instances need in total', () => {
    const topology = packingFixture('many-1', { a: { parallelism: 25 } });
    expect(rcrr.pack(topology, DEFAULT_PACKING_SETTINGS).containers.map((c) => c.instances.length)).toEqual([9, 8, 8]);
  });

  it('refuses more containers than instances', () => {
    const topology = packingFixture('few-1', { a: { parallelism: 2 } });
    expect(() => rcrr.pack(topology, { ...DEFAULT_PACKING_SETTINGS, containers: 3 })).toThrow(
      /resource-compliant-round-robin: 3 containers requested but topology 'few' has only 2 instance\(s\)/,
    );
  });
});

describe('ResourceCompliantRoundRobinPacking.repack', () => {
  const topology = packingFixture('grow-1', { a: { parallelism: 10 } });
  const current = rcrr.pack(topology, DEFAULT_PACKING_SETTINGS);

  it('adds containers when the running ones are full', () => {
    const next = rcrr.repack({ current, topology: withParallelism(topology, { a: 15 }) }, DEFAULT_PACKING_SETTINGS);
    expectInPlace(current, next, ['a']);
    expect(layout(next)).toEqual([layout(current)[0], ['a:10', 'a:11', 'a:12', 'a:13', 'a:14']]);
  });

  it('deals new instances in turn over at least the requested containers, skipping full ones', () => {
    const next = rcrr.repack({ current, topology: withParallelism(topology, { a: 15 }), containers: 4 }, DEFAULT_PACKING_SETTINGS);
    expect(layout(next).slice(1)).toEqual([['a:10', 'a:13'], ['a:11', 'a:14'], ['a:12']]);
  });

  it('refuses a requested count above the instances', () => {
    expect(() => rcrr.repack({ current, topology, containers: 11 }, DEFAULT_PACKING_SETTINGS)).toThrow(
      /11 containers requested but topology 'grow' has only 10 instance\(s\)/,
    );
  });
});
