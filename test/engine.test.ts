import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TopologyMaster } from '@ardea/core';
import { startInProcessEngine, type InProcessEngine } from './in-process-engine.js';
import { E2E_WAIT_MS, repoRoot } from './support.js';

let scratch: string;
let engine: InProcessEngine | undefined;
let master: TopologyMaster;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-engine-'));
  engine = await startInProcessEngine(path.join(repoRoot, 'examples', 'word-count'), scratch, (built) => ({
    ...built,
    id: 'word-count-engine-test',
    config: { ...built.config, metricsIntervalMs: 200 },
    components: built.components.map((c) => (c.name === 'sentence' ? { ...c, config: { ...c.config, rate: 2000 } } : c)),
  }));
  master = engine.master;
}, 300_000);

afterAll(async () => {
  await engine?.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

const counts = () => {
  const view = master.metrics.view({ windowMs: 1000, instances: false });
  const c = (name: string) => view.components[name] ?? { emitted: 0, executed: 0 };
  return {
    sentenceEmitted: c('sentence').emitted,
    splitExecuted: c('split').executed,
    splitEmitted: c('split').emitted,
    countExecuted: c('count').executed,
  };
};

/** One story: the topology counts, then is deactivated and drains what it counted. */
describe.sequential('the engine in one process', { timeout: 300_000 }, () => {
  it('builds the physical plan and counts words', async () => {
    await vi.waitFor(() => expect(master.physicalPlan?.streamManagers).toHaveLength(2), { timeout: E2E_WAIT_MS });
    await vi.waitFor(() => expect(counts().countExecuted).toBeGreaterThan(1000), { timeout: E2E_WAIT_MS, interval: 100 });
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
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    expect(counts().sentenceEmitted).toBeGreaterThan(0);
    expect(master.metrics.view({ windowMs: 1000, instances: false }).droppedTuples).toBe(0);
  });
});
