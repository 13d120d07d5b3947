import { describe, expect, it } from 'vitest';
import type { SubmitResult, UpdateResult } from '../../app/ardea.js';
import { diffPackingPlans, type ContainerPlan, type PackingPlan } from '../../model/packing-plan.js';
import { submitJson, updateJson, updateText } from './topology-commands.js';

const resources = { cpu: 1, ramBytes: 1, diskBytes: 0 };
const container = (id: number, ...instances: [string, number][]): ContainerPlan => ({
  id,
  required: resources,
  instances: instances.map(([component, taskId]) => ({ component, taskId, componentIndex: 0, resources })),
});
const plan = (...containers: ContainerPlan[]): PackingPlan => ({ topologyId: 'wc-1', containers });

function result(previous: PackingPlan, next: PackingPlan, dryRun: boolean): UpdateResult {
  return { previous, plan: next, diff: diffPackingPlans(previous, next), elapsedMs: 1234, dryRun };
}

describe('update output', () => {
  const before = plan(container(1, ['split', 1], ['count', 2]), container(2, ['count', 3], ['count', 4]));
  const after = plan(container(1, ['split', 1], ['count', 2], ['split', 5]), container(3, ['count', 3]));

  it('--json gives the plan diff: per component before and after, instances started, stopped and moved, containers', () => {
    expect(updateJson('wc', result(before, after, false))).toEqual({
      topology: 'wc',
      components: { count: { before: 3, after: 2 }, split: { before: 1, after: 2 } },
      startedInstances: ['container_1_split_5'],
      stoppedInstances: ['container_2_count_4'],
      movedInstances: [{ component: 'count', taskId: 3, from: 2, to: 3 }],
      addedContainers: [3],
      removedContainers: [2],
      elapsedMs: 1234,
      dryRun: false,
    });
  });

  it('prints the same diff as text, and says when nothing changes', () => {
    expect(updateText('wc', result(before, after, true))).toBe(
      'plan for wc:\n' +
        '  count: 3 -> 2 instances\n' +
        '  split: 1 -> 2 instances\n' +
        '  start: container_1_split_5\n' +
        '  stop: container_2_count_4\n' +
        '  move: count task 3 2 -> 3\n' +
        '  add containers: 3\n' +
        '  remove containers: 2\n' +
        'dry run, nothing changed\n',
    );
    expect(updateText('wc', result(before, before, false))).toBe(
      'plan for wc:\n  nothing changes\ndone in 1234 ms; untouched instances kept running\n',
    );
  });
});

describe('submit --json', () => {
  const submitted = {
    definition: { name: 'wc', id: 'wc-1' },
    packingPlan: plan(container(1, ['split', 1]), container(2, ['count', 2])),
  } as unknown as SubmitResult;

  it('gives the topology, its id, the cluster and the containers with container 0', () => {
    expect(submitJson('local', submitted, false)).toEqual({ topology: 'wc', id: 'wc-1', cluster: 'local', containers: 3, dryRun: false });
  });

  it('with --dry-run, the packing plan too', () => {
    expect(submitJson('local', submitted, true)).toMatchObject({
      dryRun: true,
      packingPlan: [
        { id: 1, instances: ['container_1_split_1'] },
        { id: 2, instances: ['container_2_count_2'] },
      ],
    });
  });
});
