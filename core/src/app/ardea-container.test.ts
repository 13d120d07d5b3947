import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadClusterConfig } from '../config/cluster-config.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { PluginLoadError } from '../errors/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import { definePlugin } from '../plugin/plugin-descriptor.js';
import { Launcher, Scheduler, type ScheduleRequest, type SchedulerMode } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { sampleStateRecord } from '../testing/state-manager-conformance.js';
import { createArdeaContainer, resolveClusterPlugins, type ResolvedCluster } from './ardea-container.js';

let home: string;
beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-container-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

/** A pool that records what it was asked to schedule, in the given mode. */
class RecordingPool implements Scheduler {
  readonly containerIdentity = 'per-container' as const;
  readonly scheduled: string[] = [];

  constructor(readonly mode: SchedulerMode) {}

  async schedule(request: ScheduleRequest): Promise<void> {
    this.scheduled.push(request.topology.name);
  }
  async update(): Promise<PackingPlan> {
    throw new Error('not used');
  }
  async status() {
    return [];
  }
  async restart(): Promise<void> {}
  async kill(): Promise<void> {}
  async jobLinks(name: string): Promise<string[]> {
    return [`https://pool.example/${name}`];
  }
  async close(): Promise<void> {}
}

/** The built-in `local` cluster, with its scheduler replaced by a plugin that binds a Scheduler only. */
async function clusterWithPool(pool: RecordingPool): Promise<ResolvedCluster> {
  const resolved = await resolveClusterPlugins(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }));
  const descriptor = definePlugin({
    name: 'recording',
    kind: 'scheduler',
    configSchema: z.object({}),
    createModule: () => new ContainerModule(({ bind }) => void bind<Scheduler>(Scheduler).toConstantValue(pool)),
  });
  return { ...resolved, scheduler: { name: 'recording', kind: 'scheduler', descriptor, config: {} } };
}

function request(name: string): ScheduleRequest {
  const topology = { ...sampleStateRecord('topology', name), name };
  return {
    topology,
    packingPlan: { topologyId: topology.id, containers: [] },
    packageUri: 'file:///nowhere',
    executor: { argv: ['ardea-executor'], env: {} },
  };
}

describe('the launcher of a deployment whose scheduler plugin binds none', () => {
  it('schedules a library-mode pool from this process and records a library location', async () => {
    const pool = new RecordingPool('library');
    const container = await createArdeaContainer(await clusterWithPool(pool));
    try {
      const state = container.get<StateManager>(StateManager);
      await state.start();
      const location = await container.get<Launcher>(Launcher).launch(request('words'));
      expect(pool.scheduled).toEqual(['words']);
      expect(location).toEqual({ topologyName: 'words', mode: 'library', jobLinks: ['https://pool.example/words'] });
      expect(await state.get('scheduler', 'words')).toEqual(location);
    } finally {
      await closeArdeaContainer(container);
    }
  });

  it('is refused for a service-mode pool, naming the plugin: only the pool knows where its service runs', async () => {
    const pool = new RecordingPool('service');
    const container = await createArdeaContainer(await clusterWithPool(pool));
    try {
      let error: unknown;
      try {
        container.get<Launcher>(Launcher);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(PluginLoadError);
      expect((error as PluginLoadError).message).toBe(
        "scheduler plugin 'recording' runs in service mode but its module bound no ardea.Launcher; it must bind one that " +
          'starts its scheduler service (as @ardea/plugin-local does)',
      );
      expect(pool.scheduled).toEqual([]);
    } finally {
      await closeArdeaContainer(container);
    }
  });
});
