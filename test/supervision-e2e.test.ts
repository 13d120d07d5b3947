import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ComponentMetrics } from '@ardea/core';
import { ardea, CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const TOPOLOGIES = path.join(repoRoot, 'test', 'topologies');
let home: string;

beforeEach(() => {
  home = freshHome('ardea-supervision-');
});

afterEach(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function submit(topology: string, ...properties: string[]): Promise<void> {
  const result = await ardea(
    home,
    'submit',
    'local',
    topology,
    ...['topology.metricsIntervalMs=300', ...properties].flatMap((p) => ['--config-property', p]),
  );
  expect(result.code, result.stderr).toBe(0);
}

/** `ardea metrics --json --instances`, parsed, per component. */
async function components(topology: string): Promise<Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }>> {
  const result = await ardea(home, 'metrics', 'local', topology, '--json', '--instances', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }> })
    .components;
}

describe('per-stream metrics', () => {
  it('count what a component emits on each of its streams, which is what each reader of a stream gets', async () => {
    await submit(path.join(TOPOLOGIES, 'side-stream'));
    await vi.waitFor(async () => expect((await components('side-stream')).mirror?.executed).toBe(2000), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    const m = await components('side-stream');
    expect(m.source!.emitted).toBe(14_000);
    expect(m.source!.emittedByStream).toEqual({ default: 13_000, side: 1000 });
    expect(m.main!.executed).toBe(13_000);
    expect(m.audit!.executed).toBe(1000);
    for (const instance of Object.values(m.mirror!.instances!)) expect(instance.executed).toBe(1000);
    const table = await ardea(home, 'metrics', 'local', 'side-stream');
    expect(table.stdout).toMatch(/^ {2}stream side +1000 /m);
  }, 300_000);
});

describe('runtime config', () => {
  const probeEvents = (log: string) =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { event: 'open' | 'change'; limit: number; mode: string | null })
      : [];
  const stored = async () =>
    (
      JSON.parse((await ardea(home, 'describe', 'local', 'config-probe', '--json')).stdout) as {
        physicalPlan: { runtimeConfig: Record<string, Record<string, unknown>> };
      }
    ).physicalPlan.runtimeConfig;
  const update = (change: string) => ardea(home, 'update', 'local', 'config-probe', '--runtime-config', change);

  it('refuses keys and values a component does not take, stores what it took, and restarted instances start with it', async () => {
    const log = path.join(home, 'probe.log');
    await submit(path.join(TOPOLOGIES, 'config-probe'), `probe.log=${log}`);
    await vi.waitFor(() => expect(probeEvents(log)).toEqual([{ event: 'open', task: 1, limit: 10, mode: null }]), {
      timeout: E2E_WAIT_MS,
      interval: 200,
    });

    for (const [change, why] of [
      ['probe:limit=abc', `probe:limit="abc" refused by component 'probe': limit takes an integer ≥ 0`],
      ['probe:limt=3', `probe:limt=3 refused by component 'probe': it does not declare 'limt' settable at run time; settable: limit, mode`],
      ['plain:threshold=abc', `plain:threshold="abc" refused by component 'plain': threshold takes a number like its current value 5`],
      ['plain:treshold=1', `plain:treshold=1 refused by component 'plain': its config has no 'treshold'`],
    ]) {
      const refused = await update(change!);
      expect(refused.code, change).toBe(1);
      expect(refused.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(refused.stderr).toMatch(/^ardea: /);
      expect(refused.stderr).toContain(why);
    }
    expect(await stored()).toEqual({});
    // A dry run makes the same check.
    expect((await ardea(home, 'update', 'local', 'config-probe', '--runtime-config', 'probe:limit=abc', '--dry-run')).stderr).toContain(
      `refused by component 'probe'`,
    );
    expect(await ardea(home, 'update', 'local', 'config-probe', '--runtime-config', 'probe:limit=3', '--dry-run')).toMatchObject({
      code: 0,
      stdout: 'dry run: would set probe:limit=3\n',
    });

    expect(await update('probe:limit=7')).toMatchObject({ code: 0 });
    // onConfigChange throws: reported to the CLI, and the value is not kept.
    const rejected = await update('probe:mode=picky');
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(
      new RegExp(
        String.raw`^ardea: .*probe:mode="picky" rejected by onConfigChange of container_1_probe_1: .*picky mode is not supported by ` +
          String.raw`this probe; the previous values were restored\n$`,
      ),
    );
    expect(await stored()).toEqual({ probe: { limit: 7 } });
    expect(probeEvents(log).at(-1)).toEqual({ event: 'change', task: 1, limit: 7, mode: null });

    // A restarted container opens its instances with the last accepted values, not the submit-time ones.
    expect(await ardea(home, 'restart', 'local', 'config-probe', '1')).toMatchObject({ code: 0 });
    await vi.waitFor(() => expect(probeEvents(log).filter((e) => e.event === 'open')).toHaveLength(2), {
      timeout: E2E_WAIT_MS,
      interval: 200,
    });
    expect(
      probeEvents(log)
        .filter((e) => e.event === 'open')
        .at(-1),
    ).toEqual({ event: 'open', task: 1, limit: 7, mode: null });

    // So does a worker that crashed and was restarted by its stream manager.
    expect(await update('probe:limit=13')).toMatchObject({ code: 0 });
    await vi.waitFor(() => expect(probeEvents(log).filter((e) => e.event === 'open')).toHaveLength(3), {
      timeout: E2E_WAIT_MS,
      interval: 200,
    });
    expect(
      probeEvents(log)
        .filter((e) => e.event === 'open')
        .at(-1),
    ).toEqual({ event: 'open', task: 1, limit: 13, mode: null });
  }, 600_000);
});

/** JSON lines of a file, or none while it does not exist. */
function jsonLines<T>(file: string): T[] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as T)
    : [];
}

