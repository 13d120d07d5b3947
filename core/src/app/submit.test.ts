import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterConfig, loadClusterConfig } from '../config/cluster-config.js';
import { SchedulerError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import { builtinPackingModule } from '../packing/index.js';
import { LibraryLauncher } from '../scheduler/launchers.js';
import { Launcher, Scheduler, type ScheduleRequest } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { Uploader, type UploadRequest } from '../spi/uploader.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { Ardea } from './ardea.js';

const wordCount = fileURLToPath(new URL('../../../examples/word-count', import.meta.url));

/** A library-mode pool that refuses to schedule, after recording what it was asked. */
class RefusingPool implements Scheduler {
  readonly mode = 'library' as const;
  readonly scheduled: string[] = [];
  readonly killed: string[] = [];

  async schedule(request: ScheduleRequest): Promise<void> {
    this.scheduled.push(request.topology.name);
    throw new SchedulerError('the pool has no free slots');
  }
  async update(): Promise<PackingPlan> {
    throw new Error('not used');
  }
  async status() {
    return [];
  }
  async restart(): Promise<void> {}
  async kill(name: string): Promise<void> {
    this.killed.push(name);
  }
  async jobLinks(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

class RecordingUploader implements Uploader {
  readonly uploaded: string[] = [];
  readonly undone: string[] = [];
  async upload(request: UploadRequest): Promise<string> {
    const uri = `file:///packages/${request.topologyId}/topology.mjs`;
    this.uploaded.push(uri);
    return uri;
  }
  async undo(uri: string): Promise<void> {
    this.undone.push(uri);
  }
}

let home: string;
beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-submit-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('Ardea.submit', () => {
  it('undoes every step when the launch fails: the pool is told to kill, no state is left and the package is removed', async () => {
    const state = new InMemoryStateManager();
    await state.start();
    const pool = new RefusingPool();
    const uploader = new RecordingUploader();
    const container = new Container({ defaultScope: 'Singleton' });
    container.bind<Logger>(Logger).toConstantValue(new SilentLogger());
    container.bind<ClusterConfig>(ClusterConfig).toConstantValue(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }));
    container.load(builtinPackingModule);
    container.bind<StateManager>(StateManager).toConstantValue(state);
    container.bind<Uploader>(Uploader).toConstantValue(uploader);
    container.bind<Scheduler>(Scheduler).toConstantValue(pool);
    container.bind<Launcher>(Launcher).toConstantValue(new LibraryLauncher(pool, state));
    const progress: string[] = [];

    const submitted = new Ardea(container).submit({ packagePath: wordCount, name: 'refused', onProgress: (line) => progress.push(line) });

    await expect(submitted).rejects.toThrow('the pool has no free slots');
    expect(pool.scheduled).toEqual(['refused']);
    expect(pool.killed).toEqual(['refused']);
    expect(uploader.undone).toEqual(uploader.uploaded);
    expect(uploader.uploaded).toHaveLength(1);
    for (const kind of ['topology', 'packingPlan', 'executionState', 'scheduler'] as const)
      expect(await state.get(kind, 'refused'), kind).toBeUndefined();
    expect(progress).toContain('submit failed, cleaning up: the pool has no free slots');
    await state.close();
  });
});
