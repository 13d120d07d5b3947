import { afterEach, describe, expect, it } from 'vitest';
import { CLEANUP_TIMEOUT_MS } from '../support.js';
import { expectNothingLost, NAME, SequenceRun } from './sequence-run.js';

let run: SequenceRun | undefined;

afterEach(async () => {
  await run?.cleanup();
  run = undefined;
}, CLEANUP_TIMEOUT_MS);

/** Each scenario submits, runs, updates, drains and kills a topology: it takes tens of seconds. */
describe('a live update of the sequence topology', { timeout: 600_000 }, () => {
  it('adding an instance into running containers loses nothing, and every instance sees the new parallelism', async () => {
    run = await SequenceRun.submit({ rate: 1000 });
    await run.receives(2000);
    await run.update('--component-parallelism', 'relay:3', '--container-number', '2');
    expect((await run.pids()).size).toBe(3);
    await run.receives(2000);
    // The two relays the update did not touch see it too, not only the one it added.
    expect(Object.fromEntries(run.reportedParallelism('relay'))).toEqual(
      Object.fromEntries((await run.tasks('relay')).map((t) => [t.taskId, 3])),
    );
    expect([...run.reportedParallelism('sink').values()]).toEqual([2, 2]);
    await expectNothingLost(run, 'scale-up into running containers');
  });

  it('adding instances into a new container loses nothing', async () => {
    run = await SequenceRun.submit({ rate: 1000 });
    await run.receives(2000);
    await run.update('--component-parallelism', 'relay:4', '--component-parallelism', 'sink:3', '--container-number', '3');
    const relays = await run.tasks('relay');
    const packing = await run.client.state.get('packingPlan', NAME);
    expect(
      relays.filter((t) => t.containerId === 3),
      `relays by the physical plan: ${JSON.stringify(relays)}; ` +
        `packing plan: ${JSON.stringify(packing?.containers.map((c) => [c.id, c.instances.map((i) => i.taskId)]))}`,
    ).toHaveLength(2);
    await run.receives(2000);
    expect([...run.reportedParallelism('sink').values()]).toEqual([3, 3, 3]);
    await expectNothingLost(run, 'scale-up into a new container');
  });

  it('removing instances, and the container that leaves empty, loses nothing', async () => {
    run = await SequenceRun.submit({ rate: 1000 });
    await run.update('--component-parallelism', 'relay:4', '--container-number', '3');
    await run.receives(2000);
    await run.update('--component-parallelism', 'relay:1', '--component-parallelism', 'sink:1');
    expect([...(await run.pids()).keys()].sort()).toEqual([0, 1, 2]);
    await run.receives(2000);
    await expectNothingLost(run, 'scale-down');
  });
});
