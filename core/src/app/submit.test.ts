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

/**
 * A library-mode pool that records what it was asked. It refuses to schedule unless `accepts`, and
 * its kill fails when `unreachable` (like a pool whose API server is down or refuses the credentials).
 */
class RecordingPool implements Scheduler {
  readonly mode = 'library' as const;
  readonly scheduled: string[] = [];
  readonly killed: string[] = [];
  constructor(private readonly behaviour: { accepts?: boolean; unreachable?: boolean } = {}) {}

  async schedule(request: ScheduleRequest): Promise<void> {
    this.scheduled.push(request.topology.name);
    if (!this.behaviour.accepts) throw new SchedulerError('the pool has no free slots');
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
    if (this.behaviour.unreachable) throw new SchedulerError('the pool does not answer');
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

function ardeaWith(pool: Scheduler, state: StateManager, uploader: Uploader): Ardea {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<Logger>(Logger).toConstantValue(new SilentLogger());
  container.bind<ClusterConfig>(ClusterConfig).toConstantValue(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }));
  container.load(builtinPackingModule);
  container.bind<StateManager>(StateManager).toConstantValue(state);
  container.bind<Uploader>(Uploader).toConstantValue(uploader);
  container.bind<Scheduler>(Scheduler).toConstantValue(pool);
  container.bind<Launcher>(Launcher).toConstantValue(new LibraryLauncher(pool, state));
  return new Ardea(container);
}

async function expectNothingLeft(state: StateManager, uploader: RecordingUploader, name: string): Promise<void> {
  expect(uploader.uploaded).toHaveLength(1);
  expect(uploader.undone).toEqual(uploader.uploaded);
  for (const kind of ['topology', 'packingPlan', 'executionState', 'scheduler'] as const)
    expect(await state.get(kind, name), kind).toBeUndefined();
}

describe('Ardea.submit', () => {
  it('undoes every step when a library pool refuses to schedule, without asking the pool again (which may not answer)', async () => {
    const state = new InMemoryStateManager();
    await state.start();
    // The Scheduler contract: a schedule that rejects has removed what it started. Here the pool
    // is also unreachable afterwards, as when its API server refused the credentials.
    const pool = new RecordingPool({ unreachable: true });
    const uploader = new RecordingUploader();
    const progress: string[] = [];

    const submitted = ardeaWith(pool, state, uploader).submit({
      packagePath: wordCount,
      name: 'refused',
      onProgress: (line) => progress.push(line),
    });

    await expect(submitted).rejects.toThrow('the pool has no free slots');
    expect(pool.scheduled).toEqual(['refused']);
    expect(pool.killed).toEqual([]);
    await expectNothingLeft(state, uploader, 'refused');
    expect(progress).toContain('submit failed, cleaning up: the pool has no free slots');
    await state.close();
  });

  it('tells the pool to kill when the topology it accepted never comes up, then removes state and package', async () => {
    const state = new InMemoryStateManager();
    await state.start();
    const pool = new RecordingPool({ accepts: true });
    const uploader = new RecordingUploader();

    const submitted = ardeaWith(pool, state, uploader).submit({ packagePath: wordCount, name: 'silent', timeoutMs: 300 });

    await expect(submitted).rejects.toThrow();
    expect(pool.scheduled).toEqual(['silent']);
    expect(pool.killed).toEqual(['silent']);
    await expectNothingLeft(state, uploader, 'silent');
    await state.close();
  });
});
