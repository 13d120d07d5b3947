/**
 * The Streamlet API's examples end to end through the CLI: the streamlet word count and the windowed
 * join on the local pool, and the word count on Slurm too, each checked against output computed
 * without the engine — every count of every word, every joined click. Both examples must be built
 * (`npx tsc -b examples/streamlet-word-count examples/windowed-join`): the test reads their records.
 */
import { describeWithService } from '@ardea/core/testing';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { sentenceAt } from '../examples/streamlet-word-count/dist/topology.js';
import { clickRecords, expectedJoin, impressionRecords } from '../examples/windowed-join/dist/topology.js';
import { cancelJobs, liveJobs, LOOPBACK_SLURM, SSHD_BASE, SSHD_PORT } from '../plugins/slurm/src/test-support.js';
import {
  ardea,
  CLEANUP_TIMEOUT_MS,
  configProperties,
  E2E_WAIT_MS,
  freshHome,
  metrics,
  removeHome,
  repoRoot,
  settledCounts,
  withContainerLogs,
} from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'streamlet-word-count');
const WINDOWED_JOIN = path.join(repoRoot, 'examples', 'windowed-join');
const SENTENCES = 2000;
/** What a finite run may take on a starved machine, from submit to its last output. */
const RUN_TIMEOUT_MS = 3 * E2E_WAIT_MS;

/** Every line of every file in `dir`. */
function outputLines(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((file) =>
    readFileSync(path.join(dir, file), 'utf8')
      .split('\n')
      .filter((line) => line !== ''),
  );
}

/** Each word of the finite source's sentences with how often it occurs. */
function expectedCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < SENTENCES; i++) for (const word of sentenceAt(i).split(' ')) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

/**
 * The counts sink writes `<word> <count>` for each word read: with one sink instance, each word's
 * lines must be exactly 1, 2, … up to its number of occurrences, in order, and nothing else.
 */
async function expectEveryCount(home: string, cluster: string, pool: string, out: string): Promise<void> {
  const expected = expectedCounts();
  const total = SENTENCES * 8;
  await vi.waitFor(() => expect(outputLines(out).length).toBeGreaterThanOrEqual(total), { timeout: RUN_TIMEOUT_MS, interval: 500 });
  // The counters stop moving once the finite source is done: nothing more can arrive after this.
  await settledCounts(() => metrics(home, 'streamlet-word-count', cluster));
  const seen = new Map<string, number[]>();
  for (const line of outputLines(out)) {
    const [word, count] = line.split(' ');
    seen.set(word!, [...(seen.get(word!) ?? []), Number(count)]);
  }
  const wrong = [...new Set([...expected.keys(), ...seen.keys()])]
    .filter((word) => {
      const counts = seen.get(word) ?? [];
      const n = expected.get(word) ?? 0;
      return counts.length !== n || counts.some((count, i) => count !== i + 1);
    })
    .map((word) => `${word}: expected 1..${expected.get(word) ?? 0}, got ${(seen.get(word) ?? []).join(',')}`);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(outputLines(out).length).toBe(total);
  process.stdout.write(`streamlet word count on ${pool}: ${total} words, ${expected.size} distinct, every count as expected\n`);
}

/** Submits the streamlet word count of {@link SENTENCES} sentences to `cluster`; resolves to the directory its sink writes. */
async function submitWordCount(home: string, cluster: string): Promise<string> {
  const out = path.join(home, 'out');
  mkdirSync(out);
  const submit = await ardea(
    home,
    'submit',
    cluster,
    WORD_COUNT,
    ...configProperties(
      'topology.metricsIntervalMs=500',
      'topology.healthManager=false',
      `sentence.sentences=${SENTENCES}`,
      `counts.out=${out}`,
    ),
  );
  expect(submit.code, submit.stderr).toBe(0);
  expect(submit.stdout).toContain('topology streamlet-word-count');
  return out;
}

