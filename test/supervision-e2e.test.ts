import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ComponentMetrics } from '@ardea/core';
import { ardea, processesOf, repoRoot } from './support.js';

const TOPOLOGIES = path.join(repoRoot, 'test', 'topologies');
let home: string;
const started: string[] = [];

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-supervision-'));
});

afterEach(async () => {
  for (const name of started.splice(0)) await ardea(home, 'kill', 'local', name);
  for (const pid of processesOf(home)) process.kill(pid, 'SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

async function submit(topology: string, ...properties: string[]): Promise<void> {
  started.push(path.basename(topology));
  const result = await ardea(home, 'submit', 'local', topology, ...['topology.metricsIntervalMs=300', ...properties].flatMap((p) => ['--config-property', p]));
  expect(result.code, result.stderr).toBe(0);
}

/** `ardea metrics --json --instances`, parsed, per component. */
async function components(topology: string): Promise<Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }>> {
  const result = await ardea(home, 'metrics', 'local', topology, '--json', '--instances', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, ComponentMetrics & { instances?: Record<string, ComponentMetrics> }> }).components;
}

describe('per-stream metrics', () => {
  it('count what a component emits on each of its streams, which is what each reader of a stream gets', async () => {
    await submit(path.join(TOPOLOGIES, 'side-stream'));
    await vi.waitFor(async () => expect((await components('side-stream')).mirror?.executed).toBe(2000), { timeout: 60_000, interval: 500 });
    const m = await components('side-stream');
    expect(m.source!.emitted).toBe(14_000);
    expect(m.source!.emittedByStream).toEqual({ default: 13_000, side: 1000 });
    expect(m.main!.executed).toBe(13_000);
    expect(m.audit!.executed).toBe(1000);
    for (const instance of Object.values(m.mirror!.instances!)) expect(instance.executed).toBe(1000);
    const table = await ardea(home, 'metrics', 'local', 'side-stream');
    expect(table.stdout).toMatch(/^ {2}stream side +1000 /m);
  }, 120_000);
});
