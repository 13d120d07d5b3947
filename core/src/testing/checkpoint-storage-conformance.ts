import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CheckpointError } from '../errors/index.js';
import type { CheckpointManifest, CheckpointStorage, CheckpointTopology } from '../spi/checkpoint-storage.js';

export interface CheckpointStorageConformanceFactory {
  /**
   * A new storage. Storages made by one factory must share their backing store, as the containers
   * and the CLI of a deployment do: what one commits, another reads. Every test uses topology runs
   * of its own, so the store may be shared by the whole suite.
   */
  create(): Promise<CheckpointStorage>;
  /** Runs once after the whole suite, after every storage has been closed. */
  cleanup?(): Promise<void>;
}

const MiB = 1024 * 1024;

/**
 * Registers vitest tests checking that a {@link CheckpointStorage} honours its contract: parts come
 * back byte for byte (empty, small and 20 MiB binary ones), a checkpoint is visible only once
 * committed and commits only go up, prune keeps what a restore needs, dispose removes a run
 * without touching another, and every bad input is refused with a {@link CheckpointError}.
 */
export function describeCheckpointStorageConformance(name: string, factory: CheckpointStorageConformanceFactory): void {
  const runId = randomBytes(3).toString('hex');
  let counter = 0;
  const storages: CheckpointStorage[] = [];
  const used: Array<{ storage: CheckpointStorage; topology: CheckpointTopology }> = [];

  /** A topology run of this test's own; disposed after the test. */
  const run = (storage: CheckpointStorage, topologyName = `ck${runId}${(counter++).toString(36)}`): CheckpointTopology => {
    const topology = { topologyName, topologyId: `${topologyName}-${randomBytes(4).toString('hex')}` };
    used.push({ storage, topology });
    return topology;
  };
  const create = async (): Promise<CheckpointStorage> => {
    const storage = await factory.create();
    storages.push(storage);
    return storage;
  };

  describe(name, () => {
    afterEach(async () => {
      for (const { storage, topology } of used.splice(0)) await storage.dispose(topology);
    });

    afterAll(async () => {
      for (const storage of storages.splice(0)) await storage.close?.();
      await factory.cleanup?.();
    });

    it('loads back what was stored, byte for byte: an empty, a small and a 20 MiB binary part', async () => {
      const storage = await create();
      const topology = run(storage);
      const parts = { empty: new Uint8Array(0), small: Buffer.from('h\u00e9ron \u2713\n', 'utf8'), large: binary(20 * MiB) };
      for (const [part, data] of Object.entries(parts)) await storage.store(topology, 1, part, data);
      for (const [part, data] of Object.entries(parts)) expectBytes(await storage.load(topology, 1, part), data, part);
      // Another storage of the same deployment (another container) sees them too.
      const other = await create();
      expectBytes(await other.load(topology, 1, 'large'), parts.large, 'large, from another storage');
    });

    it('replaces a part stored again before the checkpoint is committed', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 4, 'count-1', Buffer.from('first, and longer than the second'));
      await storage.store(topology, 4, 'count-1', Buffer.from('second'));
      expectBytes(await storage.load(topology, 4, 'count-1'), Buffer.from('second'), 'count-1');
      await storage.commit(topology, manifest(4, { 'count-1': 6 }));
      expect(await storage.latest(topology)).toEqual(manifest(4, { 'count-1': 6 }));
    });

    it('answers undefined for a part that was never stored, in an existing checkpoint or not', async () => {
      const storage = await create();
      const topology = run(storage);
      expect(await storage.load(topology, 1, 'count-1')).toBeUndefined();
      await storage.store(topology, 1, 'count-1', Buffer.from('x'));
      expect(await storage.load(topology, 1, 'count-2')).toBeUndefined();
      expect(await storage.load(topology, 2, 'count-1')).toBeUndefined();
    });

    it('has no latest checkpoint until one is committed, then the one committed last', async () => {
      const storage = await create();
      const topology = run(storage);
      expect(await storage.latest(topology)).toBeUndefined();
      await storage.store(topology, 1, 'words-0', Buffer.from('a'));
      // Stored parts alone are no checkpoint.
      expect(await storage.latest(topology)).toBeUndefined();
      const first = manifest(1, { 'words-0': 1 });
      await storage.commit(topology, first);
      expect(await storage.latest(topology)).toEqual(first);

      await storage.store(topology, 3, 'words-0', Buffer.from('bb'));
      await storage.store(topology, 3, 'count-0', Buffer.from('ccc'));
      const third = manifest(3, { 'words-0': 2, 'count-0': 3 }, { parallelism: { words: 1, count: 1 }, maxParallelism: 32 });
      await storage.commit(topology, third);
      const latest = await storage.latest(topology);
      expect(latest).toEqual(third);
      // What a restore reads: the latest manifest's parts, still there.
      for (const { part } of latest!.parts) expect(await storage.load(topology, 3, part)).toBeDefined();
      expectBytes(await storage.load(topology, 1, 'words-0'), Buffer.from('a'), 'words-0 of checkpoint 1');
    });

    it('commits a checkpoint of no parts (a topology without state)', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.commit(topology, manifest(0, {}));
      expect(await storage.latest(topology)).toEqual(manifest(0, {}));
    });

    it('refuses to commit an id that is not above the latest, and keeps the latest', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 5, 'p', Buffer.from('5'));
      await storage.commit(topology, manifest(5, { p: 1 }));
      for (const id of [5, 4, 0]) {
        const failure = await rejection(() => storage.commit(topology, manifest(id, {})));
        expect(failure, `commit of ${id} after 5`).toBeInstanceOf(CheckpointError);
        expect(failure.message).toContain(topology.topologyName);
        expect(failure.message).toContain(String(id));
      }
      expect((await storage.latest(topology))?.checkpointId).toBe(5);
    });

    it('refuses to commit a manifest naming a part that is not stored, or not at the size it says', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 2, 'count-0', Buffer.from('four'));
      const missing = await rejection(() => storage.commit(topology, manifest(2, { 'count-0': 4, 'count-1': 9 })));
      expect(missing).toBeInstanceOf(CheckpointError);
      expect(missing.message).toContain('count-1');
      const wrongSize = await rejection(() => storage.commit(topology, manifest(2, { 'count-0': 5 })));
      expect(wrongSize).toBeInstanceOf(CheckpointError);
      expect(wrongSize.message).toContain('count-0');
      expect(await storage.latest(topology)).toBeUndefined();
      await storage.commit(topology, manifest(2, { 'count-0': 4 }));
      expect((await storage.latest(topology))?.checkpointId).toBe(2);
    });

    it('refuses to store into a checkpoint that is not above the latest committed one, which stays as it was', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 3, 'count-0', Buffer.from('kept'));
      await storage.commit(topology, manifest(3, { 'count-0': 4 }));
      for (const id of [3, 2]) {
        const failure = await rejection(() => storage.store(topology, id, 'count-0', Buffer.from('changed')));
        expect(failure, `store into ${id} after 3 is committed`).toBeInstanceOf(CheckpointError);
        expect(failure.message).toContain('count-0');
      }
      expectBytes(await storage.load(topology, 3, 'count-0'), Buffer.from('kept'), 'count-0 of the committed checkpoint');
    });

    it('refuses a malformed manifest', async () => {
      const storage = await create();
      const topology = run(storage);
      const good = manifest(1, {});
      const bad: unknown[] = [
        { ...good, checkpointId: -1 },
        { ...good, checkpointId: 1.5 },
        { ...good, maxParallelism: 0 },
        { ...good, parts: [{ part: '../escape', bytes: 1 }] },
        { ...good, parts: [{ part: 'p', bytes: -1 }] },
        {
          ...good,
          parts: [
            { part: 'p', bytes: 0 },
            { part: 'p', bytes: 0 },
          ],
        },
        { ...good, parallelism: { count: 'two' } },
        { checkpointId: 1 },
      ];
      for (const value of bad) {
        expect(await rejection(() => storage.commit(topology, value as CheckpointManifest)), JSON.stringify(value)).toBeInstanceOf(
          CheckpointError,
        );
      }
      expect(await storage.latest(topology)).toBeUndefined();
    });

    it('keeps the latest committed checkpoint for a new storage on the same backing store', async () => {
      const storage = await create();
      const topology = run(storage);
      const data = binary(64 * 1024);
      await storage.store(topology, 7, 'count-2', data);
      await storage.commit(topology, manifest(7, { 'count-2': data.length }));
      await storage.close?.();
      // As a container restarted elsewhere sees it.
      const restarted = await create();
      expect(await restarted.latest(topology)).toEqual(manifest(7, { 'count-2': data.length }));
      expectBytes(await restarted.load(topology, 7, 'count-2'), data, 'count-2 after a restart');
      await restarted.store(topology, 8, 'count-2', Buffer.from('next'));
      await restarted.commit(topology, manifest(8, { 'count-2': 4 }));
      expect((await (await create()).latest(topology))?.checkpointId).toBe(8);
    });

    it('prunes the checkpoints below an id, committed or not, and keeps the rest', async () => {
      const storage = await create();
      const topology = run(storage);
      // Stored but never committed: an aborted checkpoint below the committed ones, one in progress above.
      await storage.store(topology, 0, 'p', Buffer.from('aborted'));
      for (const id of [1, 2, 3]) {
        await storage.store(topology, id, 'p', Buffer.from(`checkpoint ${id}`));
        await storage.commit(topology, manifest(id, { p: `checkpoint ${id}`.length }));
      }
      await storage.store(topology, 4, 'p', Buffer.from('in progress'));

      await storage.prune(topology, 3);
      expect(await storage.load(topology, 0, 'p')).toBeUndefined();
      expect(await storage.load(topology, 1, 'p')).toBeUndefined();
      expect(await storage.load(topology, 2, 'p')).toBeUndefined();
      expectBytes(await storage.load(topology, 3, 'p'), Buffer.from('checkpoint 3'), 'p of checkpoint 3');
      expectBytes(await storage.load(topology, 4, 'p'), Buffer.from('in progress'), 'p of checkpoint 4');
      expect((await storage.latest(topology))?.checkpointId).toBe(3);
      // Pruning again, or below what is left, changes nothing.
      await storage.prune(topology, 3);
      await storage.prune(topology, 0);
      expect((await storage.latest(topology))?.checkpointId).toBe(3);
      expect(await storage.load(topology, 4, 'p')).toBeDefined();
    });

    it('keeps the latest committed checkpoint even when pruning above it: a restore needs it', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 2, 'p', Buffer.from('two'));
      await storage.commit(topology, manifest(2, { p: 3 }));
      await storage.store(topology, 5, 'p', Buffer.from('five'));
      await storage.prune(topology, 10);
      expect(await storage.latest(topology)).toEqual(manifest(2, { p: 3 }));
      expectBytes(await storage.load(topology, 2, 'p'), Buffer.from('two'), 'p of checkpoint 2');
      expect(await storage.load(topology, 5, 'p')).toBeUndefined();
    });

    it('disposes of everything of a run, idempotently, also from another storage and for a run that stored nothing', async () => {
      const storage = await create();
      const topology = run(storage);
      await storage.store(topology, 1, 'p', Buffer.from('one'));
      await storage.commit(topology, manifest(1, { p: 3 }));
      await storage.store(topology, 2, 'p', Buffer.from('two'));
      // As `ardea kill` does, from the CLI rather than from a container.
      const killer = await create();
      await killer.dispose(topology);
      expect(await storage.latest(topology)).toBeUndefined();
      expect(await storage.load(topology, 1, 'p')).toBeUndefined();
      expect(await storage.load(topology, 2, 'p')).toBeUndefined();
      await killer.dispose(topology);
      await storage.dispose(run(storage));
      // Nothing of the disposed run comes back: a checkpoint stored afterwards is a new start.
      await storage.store(topology, 1, 'p', Buffer.from('again'));
      expect(await storage.latest(topology)).toBeUndefined();
    });

    it('keeps two runs of one topology apart: same name, another id', async () => {
      const storage = await create();
      const first = run(storage);
      const second = run(storage, first.topologyName);
      await storage.store(first, 1, 'count-0', Buffer.from('first run'));
      await storage.commit(first, manifest(1, { 'count-0': 9 }));
      expect(await storage.latest(second)).toBeUndefined();
      expect(await storage.load(second, 1, 'count-0')).toBeUndefined();
      // The second run starts its ids over; the first run's commits do not bound them.
      await storage.store(second, 1, 'count-0', Buffer.from('second'));
      await storage.commit(second, manifest(1, { 'count-0': 6 }));
      expectBytes(await storage.load(first, 1, 'count-0'), Buffer.from('first run'), 'the first run’s part');
      await storage.prune(second, 5);
      await storage.dispose(second);
      expect(await storage.latest(first)).toEqual(manifest(1, { 'count-0': 9 }));
      expectBytes(await storage.load(first, 1, 'count-0'), Buffer.from('first run'), 'the first run’s part after the second’s dispose');
    });

    it('keeps topologies apart whose names share a prefix', async () => {
      const storage = await create();
      const short = run(storage);
      const long = run(storage, `${short.topologyName}-b`);
      await storage.store(short, 1, 'p', Buffer.from('short'));
      await storage.commit(short, manifest(1, { p: 5 }));
      expect(await storage.latest(long)).toBeUndefined();
      await storage.dispose(long);
      expect((await storage.latest(short))?.checkpointId).toBe(1);
    });

    it('accepts every part name the SPI allows', async () => {
      const storage = await create();
      const topology = run(storage);
      const names = ['count-0', 'kg_12.bin', 'A', '...', '.hidden', '-leading-dash', 'x'.repeat(200)];
      for (const [i, part] of names.entries()) await storage.store(topology, 1, part, Buffer.from(String(i)));
      for (const [i, part] of names.entries()) expectBytes(await storage.load(topology, 1, part), Buffer.from(String(i)), part);
      await storage.commit(topology, manifest(1, Object.fromEntries(names.map((part, i) => [part, String(i).length]))));
      expect((await storage.latest(topology))?.parts.map((p) => p.part)).toEqual(names);
    });

    it('refuses bad part names, checkpoint ids and topology names with a CheckpointError naming them', async () => {
      const storage = await create();
      const topology = run(storage);
      const data = Buffer.from('x');
      for (const part of ['', '.', '..', '../escape', 'a/b', 'a\\b', 'nul\0', 'sp ace', 'caf\u00e9', 'tilde~', 'x'.repeat(201)]) {
        for (const attempt of [() => storage.store(topology, 1, part, data), () => storage.load(topology, 1, part)]) {
          const failure = await rejection(attempt);
          expect(failure, `part ${JSON.stringify(part)}`).toBeInstanceOf(CheckpointError);
          expect(failure.message).toContain(topology.topologyName);
        }
      }
      for (const id of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(await rejection(() => storage.store(topology, id, 'p', data)), `checkpoint id ${id}`).toBeInstanceOf(CheckpointError);
        expect(await rejection(() => storage.load(topology, id, 'p')), `checkpoint id ${id}`).toBeInstanceOf(CheckpointError);
      }
      expect(await rejection(() => storage.prune(topology, -1))).toBeInstanceOf(CheckpointError);
      for (const bad of [
        { topologyName: '..', topologyId: 'x-1' },
        { topologyName: 'a/b', topologyId: 'x-1' },
        { topologyName: '', topologyId: 'x-1' },
        { topologyName: 'words', topologyId: '..' },
        { topologyName: 'words', topologyId: '.hidden' },
        { topologyName: 'words', topologyId: '../../etc' },
      ]) {
        for (const attempt of [
          () => storage.store(bad, 1, 'p', data),
          () => storage.load(bad, 1, 'p'),
          () => storage.commit(bad, manifest(1, {})),
          () => storage.latest(bad),
          () => storage.prune(bad, 1),
          () => storage.dispose(bad),
        ]) {
          expect(await rejection(attempt), JSON.stringify(bad)).toBeInstanceOf(CheckpointError);
        }
      }
    });

    it('stores different parts of a checkpoint concurrently, as the instances of a topology do', async () => {
      const storage = await create();
      const topology = run(storage);
      const others = await Promise.all([create(), create()]);
      const parts = Array.from({ length: 24 }, (_, i) => ({ part: `count-${i}`, data: binary(1024 * (i + 1)) }));
      await Promise.all(parts.map(({ part, data }, i) => [storage, ...others][i % 3]!.store(topology, 1, part, data)));
      for (const { part, data } of parts) expectBytes(await storage.load(topology, 1, part), data, part);
      await storage.commit(topology, manifest(1, Object.fromEntries(parts.map(({ part, data }) => [part, data.length]))));
      expect((await others[0]!.latest(topology))?.parts).toHaveLength(parts.length);
    });
  });
}

