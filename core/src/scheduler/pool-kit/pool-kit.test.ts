import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../errors/index.js';
import { SilentLogger } from '../../logging/index.js';
import { diffPackingPlans, type ContainerPlan, type PackingPlan } from '../../model/packing-plan.js';
import { GiB, resources } from '../../model/resources.js';
import { compactContainerIds, containerIdentityOf, planContainerChanges, planForPool, poolResourceName, startAllOrUndo } from './index.js';

const unit = resources(1, GiB, 0);
let nextTask = 1;
function container(id: number, instances = 1): ContainerPlan {
  return {
    id,
    required: resources(instances + 1, (instances + 1) * GiB, 0),
    instances: Array.from({ length: instances }, () => ({
      component: 'c',
      taskId: nextTask++,
      componentIndex: nextTask,
      resources: unit,
    })),
  };
}
function plan(...containers: ContainerPlan[]): PackingPlan {
  return { topologyId: 't-1', containers };
}

describe('planContainerChanges', () => {
  const one = container(1);
  const two = container(2);
  const three = container(3);

  it('adds, removes and keeps by container id against what the pool runs', () => {
    const changes = planContainerChanges({ topologyName: 't', current: plan(one, two), proposed: plan(one, three) }, [0, 1, 2]);
    expect(changes.added.map((c) => c.id)).toEqual([3]);
    expect(changes.removed).toEqual([2]);
    expect(changes.kept).toEqual([1]);
  });

  it('refuses to add a container that already runs, naming it', () => {
    expect(() => planContainerChanges({ topologyName: 't', current: plan(one), proposed: plan(one, two) }, [0, 1, 2])).toThrow(
      new SchedulerError("cannot update topology 't': container 2 already exists; its containers are 0, 1, 2"),
    );
  });

  it('ignores removing a container the pool does not run', () => {
    expect(planContainerChanges({ topologyName: 't', current: plan(one, two), proposed: plan(one) }, [0, 1]).removed).toEqual([]);
  });

  it('on an ordinal pool, refuses a removal below a kept container, and additions that leave a gap', () => {
    expect(() =>
      planContainerChanges({ topologyName: 't', current: plan(one, two, three), proposed: plan(one, three) }, [0, 1, 2, 3], {
        ordinal: true,
      }),
    ).toThrow(/can only remove its highest containers, but the plan removes 2 and keeps 3/);
    expect(
      planContainerChanges({ topologyName: 't', current: plan(one, two, three), proposed: plan(one) }, [0, 1, 2, 3], { ordinal: true })
        .removed,
    ).toEqual([2, 3]);
    expect(() =>
      planContainerChanges({ topologyName: 't', current: plan(one, three), proposed: plan(one, two, three) }, [0, 1, 3], { ordinal: true }),
    ).toThrow(/can only add containers above its highest \(3\), not 2/);
  });

  it('on an ordinal pool, refuses swapping its highest container for a new id, which a count cannot do', () => {
    // Dropping 2 and adding 3 would bring slot 2 back under its old number, not as container 3.
    expect(() =>
      planContainerChanges({ topologyName: 't', current: plan(one, two), proposed: plan(one, three) }, [0, 1, 2], { ordinal: true }),
    ).toThrow(
      new SchedulerError(
        "cannot update topology 't': this pool numbers its containers 1..N without gaps, but the plan has containers 1, 3; " +
          'the plan was not compacted (compactContainerIds) before it reached the pool',
      ),
    );
    expect(
      planContainerChanges({ topologyName: 't', current: plan(one, two), proposed: plan(one, two, three) }, [0, 1, 2], {
        ordinal: true,
      }).added.map((c) => c.id),
    ).toEqual([3]);
  });
});

