import { describe, expect, it } from 'vitest';
import { allInstances } from '../model/packing-plan.js';
import { MiB } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import { describePackingConformance, expectInPlace, expectPlanHonours, packingFixture } from '../testing/packing-conformance.js';
import { FirstFitDecreasingPacking, ResourceCompliantRoundRobinPacking, RoundRobinPacking } from './index.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

describePackingConformance('round-robin', () => new RoundRobinPacking());
describePackingConformance('first-fit-decreasing', () => new FirstFitDecreasingPacking());
describePackingConformance('resource-compliant-round-robin', () => new ResourceCompliantRoundRobinPacking());

describePackingConformance('first-fit-decreasing sorting by cpu, no padding', () => new FirstFitDecreasingPacking(), {
  settings: { ...DEFAULT_PACKING_SETTINGS, sortBy: 'cpu', padding: { fixed: { cpu: 0, ramBytes: 0, diskBytes: 0 }, percent: 0 } },
});

/** What the built-ins promise beyond the SPI contract. */
describe.each([new RoundRobinPacking(), new FirstFitDecreasingPacking(), new ResourceCompliantRoundRobinPacking()])(
  '$name identity rules',
  (algorithm) => {
    const settings = { ...DEFAULT_PACKING_SETTINGS, containers: 2 };
    const topology = packingFixture('ids-1', { a: { parallelism: 3 }, b: { parallelism: 4, resources: { cpu: 0.5 } } });

    it('numbers task ids 1..n on a first pack', () => {
      const plan = algorithm.pack(topology, settings);
      expect(allInstances(plan).map((i) => i.taskId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });

    it('continues component indexes above the highest one and task ids above the highest one', () => {
      const plan = algorithm.pack(topology, settings);
      const down = algorithm.repack(
        {
          current: plan,
          topology: { ...topology, components: topology.components.map((c) => (c.name === 'b' ? { ...c, parallelism: 2 } : c)) },
        },
        settings,
      );
      const survivors = allInstances(down).filter((i) => i.component === 'b');
      const highest = Math.max(...survivors.map((i) => i.componentIndex));
      const up = algorithm.repack(
        {
          current: down,
          topology: { ...topology, components: topology.components.map((c) => (c.name === 'b' ? { ...c, parallelism: 5 } : c)) },
        },
        settings,
      );
      const added = allInstances(up).filter((i) => !allInstances(down).some((d) => d.taskId === i.taskId));
      expect(added.map((i) => i.componentIndex)).toEqual([highest + 1, highest + 2, highest + 3]);
      const maxTask = Math.max(...allInstances(down).map((i) => i.taskId));
      expect(added.map((i) => i.taskId)).toEqual([maxTask + 1, maxTask + 2, maxTask + 3]);
    });

    it('gives new containers ids above every current one', () => {
      const plan = algorithm.pack(topology, settings);
      const bigger = algorithm.repack(
        {
          current: plan,
          topology: { ...topology, components: topology.components.map((c) => ({ ...c, parallelism: c.parallelism * 6 })) },
        },
        settings,
      );
      const before = Math.max(...plan.containers.map((c) => c.id));
      const fresh = bigger.containers.filter((c) => !plan.containers.some((p) => p.id === c.id));
      expect(fresh.length).toBeGreaterThan(0);
      for (const container of fresh) expect(container.id).toBeGreaterThan(before);
    });
  },
);

/** A small deterministic generator, so a failing sequence reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe.each([new RoundRobinPacking(), new FirstFitDecreasingPacking(), new ResourceCompliantRoundRobinPacking()])(
  '$name over random scaling sequences',
  (algorithm) => {
    it('keeps every plan valid and every untouched instance in place', () => {
      const next = random(7);
      const settings = { ...DEFAULT_PACKING_SETTINGS, maxInstancesPerContainer: 6 };
      for (let sequence = 0; sequence < 10; sequence++) {
        const components: Record<string, { parallelism: number; resources: { cpu: number; ramBytes: number } }> = {};
        for (let i = 0; i < 3 + Math.floor(next() * 5); i++) {
          components[`k${i}`] = {
            parallelism: 1 + Math.floor(next() * 6),
            resources: { cpu: 0.25 * (1 + Math.floor(next() * 6)), ramBytes: 256 * MiB * (1 + Math.floor(next() * 6)) },
          };
        }
        const total = Object.values(components).reduce((n, c) => n + c.parallelism, 0);
        let topology: TopologyDefinition = packingFixture(`random-${sequence}`, components, { containers: Math.ceil(total / 3) });
        let plan = algorithm.pack(topology, settings);
        expectPlanHonours(plan, topology, settings);
        for (let step = 0; step < 8; step++) {
          const changed = topology.components.filter(() => next() < 0.4).map((c) => c.name);
          const parallelism = new Map(changed.map((name) => [name, 1 + Math.floor(next() * 8)]));
          const scaled = {
            ...topology,
            components: topology.components.map((c) => ({ ...c, parallelism: parallelism.get(c.name) ?? c.parallelism })),
          };
          const repacked = algorithm.repack({ current: plan, topology: scaled }, settings);
          expectPlanHonours(repacked, scaled, settings);
          expectInPlace(
            plan,
            repacked,
            topology.components.map((c) => c.name).filter((name) => !parallelism.has(name)),
          );
          topology = scaled;
          plan = repacked;
        }
      }
    });
  },
);