/** A manifest of checkpoint `id` with the given parts and sizes. */
function manifest(
  checkpointId: number,
  parts: Record<string, number>,
  extra: { parallelism?: Record<string, number>; maxParallelism?: number } = {},
): CheckpointManifest {
  return {
    checkpointId,
    startedAt: 1_700_000_000_000 + checkpointId,
    completedAt: 1_700_000_000_500 + checkpointId,
    maxParallelism: extra.maxParallelism ?? 128,
    parallelism: extra.parallelism ?? { words: 2, count: 3 },
    parts: Object.entries(parts).map(([part, bytes]) => ({ part, bytes })),
  };
}

/** Random bytes with every byte value at the start, so an encoding that mangles any of them shows. */
function binary(length: number): Buffer {
  const bytes = randomBytes(length);
  for (let i = 0; i < Math.min(256, length); i++) bytes[i] = i;
  return bytes;
}

/** How `attempt` failed; a synchronous throw counts as a rejection, as a caller awaiting it sees no difference. */
async function rejection(attempt: () => Promise<unknown>): Promise<Error> {
  try {
    await attempt();
  } catch (error) {
    return error as Error;
  }
  return new Error('expected a rejection, but it resolved');
}

/** Compares with Buffer.equals: a deep element-wise comparison of 20 MiB takes far longer. */
function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  expect(actual, `${what}: nothing is stored`).toBeDefined();
  const got = Buffer.from(actual!.buffer, actual!.byteOffset, actual!.byteLength);
  if (got.equals(expected)) return;
  let first = 0;
  while (first < Math.min(got.length, expected.length) && got[first] === expected[first]) first++;
  expect.fail(`${what}: ${got.length} bytes where ${expected.length} were stored, first difference at byte ${first}`);
}
