import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createArdea, MAX_BATCH_BYTES } from '@ardea/core';
import {
  ardea,
  CLEANUP_TIMEOUT_MS,
  droppedTuples,
  E2E_WAIT_MS,
  freshHome,
  metrics,
  processesOf,
  removeHome,
  repoRoot,
  settledCounts,
  wordCountComplete,
} from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
/** Every test has its own ARDEA_HOME, and whatever it left running is stopped after it, passed or not. */
let home: string;

beforeEach(() => {
  home = freshHome('ardea-e2e-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

describe('word count on the local pool', () => {
  it('submits, counts, drains on deactivate without loss, resumes, and kills without leftovers', async () => {
    const submit = await ardea(
      home,
      'submit',
      'local',
      WORD_COUNT,
      '--config-property',
      'topology.metricsIntervalMs=500',
      '--config-property',
      'sentence.rate=2000',
    );
    expect(submit.stderr).toContain('3/3 containers running, physical plan live');
    expect(submit).toMatchObject({ code: 0 });
    expect(submit.stdout).toMatch(/^topology word-count \(id word-count-[0-9a-f]+\) is running on local in 3 containers\n$/);

    await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count?.executed).toBeGreaterThan(5000), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });

    expect(await ardea(home, 'deactivate', 'local', 'word-count')).toMatchObject({ code: 0, stdout: 'topology word-count is PAUSED\n' });
    const paused = await settledCounts(() => metrics(home, 'word-count'), wordCountComplete);
    expect(paused.count!.executed).toBe(paused.split!.emitted);
    expect(paused.split!.executed).toBe(paused.sentence!.emitted);
    expect(paused.split!.emitted).toBe(paused.sentence!.emitted * 10);
    expect(await droppedTuples(home, 'word-count')).toBe(0);

    expect(await ardea(home, 'activate', 'local', 'word-count')).toMatchObject({ code: 0, stdout: 'topology word-count is RUNNING\n' });
    await vi.waitFor(
      async () => expect((await metrics(home, 'word-count')).count!.executed).toBeGreaterThan(paused.count!.executed + 5000),
      {
        timeout: E2E_WAIT_MS,
        interval: 500,
      },
    );

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
  }, 600_000);

  it('survives SIGKILL of a container: the supervisor restarts it and counting resumes', async () => {
    expect(
      (
        await ardea(
          home,
          'submit',
          'local',
          WORD_COUNT,
          '--config-property',
          'topology.metricsIntervalMs=500',
          '--config-property',
          'sentence.rate=2000',
        )
      ).code,
    ).toBe(0);
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
        { timeout: E2E_WAIT_MS, interval: 200 },
      );
      const afterRestart = (await metrics(home, 'word-count')).count?.executed ?? 0;
      await vi.waitFor(async () => expect((await metrics(home, 'word-count')).count!.executed).toBeGreaterThan(afterRestart + 5000), {
        timeout: E2E_WAIT_MS,
        interval: 500,
      });
    } finally {
      await client.close();
    }
    expect((await ardea(home, 'kill', 'local', 'word-count')).code).toBe(0);
    expect(processesOf(home)).toEqual([]);
  }, 600_000);
});

describe('a crashing instance', () => {
  it('is restarted alone by its stream manager while its container keeps running', async () => {
    const marker = path.join(home, 'fragile-crashed');
    const submit = await ardea(
      home,
      'submit',
      'local',
      path.join(repoRoot, 'test', 'topologies', 'crash-once'),
      '--config-property',
      'topology.metricsIntervalMs=300',
      '--config-property',
      `fragile.markerFile=${marker}`,
    );
    expect(submit.code, submit.stderr).toBe(0);
    const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
    try {
      const containers = await client.status('crash-once');
      await vi.waitFor(async () => expect((await metrics(home, 'crash-once')).fragile).toMatchObject({ restarts: 1 }), {
        timeout: E2E_WAIT_MS,
        interval: 300,
      });
      expect(existsSync(marker)).toBe(true);
      const executed = (await metrics(home, 'crash-once')).fragile!.executed;
      await vi.waitFor(async () => expect((await metrics(home, 'crash-once')).fragile!.executed).toBeGreaterThan(executed + 1000), {
        timeout: E2E_WAIT_MS,
        interval: 300,
      });
      expect(await client.status('crash-once')).toEqual(containers);
    } finally {
      await client.close();
    }
    expect((await ardea(home, 'kill', 'local', 'crash-once')).code).toBe(0);
  }, 400_000);
});

