import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { ContainerPlan, PackingPlan } from '../model/packing-plan.js';
import { MiB, resources } from '../model/resources.js';
import { RepackingAlgorithm, type RepackRequest } from '../spi/packing.js';
import { Scheduler, type ContainerIdentity, type UpdateRequest } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { sampleStateRecord } from '../testing/state-manager-conformance.js';
import { Ardea } from './ardea.js';
import { Deployment } from './deployment.js';
import { unpinComponents } from './update.js';
import { DECLARED_PARALLELISM_KEY } from '../model/topology.js';
import { planContainerChanges } from '../scheduler/pool-kit/index.js';

const NAME = 'ids';
const INSTANCE = resources(0.5, 64 * MiB, 0);

function containerOf(id: number, ...taskIds: number[]): ContainerPlan {
  return {
    id,
    instances: taskIds.map((taskId) => ({ component: 'words', taskId, componentIndex: taskId - 1, resources: INSTANCE })),
    required: resources(2, 512 * MiB, 0),
  };
}

/** Repacks the way a scale-down can: container 2 is emptied, its instance joins container 1, container 3 stays. */
const emptiesMiddle: RepackingAlgorithm = {
  name: 'empties-middle',
  repack: ({ current }: RepackRequest) => ({ topologyId: current.topologyId, containers: [containerOf(1, 1, 2), containerOf(3, 3)] }),
};

/** A library-mode pool that works out every update with the pool kit, as its identity demands, and records what it did. */
class RecordingPool implements Scheduler {
  readonly mode = 'library' as const;
  readonly updates: Array<{ added: number[]; removed: number[] }> = [];
  running = [0, 1, 2, 3];

