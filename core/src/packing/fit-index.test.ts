import { describe, expect, it } from 'vitest';
import { GiB, MiB } from '../model/resources.js';
import type { Resources } from '../model/resources.js';
import { packingFixture } from '../testing/packing-conformance.js';
import { packingLimits } from './constraints.js';
import { FitIndex } from './fit-index.js';
import { PlanBuilder } from './plan-builder.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

/** A small deterministic generator, so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function naive(builder: PlanBuilder, resources: Resources, from: number, minFree: number): number {
  for (let position = from; position < builder.containers.length; position++) {
    const slot = builder.containers[position]!;
    if (builder.limits.maxInstances - slot.instances.length >= minFree && builder.fits(slot, resources)) return position;
  }
  return -1;
}

describe('FitIndex', () => {
  const limits = packingLimits(packingFixture('fit-1', { a: { parallelism: 1 } }), DEFAULT_PACKING_SETTINGS);

  it('finds the same container as a scan, over many random placements and queries', () => {
    const next = random(42);
    const builder = PlanBuilder.empty('fit-1', limits);
    const index = new FitIndex(builder, 1);
    const size = (): Resources => ({
      cpu: Math.round((0.1 + next() * 3) * 10) / 10,
      ramBytes: 192 * MiB + Math.floor(next() * 4) * 512 * MiB,
      diskBytes: Math.floor(next() * 3) * GiB,
    });
    for (let round = 0; round < 3000; round++) {
      const resources = size();
      const from = Math.floor(next() * (index.length + 1));
      const minFree = 1 + Math.floor(next() * 3);
      expect(index.firstFit(resources, { from, minFreePlaces: minFree })).toBe(naive(builder, resources, from, minFree));
      const position = index.firstFit(resources);
      expect(position).toBe(naive(builder, resources, 0, 1));
      index.place(position >= 0 ? position : index.open(), 'a', resources);
    }
    expect(index.length).toBeGreaterThan(100);
  });

  it('wraps round to the start for the next fit in round-robin order', () => {
    const builder = PlanBuilder.empty('fit-1', limits);
    const index = new FitIndex(builder);
    for (let i = 0; i < 3; i++) index.open();
    const unit = { cpu: 1, ramBytes: GiB, diskBytes: GiB };
    for (let i = 0; i < 10; i++) index.place(2, 'a', unit);
    expect(index.nextFit(unit, 2)).toBe(0);
    expect(index.nextFit(unit, 1)).toBe(1);
    expect(index.maxFreePlaces()).toBe(10);
  });

  it('reports no fit when there are no containers', () => {
    const index = new FitIndex(PlanBuilder.empty('fit-1', limits));
    expect(index.firstFit({ cpu: 1, ramBytes: GiB, diskBytes: 0 })).toBe(-1);
    expect(index.maxFreePlaces()).toBe(0);
  });
});
