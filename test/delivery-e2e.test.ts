/**
 * At-least-once delivery end to end, on the local pool through the CLI: word count's replaying spout
 * survives SIGKILL of a container with every sentence acked and every word counted at least once,
 * and the acking protocol itself — explicit fails, and the message timeout — is seen from a spout.
 * Word count must be built (`npx tsc -b examples/word-count`): the test reads its sentences.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ardea,
  CLEANUP_TIMEOUT_MS,
  configProperties,
  E2E_WAIT_MS,
  freshHome,
  metricsView,
  removeHome,
  repoRoot,
  sigkillContainer,
  withContainerLogs,
} from './support.js';
import { finiteSentence } from '../examples/word-count/dist/topology.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const REPLAY = path.join(repoRoot, 'test', 'topologies', 'delivery', 'replay');
const WORDS_PER_SENTENCE = 10;
/** What a finite run may take on a starved machine: the source's own time, replays after a crash, and timeouts. */
const RUN_TIMEOUT_MS = 5 * E2E_WAIT_MS;

let home: string;

beforeEach(() => {
  home = freshHome('ardea-delivery-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

/** The distinct ids in an ack log, and how many lines it has (a replayed id acked again adds a line). */
function ackLog(file: string): { ids: Set<number>; lines: number } {
  const all = lines(file);
  return { ids: new Set(all.filter((line) => /^\d+$/.test(line)).map(Number)), lines: all.length };
}

/** Ids from 0 to n-1 that `ids` lacks, at most `limit` of them. */
function missingIds(ids: ReadonlySet<number>, n: number, limit = 20): number[] {
  const missing: number[] = [];
  for (let id = 0; id < n && missing.length < limit; id++) if (!ids.has(id)) missing.push(id);
  return missing;
}

async function submit(topology: string, ...properties: string[]): Promise<void> {
  const result = await ardea(home, 'submit', 'local', topology, ...configProperties('topology.metricsIntervalMs=500', ...properties));
  expect(result.code, result.stderr).toBe(0);
}

/** Where each component's instances run, as `component: containers`, for the test's output. */
async function placement(topology: string): Promise<string> {
  const described = await ardea(home, 'describe', 'local', topology, '--json');
  expect(described.code, described.stderr).toBe(0);
  const plan = (JSON.parse(described.stdout) as { packingPlan: { containers: { id: number; instances: { component: string }[] }[] } })
    .packingPlan;
  const where = new Map<string, number[]>();
  for (const container of plan.containers)
    for (const instance of container.instances) where.set(instance.component, [...(where.get(instance.component) ?? []), container.id]);
  return [...where].map(([component, containers]) => `${component}: ${containers.join(',')}`).join('; ');
}

/**
 * Runs word count over 20,000 sentences under at-least-once, SIGKILLs container `victim` a
 * quarter of the way through, waits until the spout has acked every sentence, and checks that every
 * word was counted at least once.
 */
async function survivesSigkill(victim: number): Promise<void> {
  const sentences = 20_000;
  const acks = path.join(home, 'sentence-acks.log');
  const countLogDir = path.join(home, 'count-log');
  mkdirSync(countLogDir);
  await submit(
    WORD_COUNT,
    'topology.reliability=at-least-once',
    'topology.messageTimeoutMs=10000',
    'topology.healthManager=false',
    `sentence.sentences=${sentences}`,
    'sentence.rate=700',
    `sentence.ackLog=${acks}`,
    `count.log=${countLogDir}`,
  );
  process.stdout.write(`word count placement: ${await placement('word-count')}\n`);

  await withContainerLogs(home, async () => {
    await vi.waitFor(() => expect(ackLog(acks).ids.size).toBeGreaterThanOrEqual(sentences / 4), {
      timeout: E2E_WAIT_MS,
      interval: 200,
    });
    const ackedAtKill = ackLog(acks).ids.size;
    await sigkillContainer(home, 'word-count', victim);
    process.stdout.write(`container ${victim} killed with ${ackedAtKill} of ${sentences} sentences acked; it runs again\n`);
    await vi.waitFor(
      () => {
        const { ids } = ackLog(acks);
        expect(ids.size, `sentences not acked yet, the first of them: ${missingIds(ids, sentences).join(', ')}`).toBe(sentences);
      },
      { timeout: RUN_TIMEOUT_MS, interval: 1000 },
    );
  });

  const { ids, lines: ackLines } = ackLog(acks);
  expect(missingIds(ids, sentences)).toEqual([]);
  expect([...ids].every((id) => id < sentences)).toBe(true);

  // count logs every word before it is acked: with every sentence acked, each word of each sentence
  // is in the logs at least once. The metrics cannot show that on their own: a SIGKILLed process
  // takes what it counted since its last heartbeat with it.
  const expected = new Map<string, number>();
  for (let index = 0; index < sentences; index++)
    for (const word of finiteSentence(index).split(' ')) expected.set(word, (expected.get(word) ?? 0) + 1);
  const executed = new Map<string, number>();
  for (const file of readdirSync(countLogDir)) {
    for (const word of lines(path.join(countLogDir, file))) executed.set(word, (executed.get(word) ?? 0) + 1);
  }
  const short = [...expected]
    .filter(([word, n]) => (executed.get(word) ?? 0) < n)
    .map(([word, n]) => `${word}: ${executed.get(word) ?? 0} of ${n}`);
  const words = sentences * WORDS_PER_SENTENCE;
  const logged = [...executed.values()].reduce((a, b) => a + b, 0);

  // Once the counters stop moving, for the record: what the metrics saw of the same run.
  let previous = '';
  const settled = await withContainerLogs(home, () =>
    vi.waitFor(
      async () => {
        const view = await metricsView(home, 'word-count');
        const now = JSON.stringify([view.components.split?.executed, view.components.count?.executed]);
        const same = now === previous;
        previous = now;
        expect(same).toBe(true);
        return view;
      },
      { timeout: E2E_WAIT_MS, interval: 2500 },
    ),
  );
  const { sentence, count } = settled.components;
  process.stdout.write(
    `at-least-once word count after SIGKILL of container ${victim}: ${sentences} sentences acked ` +
      `(${ackLines - sentences} acks logged twice); count executed ${logged} of ${words} words: ` +
      `${logged - words} duplicates, ${short.length} words short; metrics (without what the killed process ` +
      `had not reported): sentence emitted ${sentence?.emitted} acked ${sentence?.acked} failed ${sentence?.failed} ` +
      `timed out ${sentence?.timedOut}, count executed ${count?.executed} (${(count?.executed ?? 0) - words} over the words)\n`,
  );
  expect(short).toEqual([]);
  expect(logged).toBeGreaterThanOrEqual(words);
  expect(settled.droppedTuples).toBe(0);
}

describe('at-least-once word count', () => {
  it('acks every sentence and counts every word at least once after SIGKILL of container 1 mid-run', async () => {
    // Container 1 holds the spout: the restarted spout replays what its ack log does not hold.
    await survivesSigkill(1);
  }, 900_000);

  it('acks every sentence and counts every word at least once after SIGKILL of container 2 mid-run', async () => {
    // The spout survives: trees lost in container 2 time out and are replayed from its pending ids.
    await survivesSigkill(2);
  }, 900_000);
});

describe('acking and replay, seen from the spout', () => {
  /** The spout's ack and fail calls per id, in order. */
  function events(file: string): Map<number, string[]> {
    const byId = new Map<number, string[]>();
    for (const line of lines(file)) {
      const [kind, id] = line.split(' ');
      byId.set(Number(id), [...(byId.get(Number(id)) ?? []), kind!]);
    }
    return byId;
  }

  const acked = (byId: Map<number, string[]>) => [...byId.values()].filter((e) => e.includes('ack')).length;

  it('a bolt that fails every tuple once: each id is failed, replayed, and acked once', async () => {
    const count = 2000;
    const log = path.join(home, 'events.log');
    await submit(REPLAY, `ids.count=${count}`, 'ids.rate=400', `ids.eventLog=${log}`, 'flaky.mode=fail-once');
    await withContainerLogs(home, () =>
      vi.waitFor(() => expect(acked(events(log))).toBe(count), { timeout: 2 * E2E_WAIT_MS, interval: 500 }),
    );
    const byId = events(log);
    expect([...byId.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, id) => id));
    for (const [id, seen] of byId) {
      // A fail from the bolt comes first; a timeout on a starved machine may add one more, never a second ack.
      expect(seen[0], `events of id ${id}: ${seen.join(', ')}`).toBe('fail');
      expect(
        seen.filter((e) => e === 'ack'),
        `events of id ${id}: ${seen.join(', ')}`,
      ).toEqual(['ack']);
      expect(seen.at(-1), `events of id ${id}: ${seen.join(', ')}`).toBe('ack');
    }
    await vi.waitFor(
      async () => {
        const { ids, flaky } = (await metricsView(home, 'delivery-replay')).components;
        expect({ acked: ids?.acked, failedAtLeast: (ids?.failed ?? 0) >= count, flakyFailed: flaky?.failed }).toEqual({
          acked: count,
          failedAtLeast: true,
          flakyFailed: count,
        });
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
  }, 600_000);

  it('a tuple that is never acked is failed after messageTimeoutMs, replayed, and then acked', async () => {
    const count = 500;
    const held = 7;
    const log = path.join(home, 'events.log');
    await submit(
      REPLAY,
      'topology.messageTimeoutMs=3000',
      `ids.count=${count}`,
      'ids.rate=200',
      `ids.eventLog=${log}`,
      'flaky.mode=hold',
      `flaky.holdId=${held}`,
    );
    await withContainerLogs(home, () =>
      vi.waitFor(() => expect(acked(events(log))).toBe(count), { timeout: 2 * E2E_WAIT_MS, interval: 500 }),
    );
    const byId = events(log);
    expect(byId.size).toBe(count);
    for (const [id, seen] of byId)
      expect(
        seen.filter((e) => e === 'ack'),
        `events of id ${id}: ${seen.join(', ')}`,
      ).toEqual(['ack']);
    // The bolt never fails the held tuple: a fail of it can only be the timeout's, and the ack comes after.
    const heldEvents = byId.get(held)!;
    expect(heldEvents[0], `events of id ${held}: ${heldEvents.join(', ')}`).toBe('fail');
    expect(heldEvents.at(-1), `events of id ${held}: ${heldEvents.join(', ')}`).toBe('ack');
    const otherFails = [...byId].filter(([id, seen]) => id !== held && seen.includes('fail')).length;
    process.stdout.write(`message timeout: id ${held} failed and replayed; other ids that timed out too: ${otherFails}\n`);
    await vi.waitFor(
      async () => {
        const ids = (await metricsView(home, 'delivery-replay')).components.ids;
        expect(ids?.failed).toBeGreaterThanOrEqual(1);
        expect(ids?.timedOut).toBeGreaterThanOrEqual(1);
        process.stdout.write(`ids metrics: acked ${ids?.acked}, failed ${ids?.failed}, timed out ${ids?.timedOut}\n`);
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
  }, 600_000);
});