  constructor(readonly containerIdentity: ContainerIdentity) {}

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const changes = planContainerChanges(request, this.running, { ordinal: this.containerIdentity === 'ordinal' });
    this.running = [...this.running.filter((id) => !changes.removed.includes(id)), ...changes.added.map((c) => c.id)].sort((a, b) => a - b);
    this.updates.push({ added: changes.added.map((c) => c.id), removed: [...changes.removed] });
    return request.proposed;
  }

  async status() {
    return this.running.map((containerId) => ({ containerId, state: 'running' as const, restarts: 0 }));
  }

  async schedule(): Promise<void> {}
  async restart(): Promise<void> {}
  async kill(): Promise<void> {}
  async jobLinks(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

describe('Ardea.update and container identity', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /**
   * A topology of three containers, one instance each, whose master reports every plan applied at
   * once (or answers `/plan-status` with `planStatus`).
   */
  async function deployment(
    pool: RecordingPool,
    planStatus: () => object = () => ({ version: 2, live: true, applied: true, pending: [] }),
  ): Promise<Ardea> {
    const master: Server = createServer((request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(request.url === '/plan-status' ? planStatus() : {}));
    });
    await new Promise<void>((resolve) => master.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => master.close(() => resolve())));
    const state = new InMemoryStateManager();
    await state.start();
    cleanups.push(() => state.close());

    const container = new Container({ defaultScope: 'Singleton' });
    container.bind<Logger>(Logger).toConstantValue(new SilentLogger());
    container.bind<ClusterConfig>(ClusterConfig).toConstantValue(
      loadClusterConfig({
        cluster: 'local',
        env: { ARDEA_HOME: '/nonexistent' },
        overrides: ['packing.repackingAlgorithm=empties-middle'],
      }),
    );
    container.bind<StateManager>(StateManager).toConstantValue(state);
    container.bind<Scheduler>(Scheduler).toConstantValue(pool);
    container.bind<RepackingAlgorithm>(RepackingAlgorithm).toConstantValue(emptiesMiddle);

    const topology = sampleStateRecord('topology', NAME);
    const plan: PackingPlan = { topologyId: topology.id, containers: [containerOf(1, 1), containerOf(2, 2), containerOf(3, 3)] };
    await state.set('topology', NAME, topology);
    await state.set('packingPlan', NAME, plan);
    await state.set('executionState', NAME, {
      ...sampleStateRecord('executionState', NAME),
      topologyId: topology.id,
      schedulerMode: 'library',
    });
    await state.set('scheduler', NAME, { topologyName: NAME, mode: 'library', jobLinks: [] });
    await state.set('topologyMaster', NAME, {
      topologyName: NAME,
      topologyId: topology.id,
      host: '127.0.0.1',
      serverPort: 1,
      controllerPort: (master.address() as AddressInfo).port,
    });
    return new Ardea(container);
  }

  const placement = (plan: PackingPlan | undefined) =>
    Object.fromEntries((plan?.containers ?? []).map((c) => [c.id, c.instances.map((i) => i.taskId)]));

  it(
    'on an ordinal pool, a repack that empties a middle container ' + 'ends with the highest container removed and every instance placed',
    async () => {
      const pool = new RecordingPool('ordinal');
      const ardea = await deployment(pool);
      const result = await ardea.update(NAME, {});
      // Container 3's instance moved into the emptied slot 2; the pool only dropped its top slot.
      expect(placement(result.plan)).toEqual({ 1: [1, 2], 2: [3] });
      expect(placement(await ardea.state.get('packingPlan', NAME))).toEqual({ 1: [1, 2], 2: [3] });
      expect(pool.updates).toEqual([{ added: [], removed: [3] }]);
      expect(pool.running).toEqual([0, 1, 2]);
    },
  );

  it('removes an emptied container only once the master works to the new plan, not while it reports the old one applied', async () => {
    const pool = new RecordingPool('per-container');
    let polls = 0;
    let removedAfterPolls: number | undefined;
    const update = pool.update.bind(pool);
    pool.update = (request) => {
      removedAfterPolls ??= polls;
      return update(request);
    };
    // The master reads the stored packing plan a moment after the update wrote it: until then it
    // reports the plan before, which every container has applied.
    const ardea = await deployment(pool, () => {
      polls++;
      const placement = polls <= 5 ? '1:1 2:2 3:3' : '1:1,2 3:3';
      return { version: polls <= 5 ? 1 : 2, live: true, applied: true, pending: [], placement };
    });
    await ardea.update(NAME, {});
    expect(pool.updates).toEqual([{ added: [], removed: [2] }]);
    expect(removedAfterPolls).toBe(6);
  });

  it('on a per-container pool, the same repack removes the emptied container itself', async () => {
    const pool = new RecordingPool('per-container');
    const ardea = await deployment(pool);
    const result = await ardea.update(NAME, {});
    expect(placement(result.plan)).toEqual({ 1: [1, 2], 3: [3] });
    expect(pool.updates).toEqual([{ added: [], removed: [2] }]);
    expect(pool.running).toEqual([0, 1, 3]);
  });

  it("pins the components an operator's update sets, refuses the health manager's update of them, until unpinned", async () => {
    const pool = new RecordingPool('per-container');
    const ardea = await deployment(pool);
    const declared = (await ardea.state.get('topology', NAME))!.components.find((c) => c.name === 'count')!.parallelism;
    const before = Date.now();
    const result = await ardea.update(NAME, { parallelism: { count: declared + 1 }, operator: 'cli (test)' });
    // Held for healthmgr.operatorHoldMs (30 min by default), recorded in the health log.
    expect(result.heldUntil).toBeGreaterThanOrEqual(before + 30 * 60_000);
    const log = (await ardea.state.get('healthLog', NAME))!;
    expect(log.pins).toEqual({ count: { parallelism: declared + 1, at: expect.any(Number), until: result.heldUntil, by: 'cli (test)' } });
    expect(log.operatorActions).toEqual([
      expect.objectContaining({ type: 'update', by: 'cli (test)', components: ['count'], parallelism: { count: declared + 1 } }),
    ]);
    // The submitted parallelism is kept as the health manager's floor.
    const count = (await ardea.state.get('topology', NAME))!.components.find((c) => c.name === 'count')!;
    expect(count.config[DECLARED_PARALLELISM_KEY]).toBe(declared);

    await expect(ardea.update(NAME, { parallelism: { count: declared }, respectOperatorPins: true })).rejects.toThrow(
      /not scaling count of 'ids': held by the operator until .*ardea update --unpin ends the hold/,
    );
    const deployed = new Deployment(ardea.container);
    await expect(unpinComponents(deployed, NAME, ['nope'], 'cli')).rejects.toThrow(/--unpin nope: 'ids' has no component 'nope'/);
    expect(await unpinComponents(deployed, NAME, undefined, 'cli')).toEqual(['count']);
    expect(await unpinComponents(deployed, NAME, ['count'], 'cli')).toEqual([]);
    const unpinned = (await ardea.state.get('healthLog', NAME))!;
    expect(unpinned.pins).toEqual({});
    expect(unpinned.operatorActions?.map((a) => a.type)).toEqual(['update', 'unpin']);
    // Released: the health manager's update goes ahead (this repacker keeps the plan, so it ends there).
    await expect(ardea.update(NAME, { parallelism: { count: declared }, respectOperatorPins: true })).resolves.toMatchObject({
      dryRun: false,
    });
  });
});
