import { describe, expect, it } from 'vitest';
import { PackingError } from '../errors/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import { GiB } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import { expectInPlace, packingFixture } from '../testing/packing-conformance.js';
import { RoundRobinPacking } from './round-robin.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

const rr = new RoundRobinPacking();
const settings = DEFAULT_PACKING_SETTINGS;

/** `component:index` per container, in container order. */
function layout(plan: PackingPlan): string[][] {
  return plan.containers.map((c) => c.instances.map((i) => `${i.component}:${i.componentIndex}`));
}

function withParallelism(topology: TopologyDefinition, parallelism: Record<string, number>): TopologyDefinition {
  return { ...topology, components: topology.components.map((c) => ({ ...c, parallelism: parallelism[c.name] ?? c.parallelism })) };
}

describe('RoundRobinPacking.pack', () => {
  it('deals instances over the containers in turn, largest component first', () => {
    const topology = packingFixture('deal-1', { small: { parallelism: 3 }, big: { parallelism: 4, resources: { ramBytes: 2 * GiB } } });
    const plan = rr.pack(topology, { ...settings, containers: 3 });
    expect(layout(plan)).toEqual([
      ['big:0', 'big:3', 'small:2'],
      ['big:1', 'small:0'],
      ['big:2', 'small:1'],
    ]);
    expect(plan.containers.map((c) => c.id)).toEqual([1, 2, 3]);
  });

  it("takes the container count from the settings unless the topology's hint says otherwise", () => {
    const topology = packingFixture('count-1', { a: { parallelism: 8 } });
    expect(rr.pack(topology, { ...settings, containers: 2 }).containers).toHaveLength(2);
    expect(rr.pack({ ...topology, packing: { containers: 4 } }, { ...settings, containers: 2 }).containers).toHaveLength(4);
  });

  it('sizes each container as its instances plus padding', () => {
    const topology = packingFixture('size-1', { a: { parallelism: 2, resources: { cpu: 2, ramBytes: 3 * GiB, diskBytes: GiB } } });
    const plan = rr.pack(topology, { ...settings, containers: 1 });
    // Padding: the larger of 1 and 10 % of the 12-unit container limit.
    expect(plan.containers[0]!.required).toEqual({
      cpu: 5.2,
      ramBytes: 6 * GiB + Math.ceil(1.2 * GiB),
      diskBytes: 2 * GiB + Math.ceil(1.2 * GiB),
    });
  });

  it('refuses more containers than instances', () => {
    const topology = packingFixture('few-1', { a: { parallelism: 2 } });
    expect(() => rr.pack(topology, { ...settings, containers: 3 })).toThrow(
      /round-robin: 3 containers requested but topology 'few' has only 2 instance\(s\)/,
    );
  });

  it('fails instead of adding a container when the instances do not fit, naming the component and the numbers', () => {
    const topology = packingFixture('full-1', { spout: { parallelism: 1 }, wide: { parallelism: 10 } });
    expect(() => rr.pack(topology, settings)).toThrow(PackingError);
    expect(() => rr.pack(topology, settings)).toThrow(
      new RegExp(
        String.raw`cannot place an instance of component 'wide' .* in 1 container\(s\): container 1 already holds 10 of at most 10 ` +
          String.raw`instances.*raise packing.containers`,
      ),
    );
    const heavy = packingFixture('heavy-1', { fat: { parallelism: 3, resources: { ramBytes: 4 * GiB } } });
    expect(() => rr.pack(heavy, settings)).toThrow(/component 'fat' \(needs cpu=1 ram=4GiB disk=1GiB\).*using cpu=2 ram=8GiB/);
  });
});

describe('RoundRobinPacking.repack', () => {
  const topology = packingFixture('grow-1', { a: { parallelism: 4 }, b: { parallelism: 4 } }, { containers: 2 });
  const current = rr.pack(topology, settings);

  it('keeps the plan density, putting new instances into new containers before fuller ones', () => {
    const next = rr.repack({ current, topology: withParallelism(topology, { a: 8 }) }, settings);
    expectInPlace(current, next, ['a', 'b']);
    // 8 instances in 2 containers, 12 now: 3 containers, and the new one is the emptiest.
    expect(layout(next)).toEqual([...layout(current), ['a:4', 'a:5', 'a:6', 'a:7']]);
  });

  it('deals over a requested number of containers', () => {
    const next = rr.repack({ current, topology: withParallelism(topology, { a: 8 }), containers: 4 }, settings);
    expectInPlace(current, next, ['a', 'b']);
    expect(layout(next).slice(2)).toEqual([
      ['a:4', 'a:6'],
      ['a:5', 'a:7'],
    ]);
  });

  it('gives new instances to the emptiest container, lowest id first', () => {
    const down = rr.repack({ current, topology: withParallelism(topology, { a: 1 }) }, settings);
    const up = rr.repack({ current: down, topology: withParallelism(topology, { a: 3 }), containers: 2 }, settings);
    expectInPlace(down, up, ['a', 'b']);
    const sizes = up.containers.map((c) => c.instances.length);
    expect(sizes).toEqual([4, 3]);
  });

  it('cannot shrink below the containers that still hold running instances', () => {
    expect(() => rr.repack({ current, topology, containers: 1 }, settings)).toThrow(
      /round-robin: cannot repack into 1 container\(s\): running instances stay where they are and 2 containers still hold some/,
    );
    expect(() => rr.repack({ current, topology, containers: 0 }, settings)).toThrow(/whole number of at least 1, got 0/);
  });

  it('fails when the requested containers have no room left, naming the component', () => {
    const big = withParallelism(topology, { b: 20 });
    expect(() => rr.repack({ current, topology: big, containers: 2 }, settings)).toThrow(
      /round-robin: none of the 2 container\(s\) has room for another instance of component 'b'.*--container-number/,
    );
  });
});
