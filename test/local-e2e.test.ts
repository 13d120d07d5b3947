import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createArdea, MAX_BATCH_BYTES } from '@ardea/core';
import { ardea, droppedTuples, metrics, processesOf, repoRoot, type ComponentCounts } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
let home: string;

beforeAll(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-e2e-'));
});

afterAll(async () => {
  for (const name of ['word-count', 'slow-sink', 'crash-once', 'queue-source']) await ardea(home, 'kill', 'local', name);
  for (const pid of processesOf(home)) process.kill(pid, 'SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

/** Waits until two metric reports in a row agree: nothing is in flight any more. */
async function drained(topology: string): Promise<Record<string, { emitted: number; executed: number }>> {
  let previous = '';
  let settled: Record<string, { emitted: number; executed: number }> = {};
  await vi.waitFor(
    async () => {
      const now = await metrics(home, topology);
      const snapshot = JSON.stringify(Object.fromEntries(Object.entries(now).map(([k, v]) => [k, [v.emitted, v.executed]])));
      const same = snapshot === previous;
      previous = snapshot;
      settled = now;
      expect(same).toBe(true);
    },
    { timeout: 30_000, interval: 1200 },
  );
  return settled;
}

describe('word count on the local pool', () => {
  it('submits, counts, drains on deactivate without loss, resumes, and kills without leftovers', async () => {
    const submit = await ardea(home, 'submit', 'local', WORD_COUNT, '--config-property', 'topology.metricsIntervalMs=500', '--config-property', 'sentence.rate=2000');
    expect(submit.stderr).toContain('3/3 containers running, physical plan live');
    expect(submit).toMatchObject({ code: 0 });
    expect(submit.stdout).toMatch(/^topology word-count \(id word-count-[0-9a-f]+\) is running on local in 3 containers\n$/);

    await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count?.executed).toBeGreaterThan(5000), { timeout: 30_000, interval: 500 });

    expect(await ardea(home, 'deactivate', 'local', 'word-count')).toMatchObject({ code: 0, stdout: 'topology word-count is PAUSED\n' });
    const paused = await drained('word-count');
    expect(paused.count!.executed).toBe(paused.split!.emitted);
    expect(paused.split!.executed).toBe(paused.sentence!.emitted);
    expect(paused.split!.emitted).toBe(paused.sentence!.emitted * 10);
    expect(await droppedTuples(home, 'word-count')).toBe(0);

    expect(await ardea(home, 'activate', 'local', 'word-count')).toMatchObject({ code: 0, stdout: 'topology word-count is RUNNING\n' });
    await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count!.executed).toBeGreaterThan(paused.count!.executed + 5000), {
      timeout: 30_000,
      interval: 500,
    });

    const list = await ardea(home, 'list', 'local');
    expect(list.stdout).toMatch(/^word-count\s+RUNNING\s/m);

    const kill = await ardea(home, 'kill', 'local', 'word-count');
    expect(kill).toMatchObject({ code: 0, stdout: 'topology word-count killed\n' });
    expect(processesOf(home)).toEqual([]);
    expect((await ardea(home, 'list', 'local')).stdout).toBe('no topologies on cluster local\n');
    const stateRoot = path.join(home, 'state', 'local');
    const leftovers = readdirSync(stateRoot, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.'));
    expect(leftovers.map((e) => path.join(e.parentPath, e.name))).toEqual([]);
    expect(existsSync(path.join(home, 'packages', 'local', 'word-count'))).toBe(false);
  });

  it('survives SIGKILL of a container: the supervisor restarts it and counting resumes', async () => {
    expect((await ardea(home, 'submit', 'local', WORD_COUNT, '--config-property', 'topology.metricsIntervalMs=500', '--config-property', 'sentence.rate=2000')).code).toBe(0);
    const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    try {
      const before = await client.status('word-count');
      const victim = before.find((s) => s.containerId === 1)!;
      process.kill(Number(victim.handle), 'SIGKILL');
      await vi.waitFor(
        async () => {
          const after = (await client.status('word-count')).find((s) => s.containerId === 1)!;
          expect(after.state).toBe('running');
          expect(after.handle).not.toBe(victim.handle);
          expect(after.restarts).toBe(victim.restarts + 1);
        },
        { timeout: 30_000, interval: 200 },
      );
      const afterRestart = (await metrics(home, 'word-count')).count?.executed ?? 0;
      await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count!.executed).toBeGreaterThan(afterRestart + 5000), {
        timeout: 30_000,
        interval: 500,
      });
    } finally {
      await client.close();
    }
    expect((await ardea(home, 'kill', 'local', 'word-count')).code).toBe(0);
    expect(processesOf(home)).toEqual([]);
  });
});