describe('Streamlet examples on the local pool', () => {
  let home: string;

  beforeEach(() => {
    home = freshHome('ardea-streamlet-');
  });

  afterEach(async () => {
    await removeHome(home);
  }, CLEANUP_TIMEOUT_MS);

  it('the streamlet word count counts every word of a finite source exactly', async () => {
    const out = await submitWordCount(home, 'local');
    await withContainerLogs(home, () => expectEveryCount(home, 'local', 'local', out));
  }, 600_000);

  // Under effectively-once the join's windows live in keyed State and are checkpointed; the output is the same.
  it.each(['at-most-once', 'effectively-once'])(
    'the windowed join pairs every click with the impressions of its ad in its 10 s window, exactly (%s)',
    async (reliability) => {
      const out = path.join(home, 'out');
      mkdirSync(out);
      const submit = await ardea(
        home,
        'submit',
        'local',
        WINDOWED_JOIN,
        ...configProperties(
          'topology.metricsIntervalMs=500',
          `topology.reliability=${reliability}`,
          'topology.checkpointIntervalMs=500',
          `joined.out=${out}`,
        ),
      );
      expect(submit.code, submit.stderr).toBe(0);
      const expected = expectedJoin(impressionRecords(), clickRecords())
        .map((record) => JSON.stringify(record))
        .sort();
      // Some clicks fall in a window without an impression of their ad: the left join reports them alone.
      expect(expected.filter((line) => line.includes('"impression":null')).length).toBeGreaterThan(0);
      await withContainerLogs(home, async () => {
        await vi.waitFor(() => expect(outputLines(out).length).toBeGreaterThanOrEqual(expected.length), {
          timeout: RUN_TIMEOUT_MS,
          interval: 500,
        });
        await settledCounts(() => metrics(home, 'windowed-join'));
      });
      expect(outputLines(out).sort()).toEqual(expected);
      process.stdout.write(`windowed join (${reliability}): ${expected.length} joined clicks, as expected\n`);
    },
    600_000,
  );
});

/** Unique per run, so this run's jobs never mix with another's on the same Slurm. */
const jobPrefix = `ardea-s${process.pid}-`;

await describeWithService(LOOPBACK_SLURM, 'the streamlet word count on Slurm through the CLI', () => {
  let home = '';
  let cluster = '';

  beforeAll(() => {
    home = freshHome('ardea-streamlet-slurm-');
    // On this machine the cluster's shared filesystem is the local one.
    const shared = path.join(home, 'shared');
    cluster = path.join(home, 'cluster');
    mkdirSync(cluster, { recursive: true });
    const ssh = [
      'host: 127.0.0.1',
      `port: ${SSHD_PORT}`,
      'user: root',
      `privateKeyPath: ${SSHD_BASE}/client_key`,
      `knownHostsPath: ${SSHD_BASE}/known_hosts`,
    ];
    const yaml = (file: string, lines: string[]) => writeFileSync(path.join(cluster, file), [...lines, ''].join('\n'));
    yaml('scheduler.yaml', [
      'plugin: slurm',
      ...ssh,
      `executorCommand: ${path.join(repoRoot, 'core', 'bin', 'ardea-executor.mjs')}`,
      `workDirectory: ${shared}/work`,
      `jobNamePrefix: ${jobPrefix}`,
      'partition: debug',
      'timeLimit: "60"',
      'container0: { cpus: 1, memoryMb: 512 }',
    ]);
    yaml('uploader.yaml', [`plugin: '@ardea/plugin-slurm#sftpUploader'`, ...ssh, `directory: ${shared}/packages`]);
    yaml('statemgr.yaml', ['plugin: localfs', `rootPath: ${shared}/state`]);
    yaml('packing.yaml', [
      'instance: { cpu: 0.25, ram: 256MiB, disk: 256MiB }',
      'padding: { cpu: 0.25, ram: 256MiB, disk: 256MiB, percent: 0 }',
    ]);
  });

  afterAll(async () => {
    if (home) await ardea(home, 'kill', cluster, 'streamlet-word-count');
    await cancelJobs(jobPrefix).catch(() => undefined);
    await removeHome(home, [cluster]);
  }, CLEANUP_TIMEOUT_MS);

  it('counts every word of a finite source exactly, as on local', async () => {
    const out = await submitWordCount(home, cluster);
    // It runs as Slurm jobs: container 0 and the two that hold the instances.
    expect((await liveJobs(jobPrefix)).length).toBe(3);
    await expectEveryCount(home, cluster, 'Slurm', out);
  }, 600_000);
});
