import { describe, expect, it } from 'vitest';
import type { PackingPlan } from '../model/packing-plan.js';
import { GiB } from '../model/resources.js';
import { packingFixture } from '../testing/packing-conformance.js';
import { packingLimits } from './constraints.js';
import { PlanBuilder } from './plan-builder.js';
import { removalOrder, removeInstances } from './scoring.js';
import { DEFAULT_PACKING_SETTINGS } from './settings.js';

const topology = packingFixture('score-1', { a: { parallelism: 9 }, b: { parallelism: 3 } });
const limits = packingLimits(topology, DEFAULT_PACKING_SETTINGS);
const unit = { cpu: 1, ramBytes: GiB, diskBytes: GiB };

/** Containers 1..5 holding the listed components, task ids in order, indexes counted per component. */
function plan(layout: string[][]): PackingPlan {
  let taskId = 1;
  const index = new Map<string, number>();
  return {
    topologyId: topology.id,
    containers: layout.map((names, i) => ({
      id: i + 1,
      required: { cpu: 10, ramBytes: 10 * GiB, diskBytes: 10 * GiB },
      instances: names.map((component) => {
        const componentIndex = index.get(component) ?? 0;
        index.set(component, componentIndex + 1);
        return { component, taskId: taskId++, componentIndex, resources: unit };
      }),
    })),
  };
}

const running = plan([['a', 'b'], ['a', 'a', 'a'], ['a'], ['a', 'b', 'b'], ['a', 'a']]);

describe('removalOrder', () => {
  it('prefers containers holding only the component, then the least full, then the highest id', () => {
    const builder = PlanBuilder.from(running, topology.id, limits);
    expect(removalOrder(builder, 'a').map((slot) => slot.id)).toEqual([3, 5, 2, 1, 4]);
    expect(removalOrder(builder, 'b').map((slot) => slot.id)).toEqual([1, 4]);
  });

  it('breaks ties between equal containers by the highest id', () => {
    const builder = PlanBuilder.from(plan([['a'], ['a'], ['a']]), topology.id, limits);
    expect(removalOrder(builder, 'a').map((slot) => slot.id)).toEqual([3, 2, 1]);
  });
});

describe('removeInstances', () => {
  it('empties the best container before touching the next, highest component index first', () => {
    const builder = PlanBuilder.from(running, topology.id, limits);
    removeInstances(builder, 'a', 4);
    const left = builder.build();
    expect(left.containers.map((c) => c.id)).toEqual([1, 2, 4]);
    // Container 3 held a:3 and container 5 a:7 and a:8; the fourth removal takes a:6 from container 2.
    expect(left.containers.find((c) => c.id === 2)!.instances.map((i) => i.componentIndex)).toEqual([1, 2]);
  });

  it('leaves containers it does not touch exactly as they were', () => {
    const builder = PlanBuilder.from(running, topology.id, limits);
    removeInstances(builder, 'b', 1);
    const left = builder.build();
    // Neither container of 'b' holds only 'b'; container 1 is the less full.
    expect(left.containers.filter((c) => c.id !== 1)).toEqual(running.containers.filter((c) => c.id !== 1));
    expect(left.containers.find((c) => c.id === 1)!.instances.map((i) => `${i.component}:${i.componentIndex}`)).toEqual(['a:0']);
  });
});
