import { describe, expect, it } from 'vitest';
import { SilentLogger } from '../../logging/index.js';
import type { PhysicalInstance, PhysicalPlan } from '../../model/runtime-state.js';
import { PlanTransition } from './plan-transition.js';

const instance = (taskId: number, containerId: number, component = 'sink', componentIndex = taskId): PhysicalInstance => ({
  instanceId: `container_${containerId}_${component}_${taskId}`,
  containerId,
  component,
  taskId,
  componentIndex,
});

function plan(version: number, instances: PhysicalInstance[], state: PhysicalPlan['state'] = 'RUNNING'): PhysicalPlan {
  const containers = [...new Set(instances.map((i) => i.containerId))];
  return {
    topologyName: 't',
    topologyId: 't-1',
    version,
    state,
    streamManagers: containers.map((containerId) => ({
      id: `stmgr-${containerId}`,
      containerId,
      host: '127.0.0.1',
      dataPort: 1000 + containerId,
    })),
    instances,
    runtimeConfig: {},
  };
}

/** A transition in container 1 whose ports record, in order, the held-output flushes and the fences sent. */
function transitionInContainer1() {
  const events: string[] = [];
  const transition = new PlanTransition({
    containerId: 1,
    logger: new SilentLogger(),
    ports: {
      route: () => undefined,
      unplacedBacklog: () => undefined,
      flushHeld: () => events.push('flush held'),
      sendToPeer: (containerId) => events.push(`fence to ${containerId}`),
      stopRemoved: async () => undefined,
      handOff: async () => undefined,
      applied: (version) => events.push(`applied ${version}`),
    },
  });
  const change = (next: PhysicalPlan) => transition.begin(next, transition.adopt(next), new Set(), []);
  return { events, change };
}

describe('a plan transition, for the spout output held for backpressure', () => {
  const running = [instance(1, 1, 'numbers'), instance(2, 1), instance(3, 2)];

  it('keeps it held through a plan that only changes the run state or the runtime config', () => {
    const { events, change } = transitionInContainer1();
    change(plan(1, running));
    events.length = 0;
    change(plan(2, running, 'PAUSED'));
    change({ ...plan(3, running), runtimeConfig: { numbers: { rate: 10 } } });
    expect(events).toEqual(['fence to 2', 'fence to 2']);
  });

  it('sends it before the fence when the new plan moves, adds or drops a task', () => {
    const { events, change } = transitionInContainer1();
    change(plan(1, running));
    events.length = 0;
    change(plan(2, [instance(1, 1, 'numbers'), instance(2, 2), instance(3, 2)])); // task 2 moves
    change(plan(3, [instance(1, 1, 'numbers'), instance(2, 2), instance(3, 2), instance(4, 2, 'sink', 3)])); // task 4 added
    change(plan(4, [instance(1, 1, 'numbers'), instance(2, 2)])); // task 3 dropped
    expect(events).toEqual(['flush held', 'fence to 2', 'flush held', 'fence to 2', 'flush held', 'fence to 2']);
  });
});
