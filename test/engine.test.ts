import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  applyPackingHints,
  buildTopologyPackage,
  DEFAULT_PACKING_SETTINGS,
  LocalFsStateManager,
  RoundRobinPacking,
  SilentLogger,
  StreamManager,
  TopologyDefinition,
  TopologyMaster,
} from '@ardea/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let scratch: string;
let state: LocalFsStateManager;
let master: TopologyMaster;
const streamManagers: StreamManager[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-engine-'));
  const built = await buildTopologyPackage(path.join(root, 'examples', 'word-count'), path.join(scratch, 'package'));
  const definition: TopologyDefinition = {
    ...built.definition,
    id: 'word-count-engine-test',
    config: { ...built.definition.config, metricsIntervalMs: 200 },
    components: built.definition.components.map((c) => (c.name === 'sentence' ? { ...c, config: { ...c.config, rate: 2000 } } : c)),
  };
  const plan = new RoundRobinPacking().pack(definition, applyPackingHints(DEFAULT_PACKING_SETTINGS, definition.packing));
  const logger = new SilentLogger();
  state = new LocalFsStateManager({ rootPath: path.join(scratch, 'state') }, logger);
  await state.start();
  const secret = 'engine-test-secret-0123456789';
  await state.set('topology', definition.name, definition);
  await state.set('packingPlan', definition.name, plan);
  master = new TopologyMaster({
    definition,
    packingPlan: plan,
    secret,
    host: '127.0.0.1',
    initialState: 'RUNNING',
    state,
    logger,
    metricsSamples: 100,
    metricsWindowMs: 1000,
  });
  await master.start();
  const { serverPort } = master.addresses;
  for (const container of plan.containers) {
    const streamManager = new StreamManager({
      definition,
      container,
      secret,
      bundleUrl: pathToFileURL(built.bundlePath).href,
      host: '127.0.0.1',
      backpressure: { highWatermarkBytes: 1024 * 1024, lowWatermarkBytes: 512 * 1024 },
      metricsIntervalMs: 200,
      logger,
      logLevel: 'warn',
      locateTopologyMaster: async () => ({ host: '127.0.0.1', port: serverPort }),
      readPackingPlan: () => state.get('packingPlan', definition.name),
    });
    streamManagers.push(streamManager);
  }
  await Promise.all(streamManagers.map((s) => s.start()));
});

afterAll(async () => {
  await Promise.all(streamManagers.map((s) => s.stop()));
  await master?.stop();
  await state?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const counts = () => {
  const view = master.metrics.view({ windowMs: 1000, instances: false });
  const c = (name: string) => view.components[name] ?? { emitted: 0, executed: 0 };
  return { sentenceEmitted: c('sentence').emitted, splitExecuted: c('split').executed, splitEmitted: c('split').emitted, countExecuted: c('count').executed };
};

describe('the engine in one process', () => {
  it('builds the physical plan and counts words', async () => {
    await vi.waitFor(() => expect(master.physicalPlan?.streamManagers).toHaveLength(2), { timeout: 10_000 });
    await vi.waitFor(() => expect(counts().countExecuted).toBeGreaterThan(1000), { timeout: 15_000, interval: 100 });
  });

  it('drains after deactivation with nothing lost', async () => {
    await master.setRunState('PAUSED');
    let previous = '';
    await vi.waitFor(
      () => {
        const now = counts();
        const snapshot = JSON.stringify(now);
        const stable = snapshot === previous;
        previous = snapshot;
        expect(stable).toBe(true);
        expect(now.countExecuted).toBe(now.splitEmitted);
        expect(now.splitExecuted).toBe(now.sentenceEmitted);
      },
      { timeout: 15_000, interval: 500 },
    );
    expect(counts().sentenceEmitted).toBeGreaterThan(0);
    expect(master.metrics.view({ windowMs: 1000, instances: false }).droppedTuples).toBe(0);
  });
});