describe('backpressure', () => {
  it('stops the spouts for a slow bolt, keeps its queue within the high watermark plus one frame, and drops nothing', async () => {
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
    await vi.waitFor(async () => expect((await metrics(home, 'slow-sink')).sink!.backpressureMs).toBeGreaterThan(500), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    const during = await metrics(home, 'slow-sink');
    // The sink takes 300 µs a tuple, so at most about 3,300 a second, however fast the machine: the
    // spout is held to that pace, not its own (hundreds of thousands a second).
    expect(during.numbers!.emitRate).toBeLessThan(20_000);
    // The spout shares the sink's container: one frame (a flush of at most 256 KiB and one more
    // tuple, plus a header; this topology's tuples take ~110 bytes) past the watermark at most.
    expect(during.sink!.maxPendingBytes).toBeLessThanOrEqual(high + MAX_BATCH_BYTES + 1024);
    expect((await ardea(home, 'deactivate', 'local', 'slow-sink')).code).toBe(0);
    const settled = await settledCounts(
      () => metrics(home, 'slow-sink'),
      (m) => m.sink?.executed === m.numbers?.emitted,
    );
    expect(settled.sink!.maxPendingBytes).toBeLessThanOrEqual(high + MAX_BATCH_BYTES + 1024);
    expect(settled.sink!.executed).toBe(settled.numbers!.emitted);
    expect(await droppedTuples(home, 'slow-sink')).toBe(0);
    expect((await ardea(home, 'kill', 'local', 'slow-sink')).code).toBe(0);
  }, 400_000);
});

describe('a spout that reports its backlog', () => {
  /** `<Date.now()> <arrived>` lines the spout wrote at each backlog sample. */
  const samples = (log: string) =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ').map(Number) as [number, number]);

  it(
    'shows the backlog growing while the spout is held back; ' +
      'emitted + backlog is what arrived, and emitRate + growth the arrival rate',
    async () => {
      // 8,000 messages/s arrive; the sink waits 0.2 ms per message, so it takes fewer than 5,000 of
      // them: its queue reaches the watermark, backpressure pauses the spout, and the backlog grows.
      const rate = 8000;
      const log = path.join(home, 'arrivals.log');
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
          `source.rate=${rate}`,
          `source.log=${log}`,
          'sink.costMicros=200',
        ].flatMap((p) => ['--config-property', p]),
      );
      expect(submit.code, submit.stderr).toBe(0);
      await vi.waitFor(async () => expect((await metrics(home, 'queue-source')).source!.backlog).toBeGreaterThan(2000), {
        timeout: E2E_WAIT_MS,
        interval: 500,
      });
      const first = (await metrics(home, 'queue-source')).source!.backlog!;
      await vi.waitFor(async () => expect((await metrics(home, 'queue-source')).source!.backlog).toBeGreaterThan(first + 1000), {
        timeout: E2E_WAIT_MS,
        interval: 500,
      });

      const client = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });
      try {
        // At every report — whether it caught the spout paused or catching up — what the spout emitted
        // plus its backlog is what had arrived at its source when it last sampled the backlog.
        const reports = new Map<string, { emitted: number; backlog: number; sampled: boolean }>();
        let emitting = 0;
        let previousEmitted = -1;
        await vi.waitFor(
          async () => {
            const { source } = (await client.metrics('queue-source', { windowMs: 2000 })).components;
            const key = `${source!.emitted}+${source!.backlog}`;
            if (!reports.has(key)) {
              const arrived = new Set(samples(log).map(([, count]) => count));
              reports.set(key, {
                emitted: source!.emitted,
                backlog: source!.backlog!,
                sampled: arrived.has(source!.emitted + source!.backlog!),
              });
              if (previousEmitted >= 0 && source!.emitted !== previousEmitted) emitting++;
              previousEmitted = source!.emitted;
            }
            // Enough reports, several of them after the spout emitted.
            expect(reports.size).toBeGreaterThanOrEqual(30);
            expect(emitting).toBeGreaterThanOrEqual(15);
          },
          { timeout: E2E_WAIT_MS, interval: 100 },
        );
        expect([...reports.values()].filter((r) => r.backlog === 0 || !r.sampled)).toEqual([]);
      } finally {
        await client.close();
      }

      // Over a window, emitRate + backlogGrowthRate is the arrival rate, up to the time between the
      // window's two reports and their last backlog samples: at most the longest gap between samples.
      const windowMs = 5000;
      const windowed = await ardea(home, 'metrics', 'local', 'queue-source', '--json', '--window', String(windowMs));
      const answeredAt = Date.now();
      const { source, sink } = (
        JSON.parse(windowed.stdout) as { components: Record<string, { emitRate: number; backlogGrowthRate?: number; backlog?: number }> }
      ).components;
      // Once a sample follows the answer, every gap around the window's reports is in the log.
      await vi.waitFor(() => expect(samples(log).at(-1)![0]).toBeGreaterThan(answeredAt), { timeout: E2E_WAIT_MS, interval: 100 });
      const times = samples(log).map(([at]) => at);
      const longestGap = Math.max(...times.slice(1).map((at, i) => at - times[i]!));
      // ±1 for the arrivals counted in whole messages at each end.
      const tolerance = (rate * longestGap) / windowMs + 2 / (windowMs / 1000);
      expect(
        Math.abs(source!.emitRate + source!.backlogGrowthRate! - rate),
        `longest gap between backlog samples ${longestGap} ms`,
      ).toBeLessThanOrEqual(tolerance);
      expect(sink!.backlog).toBeUndefined();
      expect((await ardea(home, 'kill', 'local', 'queue-source')).code).toBe(0);
    },
    600_000,
  );
});

describe('submitting a malformed topology', () => {
  it.each([
    [
      'cycle',
      /^ardea: topology package .*cycle failed while loading: topology 'cycle' has a cycle: a -> b -> a; streams must form a DAG\n$/,
    ],
    [
      'unknown-stream',
      new RegExp(
        String.raw`^ardea: topology package .*unknown-stream failed while loading: bolt 'sink' subscribes to stream 'alerts' of ` +
          String.raw`'source', which declares no such stream \(declared: default\)\n$`,
      ),
    ],
    [
      'no-export',
      new RegExp(
        String.raw`^ardea: topology package .*no-export: topology\.mjs does not default-export a topology; ` +
          'end it with `export default builder\\.build\\(\\)`\\n$',
      ),
    ],
  ])(
    '%s fails with one clear line and leaves nothing behind',
    async (name, message) => {
      const result = await ardea(home, 'submit', 'local', path.join(repoRoot, 'test', 'topologies', name));
      expect(result.code).toBe(1);
      expect(
        result.stderr
          .split('\n')
          .filter((l) => l.startsWith('ardea:'))
          .join('\n') + '\n',
      ).toMatch(message);
      expect((await ardea(home, 'list', 'local')).stdout).toBe('no topologies on cluster local\n');
      expect(processesOf(home)).toEqual([]);
    },
    300_000,
  );
});
