/**
 * Backpressure on a starved machine: while the stream manager's thread gets no CPU, its spouts'
 * threads keep emitting, and everything they emitted meanwhile reaches the stream manager at once
 * when it runs again. The slow bolt's queue must still stay within the high watermark plus one frame.
 * The engine runs in this process (see in-process-engine.ts), so the test starves the stream
 * manager by blocking its own thread — on any machine, however busy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_BATCH_BYTES, type TopologyMaster } from '@ardea/core';
import { startInProcessEngine, type InProcessEngine } from './in-process-engine.js';
import { E2E_WAIT_MS, repoRoot } from './support.js';

const HIGH = 256 * 1024;
const LOW = 128 * 1024;
/** 2,000 tuples of 2 KB per second: 4 MB/s, which the sink keeps up with while the stream manager runs. */
const RATE = 2000;
const PAYLOAD_BYTES = 2000;
/** A tuple (a number and the payload) and a frame's header take less. */
const TUPLE_AND_HEADER_BYTES = PAYLOAD_BYTES + 1024;
const STARVED_MS = 1500;

let scratch: string;
let engine: InProcessEngine | undefined;
let master: TopologyMaster;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-starved-'));
  engine = await startInProcessEngine(
    path.join(repoRoot, 'test', 'topologies', 'slow-sink'),
    scratch,
    (built) => ({
      ...built,
      id: 'slow-sink-starved-test',
      config: { ...built.config, metricsIntervalMs: 200 },
      components: built.components.map((c) => ({
        ...c,
        config: { ...c.config, ...(c.name === 'sink' ? { costMicros: 0 } : { rate: RATE, payloadBytes: PAYLOAD_BYTES }) },
      })),
    }),
    { backpressure: { highWatermarkBytes: HIGH, lowWatermarkBytes: LOW } },
  );
  master = engine.master;
}, 300_000);

afterAll(async () => {
  await engine?.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

const components = () => master.metrics.view({ windowMs: 1000, instances: false }).components;

/** Keeps this thread — and so the stream managers — busy, as a starved machine would. */
function starve(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('backpressure while the stream manager is starved', () => {
  it('keeps the slow bolt within the high watermark plus one frame, however much the spout emitted meanwhile', async () => {
    await vi.waitFor(() => expect(components().sink?.executed).toBeGreaterThan(RATE), { timeout: E2E_WAIT_MS, interval: 100 });
    for (let round = 0; round < 3; round++) {
      // Starve right after a report, so the emit count it carries is as fresh as it gets.
      const reported = components().numbers!.emitted;
      await vi.waitFor(() => expect(components().numbers!.emitted).not.toBe(reported), { timeout: E2E_WAIT_MS, interval: 5 });
      const before = components().numbers!.emitted;
      starve(STARVED_MS);
      // Once the stream manager has caught up with what arrived meanwhile.
      await vi.waitFor(() => expect(components().numbers!.emitted).toBeGreaterThan(before), { timeout: E2E_WAIT_MS, interval: 50 });
      const emittedWhileStarved = components().numbers!.emitted - before;
      // Otherwise the round shows nothing: the spout must have emitted far more than the queue may hold.
      expect(
        emittedWhileStarved * PAYLOAD_BYTES,
        `the spout emitted ${emittedWhileStarved} tuples while the stream manager was starved`,
      ).toBeGreaterThan(4 * (HIGH + MAX_BATCH_BYTES));
      await vi.waitFor(() => expect(components().sink!.executed).toBeGreaterThanOrEqual(before + emittedWhileStarved), {
        timeout: E2E_WAIT_MS,
        interval: 200,
      });
    }
    const sink = components().sink!;
    expect(sink.maxPendingBytes).toBeGreaterThan(HIGH);
    expect(sink.maxPendingBytes).toBeLessThanOrEqual(HIGH + MAX_BATCH_BYTES + TUPLE_AND_HEADER_BYTES);
    expect(master.metrics.view({ windowMs: 1000, instances: false }).droppedTuples).toBe(0);
  }, 600_000);
});
