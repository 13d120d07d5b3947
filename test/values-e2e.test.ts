import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_TUPLE_BYTES, type TopologyMaster } from '@ardea/core';
import { startInProcessEngine, type InProcessEngine } from './in-process-engine.js';
import { E2E_WAIT_MS, repoRoot } from './support.js';

/** Every case the topology sends (test/topologies/value-types/cases.mjs), and the tuple just under the size limit. */
const SENT = [
  'null',
  'undefined',
  'booleans',
  'negative zero',
  'numbers',
  'NaN',
  'infinities',
  'short ascii',
  'long ascii',
  'unicode',
  'lone surrogates',
  'bigints',
  'Buffer',
  'Buffer view',
  'Uint8Array',
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
  'ArrayBuffer',
  'Date',
  'Map',
  'Set',
  'nested object',
  'null-prototype object',
  'own __proto__ property',
  'arrays',
  'everything nested',
  'near limit',
];

let scratch: string;
let outDir: string;
let engine: InProcessEngine | undefined;
let master: TopologyMaster;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-values-'));
  outDir = path.join(scratch, 'out');
  mkdirSync(outDir);
  // 2 bytes of stream index, the name field (2 + 10 bytes) and 5 bytes of Buffer header besides the bytes.
  const nearLimitBytes = MAX_TUPLE_BYTES - 2 - (2 + 'near limit'.length) - 5;
  engine = await startInProcessEngine(path.join(repoRoot, 'test', 'topologies', 'value-types'), scratch, (built) => ({
    ...built,
    id: 'value-types-test',
    config: { ...built.config, metricsIntervalMs: 200, outDir, nearLimitBytes },
  }));
  master = engine.master;
}, 300_000);

afterAll(async () => {
  await engine?.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

describe('tuple values across containers', () => {
  it('arrive exactly as sent in process and over TCP; unsendable and oversized tuples are refused at emit', async () => {
    await vi.waitFor(() => expect(master.physicalPlan?.instances).toHaveLength(3), { timeout: E2E_WAIT_MS });
    const instances = master.physicalPlan!.instances;
    const spoutContainer = instances.find((i) => i.component === 'source')!.containerId;
    const sinks = instances.filter((i) => i.component === 'sink');
    // One sink shares the spout's container (frames handed over in process), the other is reached over TCP.
    expect(sinks.map((s) => s.containerId === spoutContainer).sort()).toEqual([false, true]);

    const verdictsOf = (taskId: number) => path.join(outDir, `sink-${taskId}.json`);
    await vi.waitFor(() => expect(sinks.every((s) => existsSync(verdictsOf(s.taskId)))).toBe(true), {
      timeout: E2E_WAIT_MS,
      interval: 200,
    });
    for (const sink of sinks) {
      const verdicts = JSON.parse(readFileSync(verdictsOf(sink.taskId), 'utf8')) as [string, string][];
      expect(verdicts).toEqual(SENT.map((name) => [name, 'same']));
    }

    const { refusals } = JSON.parse(readFileSync(path.join(outDir, 'source.json'), 'utf8')) as {
      refusals: { name: string; code: string; message: string }[];
    };
    expect(refusals).toEqual([
      {
        name: 'TupleValueError',
        code: 'tuple.too-large',
        message: expect.stringContaining(
          `'source' emitted a tuple on stream 'default' whose encoding takes ${MAX_TUPLE_BYTES + 1} bytes; ` +
            `a tuple may take at most ${MAX_TUPLE_BYTES} bytes`,
        ),
      },
      {
        name: 'TupleValueError',
        code: 'tuple.unsendable',
        message: expect.stringContaining(
          "'source' emitted on stream 'default', field 'value' at .items[1].fn: a function (fn) cannot be sent",
        ),
      },
    ]);

    // Refused emits are not counted as emitted; the one the spout left uncaught is counted as an error.
    await vi.waitFor(
      () => {
        const view = master.metrics.view({ windowMs: 1000, instances: false });
        expect(view.components.source).toMatchObject({ emitted: SENT.length + 1, errors: 1 });
        expect(view.components.sink).toMatchObject({ executed: 2 * (SENT.length + 1), errors: 0, restarts: 0 });
      },
      { timeout: E2E_WAIT_MS, interval: 200 },
    );
  }, 400_000);
});
