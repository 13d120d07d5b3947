import { describe, expect, it } from 'vitest';
import type { PackingPlan } from '../model/packing-plan.js';
import { GiB, MiB } from '../model/resources.js';
import type { PackingSettings } from '../spi/packing.js';
import { expectInPlace, packingFixture } from '../testing/packing-conformance.js';
import { FirstFitDecreasingPacking } from './first-fit-decreasing.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

const ffd = new FirstFitDecreasingPacking();

/** Containers of exactly 10 GiB for instances: no padding, CPU and disk never the limit. */
const tenGiB: PackingSettings = {
  ...DEFAULT_PACKING_SETTINGS,
  containerMax: { cpu: 100, ramBytes: 10 * GiB, diskBytes: 100 * GiB },
  padding: { fixed: { cpu: 0, ramBytes: 0, diskBytes: 0 }, percent: 0 },
  containers: 5,
};

const items = packingFixture('items-1', {
  g2a: { parallelism: 1, resources: { ramBytes: 2 * GiB } },
  g3: { parallelism: 1, resources: { ramBytes: 3 * GiB } },
  g6: { parallelism: 1, resources: { ramBytes: 6 * GiB } },
  g4: { parallelism: 1, resources: { ramBytes: 4 * GiB } },
  g2b: { parallelism: 1, resources: { ramBytes: 2 * GiB } },
  g5: { parallelism: 1, resources: { ramBytes: 5 * GiB } },
});

function layout(plan: PackingPlan): string[][] {
  return plan.containers.map((c) => c.instances.map((i) => `${i.component}:${i.componentIndex}`));
}

describe('FirstFitDecreasingPacking.pack', () => {
  it('puts each instance, largest first, into the first container it fits', () => {
    const plan = ffd.pack(items, tenGiB);
    expect(layout(plan)).toEqual([['g6:0', 'g4:0'], ['g5:0', 'g3:0', 'g2a:0'], ['g2b:0']]);
    expect(plan.containers.map((c) => c.required.ramBytes)).toEqual([10 * GiB, 10 * GiB, 2 * GiB]);
  });

  it('decides the container count itself, ignoring packing.containers', () => {
    expect(ffd.pack(items, { ...tenGiB, containers: 1 }).containers).toHaveLength(3);
    expect(ffd.pack(items, { ...tenGiB, containers: 9 }).containers).toHaveLength(3);
  });

  it('sorts by the dimension packing.sortBy names', () => {
    const topology = packingFixture('sort-1', {
      memory: { parallelism: 1, resources: { cpu: 1, ramBytes: 4 * GiB } },
      compute: { parallelism: 1, resources: { cpu: 4, ramBytes: 1 * GiB } },
    });
    const first = (sortBy: 'ram' | 'cpu') => ffd.pack(topology, { ...tenGiB, sortBy }).containers[0]!.instances[0]!.component;
    expect(first('ram')).toBe('memory');
    expect(first('cpu')).toBe('compute');
  });

  it('opens a container when the instance limit is reached', () => {
    const topology = packingFixture('dense-1', { tiny: { parallelism: 5, resources: { cpu: 0.1, ramBytes: 192 * MiB } } });
    const plan = ffd.pack(topology, { ...tenGiB, maxInstancesPerContainer: 2 });
    expect(plan.containers.map((c) => c.instances.length)).toEqual([2, 2, 1]);
  });
});

describe('FirstFitDecreasingPacking.repack', () => {
  const current = ffd.pack(items, tenGiB);

  it('fills the room running containers have left before opening a new one', () => {
    const grown = { ...items, components: [...items.components, { ...items.components[3]!, name: 'x4', parallelism: 2 }] };
    const next = ffd.repack({ current, topology: grown }, tenGiB);
    expectInPlace(
      current,
      next,
      items.components.map((c) => c.name),
    );
    expect(layout(next)).toEqual([
      ['g6:0', 'g4:0'],
      ['g5:0', 'g3:0', 'g2a:0'],
      ['g2b:0', 'x4:0', 'x4:1'],
    ]);
  });

  it('drops the containers a removal empties and keeps the others as they were', () => {
    const shrunk = { ...items, components: items.components.filter((c) => c.name !== 'g2b') };
    const next = ffd.repack({ current, topology: shrunk }, tenGiB);
    expect(next.containers).toEqual(current.containers.slice(0, 2));
  });

  it('opens containers with new ids when the running ones are full', () => {
    const grown = { ...items, components: [...items.components, { ...items.components[2]!, name: 'y6', parallelism: 2 }] };
    const next = ffd.repack({ current, topology: grown }, tenGiB);
    expect(next.containers.map((c) => c.id)).toEqual([1, 2, 3, 4]);
    expect(layout(next).slice(2)).toEqual([['g2b:0', 'y6:0'], ['y6:1']]);
  });
});