describe('a crashing instance', () => {
  it('is restarted alone by its stream manager while its container keeps running', async () => {
    const marker = path.join(home, 'fragile-crashed');
    const submit = await ardea(home, 'submit', 'local', path.join(repoRoot, 'test', 'topologies', 'crash-once'), '--config-property', 'topology.metricsIntervalMs=300', '--config-property', `fragile.markerFile=${marker}`);
    expect(submit.code, submit.stderr).toBe(0);
    const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    try {
      const containers = await client.status('crash-once');
      await vi.waitFor(async () => expect((await metrics(home, 'crash-once')).fragile).toMatchObject({ restarts: 1 }), { timeout: 30_000, interval: 300 });
      expect(existsSync(marker)).toBe(true);
      const executed = (await metrics(home, 'crash-once')).fragile!.executed;
      await vi.waitFor(async () => expect((await metrics(home, 'crash-once')).fragile!.executed).toBeGreaterThan(executed + 1000), { timeout: 30_000, interval: 300 });
      expect(await client.status('crash-once')).toEqual(containers);
    } finally {
      await client.close();
    }
    expect((await ardea(home, 'kill', 'local', 'crash-once')).code).toBe(0);
  });
});

describe('backpressure', () => {
  it('stops the spouts for a slow bolt, keeps its queue bounded, and drops nothing', async () => {
    const high = 256 * 1024;
    const submit = await ardea(
      home,
      'submit',
      'local',
      path.join(repoRoot, 'test', 'topologies', 'slow-sink'),
      '--config-property',
      'topology.metricsIntervalMs=300',
      '--config-property',
      `topology.backpressureHighWatermark=${high}`,
      '--config-property',
      `topology.backpressureLowWatermark=${high / 2}`,
      '--config-property',
      'sink.costMicros=300',
      '--config-property',
      'topology.healthManager=false',
    );
    expect(submit.code, submit.stderr).toBe(0);
    await vi.waitFor(async () => expect((await metrics(home, 'slow-sink')).sink!.backpressureMs).toBeGreaterThan(500), { timeout: 30_000, interval: 500 });
    const during = await metrics(home, 'slow-sink');
    // The spout runs at the sink's pace (about 3,300 tuples/s), not at its own (hundreds of thousands).
    expect(during.numbers!.emitRate).toBeLessThan(20_000);
    expect(during.sink!.maxPendingBytes).toBeLessThanOrEqual(high + MAX_BATCH_BYTES);
    expect((await ardea(home, 'deactivate', 'local', 'slow-sink')).code).toBe(0);
    const settled = await drained('slow-sink');
    expect(settled.sink!.executed).toBe(settled.numbers!.emitted);
    expect(await droppedTuples(home, 'slow-sink')).toBe(0);
    expect((await ardea(home, 'kill', 'local', 'slow-sink')).code).toBe(0);
  });
});

describe('a spout that reports its backlog', () => {
  it('shows the backlog and how fast it grows, so arrivals = emitted + growth', async () => {
    // 800 messages/s arrive; the sink waits 2 ms per message, so it takes about 450 of them: its
    // queue reaches the watermark, backpressure pauses the spout, and the backlog grows.
    const submit = await ardea(
      home,
      'submit',
      'local',
      path.join(repoRoot, 'test', 'topologies', 'queue-source'),
      ...[
        'topology.metricsIntervalMs=300',
        'topology.healthManager=false',
        'topology.backpressureHighWatermark=262144',
        'topology.backpressureLowWatermark=131072',
        'source.rate=800',
        'sink.costMicros=2000',
      ].flatMap((p) => ['--config-property', p]),
    );
    expect(submit.code, submit.stderr).toBe(0);
    await vi.waitFor(async () => expect((await metrics(home, 'queue-source')).source!.backlog).toBeGreaterThan(2000), { timeout: 30_000, interval: 500 });
    const first = (await metrics(home, 'queue-source')).source!.backlog!;
    await vi.waitFor(async () => expect((await metrics(home, 'queue-source')).source!.backlog).toBeGreaterThan(first + 1000), { timeout: 30_000, interval: 500 });
    // Over one window, what left the queue plus what piled up in it is what arrived — whether the
    // window caught the spout paused or catching up.
    const windowed = await ardea(home, 'metrics', 'local', 'queue-source', '--json', '--window', '5000');
    const m = (JSON.parse(windowed.stdout) as { components: Record<string, ComponentCounts> }).components;
    expect(m.source!.emitRate + m.source!.backlogGrowthRate!).toBeGreaterThan(800 * 0.8);
    expect(m.source!.emitRate + m.source!.backlogGrowthRate!).toBeLessThan(800 * 1.2);
    expect(m.sink!.backlog).toBeUndefined();
    expect((await ardea(home, 'kill', 'local', 'queue-source')).code).toBe(0);
  });
});

describe('submitting a malformed topology', () => {
  it.each([
    ['cycle', /^ardea: topology package .*cycle failed while loading: topology 'cycle' has a cycle: a -> b -> a; streams must form a DAG\n$/],
    [
      'unknown-stream',
      /^ardea: topology package .*unknown-stream failed while loading: bolt 'sink' subscribes to stream 'alerts' of 'source', which declares no such stream \(declared: default\)\n$/,
    ],
    ['no-export', /^ardea: topology package .*no-export: topology\.mjs does not default-export a topology; end it with `export default builder\.build\(\)`\n$/],
  ])('%s fails with one clear line and leaves nothing behind', async (name, message) => {
    const result = await ardea(home, 'submit', 'local', path.join(repoRoot, 'test', 'topologies', name));
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('ardea:')).join('\n') + '\n').toMatch(message);
    expect((await ardea(home, 'list', 'local')).stdout).toBe('no topologies on cluster local\n');
  });
});
