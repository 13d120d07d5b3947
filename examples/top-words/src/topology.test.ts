import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Ardea, createArdea } from '@ardea/core';
import { VOCABULARY, type Ranking } from './topology.js';

// The built package (dist/), as a user submits it; `npm test` runs `tsc -b` first.
const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOP_N = 5;

let home: string;
let client: Ardea;
let submitted: string | undefined;

/** Processes whose environment names this ARDEA_HOME: every supervisor and executor this test started. */
function processesOf(ardeaHome: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`ARDEA_HOME=${ardeaHome}`)) pids.push(Number(entry));
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  return pids;
}

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-top-words-'));
  client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
});

afterAll(async () => {
  // Only reached with something running when the test failed half-way.
  if (submitted) await client.kill(submitted).catch(() => undefined);
  for (const pid of processesOf(home)) process.kill(pid, 'SIGKILL');
  await client?.close();
  rmSync(home, { recursive: true, force: true });
});

function readRanking(file: string): Ranking {
  return JSON.parse(readFileSync(file, 'utf8')) as Ranking;
}

describe('top words on the local pool', () => {
  it('publishes the merged top-N ranking on every ranker tick, and kills without leftovers', async () => {
    const outputDirectory = path.join(home, 'out');
    const outputFile = path.join(outputDirectory, 'ranking.json');
    const { definition } = await client.submit({
      packagePath: PACKAGE,
      properties: [
        { key: 'ranker.outputFile', value: outputFile },
        { key: 'topology.metricsIntervalMs', value: 500 },
        { key: 'topology.topN', value: TOP_N },
        { key: 'sentence.rate', value: 500 },
      ],
    });
    submitted = definition.name;
    expect(definition.name).toBe('top-words');

    let first: Ranking | undefined;
    await vi.waitFor(
      () => {
        expect(existsSync(outputFile)).toBe(true);
        first = readRanking(outputFile);
        expect(first.top).toHaveLength(TOP_N);
      },
      { timeout: 10_000, interval: 200 },
    );
    const ranking = first!;
    expect(ranking.windowEndsAt).toBeGreaterThan(0);
    const counts = ranking.top.map((entry) => entry.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    for (const { word, count } of ranking.top) {
      expect(VOCABULARY).toContain(word);
      expect(Number.isInteger(count) && count > 0, `count of ${word}: ${count}`).toBe(true);
    }
    expect(new Set(ranking.top.map((entry) => entry.word)).size).toBe(TOP_N);

    // The ranking is republished for later windows: the ranker keeps ticking and merging.
    await vi.waitFor(() => expect(readRanking(outputFile).windowEndsAt).toBeGreaterThan(ranking.windowEndsAt), {
      timeout: 10_000,
      interval: 200,
    });

    // Partial lists reach the ranker (executed) and it publishes on its ticks (emitted); tick
    // tuples themselves are not counted in `executed` by the engine.
    const before = (await client.metrics(definition.name)).components.ranker!;
    expect(before.instanceCount).toBe(1);
    await vi.waitFor(
      async () => {
        const now = (await client.metrics(definition.name)).components.ranker!;
        expect(now.executed).toBeGreaterThan(before.executed);
        expect(now.emitted).toBeGreaterThan(before.emitted);
        expect(now.errors).toBe(0);
      },
      { timeout: 10_000, interval: 250 },
    );

    await client.kill(definition.name);
    submitted = undefined;
    // kill returns once the containers are stopped; the supervisor answers it and then exits, so
    // its own exit may trail the reply by a moment.
    await vi.waitFor(() => expect(processesOf(home)).toEqual([]), { timeout: 5_000, interval: 50 });
    expect(await client.list()).toEqual([]);
    // Every write went through a temporary file that was renamed, so none is left over.
    expect(readdirSync(outputDirectory)).toEqual(['ranking.json']);
  });
});