/** Log entries of every container of a topology on the local pool. */
function containerLogs(topology: string): Array<{ time: string; msg: string; [key: string]: unknown }> {
  const directory = path.join(home, 'topologies', 'local', topology, 'logs');
  // The pool writes its own plain-text lines between the container's JSON ones.
  return readdirSync(directory).flatMap((file) =>
    readFileSync(path.join(directory, file), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { time: string; msg: string }),
  );
}

describe('a hung worker', () => {
  it('is restarted by its stream manager, and shuffle traffic goes to the other instances meanwhile', async () => {
    const log = path.join(home, 'work.log');
    // No health manager: the stream manager alone must notice.
    await submit(path.join(TOPOLOGIES, 'hang-once'), `work.log=${log}`, 'topology.hungInstanceMs=2000', 'topology.healthManager=false');
    type Entry = { task: number; n?: number; emittedAt?: number; event?: 'hang' | 'prepared'; at?: number };
    await vi.waitFor(() => expect(jsonLines<Entry>(log).some((e) => e.event === 'prepared')).toBe(true), {
      timeout: 2 * E2E_WAIT_MS,
      interval: 500,
    });
    const hang = jsonLines<Entry>(log).find((e) => e.event === 'hang')!;
    const prepared = jsonLines<Entry>(log).find((e) => e.event === 'prepared')!;
    expect(prepared.task).toBe(hang.task);
    const detected = containerLogs('hang-once').find((e) => e.msg.includes('made no progress'));
    expect(detected?.msg).toMatch(
      /^instance container_\d_work_\d+ made no progress for \d+ ms \(hungInstanceMs 2000\); terminating and restarting it$/,
    );
    const detectedAt = Date.parse(detected!.time);
    expect(detectedAt - hang.at!).toBeGreaterThanOrEqual(2000);

    // Flow resumes to the restarted instance.
    await vi.waitFor(() => expect(jsonLines<Entry>(log).some((e) => e.task === hang.task && e.emittedAt! > prepared.at!)).toBe(true), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    const tuples = jsonLines<Entry>(log).filter((e) => e.n !== undefined);
    // While it hung and restarted, the others kept executing; from shortly after it was found hung
    // (the spout hears of it by message) until its new worker was ready, shuffle sent it nothing.
    expect(tuples.filter((e) => e.task !== hang.task && e.emittedAt! > hang.at! && e.emittedAt! < prepared.at!).length).toBeGreaterThan(0);
    const routedAround = tuples.filter((e) => e.emittedAt! > detectedAt + 200 && e.emittedAt! < prepared.at!);
    expect(routedAround.length).toBeGreaterThan(0);
    expect(routedAround.filter((e) => e.task === hang.task)).toEqual([]);

    const work = (await components('hang-once')).work!;
    expect(work).toMatchObject({ restarts: 1, hungRestarts: 1 });
  }, 600_000);
});

describe('a container over its RAM', () => {
  it('restarts the worker holding the memory, comes back under its RAM, and says why in metrics and health', async () => {
    const log = path.join(home, 'hog.log');
    const MiB = 1024 * 1024;
    // 192 MiB spout + 256 MiB hog + 256 MiB padding: a 704 MiB container.
    await submit(
      path.join(TOPOLOGIES, 'memory-hog'),
      `hog.log=${log}`,
      'packing.padding.ram=256MiB',
      'packing.padding.percent=0',
      'healthmgr.policies.auto-restart.intervalMs=2000',
      'healthmgr.policies.auto-restart.windowMs=4000',
    );
    type Entry = { event: 'prepared' | 'hogging'; task: number; at: number };
    await vi.waitFor(async () => expect((await components('memory-hog')).hog?.memoryRestarts).toBe(1), {
      timeout: 2 * E2E_WAIT_MS,
      interval: 500,
    });
    expect(jsonLines<Entry>(log).some((e) => e.event === 'hogging')).toBe(true);
    const exceeded = containerLogs('memory-hog').find((e) => e.msg.includes('exceeds its RAM'));
    expect(exceeded?.msg).toMatch(
      new RegExp(
        String.raw`^container RSS \d+ MiB exceeds its RAM of 704 MiB; instance container_1_hog_\d+ holds \d+ MiB of its 256 MiB; ` +
          String.raw`terminating and restarting it$`,
      ),
    );

    // The restarted worker runs again and the container is back under its RAM.
    await vi.waitFor(() => expect(jsonLines<Entry>(log).filter((e) => e.event === 'prepared')).toHaveLength(2), {
      timeout: E2E_WAIT_MS,
      interval: 500,
    });
    await vi.waitFor(
      async () => {
        const view = JSON.parse((await ardea(home, 'metrics', 'local', 'memory-hog', '--json', '--window', '2000')).stdout) as {
          streamManagers: Record<string, { rssBytes: number; ramLimitBytes: number }>;
        };
        expect(view.streamManagers['stmgr-1']!.ramLimitBytes).toBe(704 * MiB);
        expect(view.streamManagers['stmgr-1']!.rssBytes).toBeLessThan(704 * MiB);
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    const hog = (await components('memory-hog')).hog!;
    expect(hog).toMatchObject({ restarts: 1, memoryRestarts: 1, hungRestarts: 0 });
    expect((await ardea(home, 'metrics', 'local', 'memory-hog')).stdout).toMatch(/^hog .* 1 \(1 memory\)$/m);
    await vi.waitFor(
      async () =>
        expect((await ardea(home, 'health', 'local', 'memory-hog')).stdout).toMatch(
          /diagnosis: over-memory on hog \(container_1_hog_\d+\)/,
        ),
      { timeout: E2E_WAIT_MS, interval: 1000 },
    );
  }, 600_000);
});