describe('compactContainerIds', () => {
  it('leaves a dense plan alone', () => {
    const proposed = plan(container(1), container(2));
    expect(compactContainerIds(plan(container(1)), proposed)).toBe(proposed);
  });

  it('fills a hole with a container the update adds, so nothing running moves', () => {
    const [one, two, three] = [container(1), container(2), container(3)];
    const added = container(4);
    const compacted = compactContainerIds(plan(one, two, three), plan(one, three, added));
    expect(compacted.containers.map((c) => c.id)).toEqual([1, 2, 3]);
    expect(compacted.containers[1]!.instances).toEqual(added.instances);
    expect(diffPackingPlans(plan(one, two, three), compacted).removedContainers).toEqual([]);
  });

  it('otherwise moves the smallest running container above the end into the hole, and the pool drops only the top slots', () => {
    const [one, two, three, four, five] = [container(1, 2), container(2, 2), container(3, 1), container(4, 3), container(5, 1)];
    const current = plan(one, two, three, four, five);
    // Repacking emptied 1 and 3; 4 and 5 stay above the new end and the smaller one (5) goes first.
    const compacted = compactContainerIds(current, plan(two, four, five));
    expect(compacted.containers.map((c) => c.id)).toEqual([1, 2, 3]);
    expect(compacted.containers.map((c) => c.instances)).toEqual([five.instances, two.instances, four.instances]);
    const diff = diffPackingPlans(current, compacted);
    expect(diff.removedContainers).toEqual([4, 5]);
    expect(diff.movedInstances.map((m) => [m.from, m.to])).toEqual([...four.instances.map(() => [4, 3]), [5, 1]]);
    expect(() =>
      planContainerChanges({ topologyName: 't', current, proposed: compacted }, [0, 1, 2, 3, 4, 5], { ordinal: true }),
    ).not.toThrow();
  });
});

describe('planForPool', () => {
  it('gives a per-container pool the plan as it is, and an ordinal pool a dense one, at submit and at update', () => {
    const [two, five] = [container(2), container(5)];
    const sparse = plan(two, five);
    expect(containerIdentityOf({})).toBe('per-container');
    expect(planForPool({}, undefined, sparse)).toBe(sparse);
    expect(planForPool({ containerIdentity: 'per-container' }, plan(container(1)), sparse)).toBe(sparse);
    const dense = planForPool({ containerIdentity: 'ordinal' }, undefined, sparse);
    expect(dense.containers.map((c) => [c.id, c.instances])).toEqual([
      [1, five.instances],
      [2, two.instances],
    ]);
  });
});

describe('startAllOrUndo', () => {
  it('returns every result when all start', async () => {
    expect(
      await startAllOrUndo(
        [1, 2, 3],
        async (n) => n * 10,
        async () => undefined,
        new SilentLogger(),
      ),
    ).toEqual([10, 20, 30]);
  });

  it('undoes what started, newest first, and rethrows the failure even when an undo fails', async () => {
    const undone: number[] = [];
    const failure = new SchedulerError('container 3 refused');
    await expect(
      startAllOrUndo(
        [1, 2, 3, 4],
        async (n) => {
          if (n === 3) throw failure;
          return n;
        },
        async (n) => {
          undone.push(n);
          if (n === 2) throw new Error('undo failed');
        },
        new SilentLogger(),
      ),
    ).rejects.toBe(failure);
    expect(undone).toEqual([2, 1]);
  });
});

describe('poolResourceName', () => {
  it('keeps a name that is already a DNS label', () => {
    expect(poolResourceName('word-count', 3)).toBe('word-count-3');
    expect(poolResourceName('word-count')).toBe('word-count');
  });

  it('folds case and replaces characters, with a hash so different names never meet', () => {
    const a = poolResourceName('Word_Count', 0);
    const b = poolResourceName('word.count', 0);
    expect(a).toMatch(/^word-count-[0-9a-f]{8}-0$/);
    expect(b).toMatch(/^word-count-[0-9a-f]{8}-0$/);
    expect(a).not.toBe(b);
    expect(a).not.toBe(poolResourceName('word-count', 0));
  });

  it('starts with a letter and respects the length limit', () => {
    expect(poolResourceName('9lives', 1)).toMatch(/^lives-[0-9a-f]{8}-1$/);
    expect(poolResourceName('___', 1)).toMatch(/^t[0-9a-f]{8}-1$/);
    const long = poolResourceName('a'.repeat(100), 12345, { maxLength: 40 });
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^a+-[0-9a-f]{8}-12345$/);
    for (const name of ['Word_Count', '9lives', 'a'.repeat(100), 'x-y-', 'UPPER']) {
      expect(poolResourceName(name, 7)).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
  });
});
