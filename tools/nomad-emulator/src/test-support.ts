/**
 * What the emulator's tests share: emulators started per test and closed after it, raw calls to its
 * API, and jobs of sleeping tasks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startNomadEmulator, type NomadEmulator, type NomadEmulatorOptions } from './index.js';

const running: NomadEmulator[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export async function start(options: Partial<NomadEmulatorOptions> = {}): Promise<NomadEmulator> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nomad-emu-'));
  dirs.push(dataDir);
  const emulator = await startNomadEmulator({ dataDir, ...options });
  running.push(emulator);
  return emulator;
}

// Responses are Nomad's loosely typed JSON; the assertions themselves check the shapes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = Record<string, any>;

export async function call(e: NomadEmulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(e.address + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

export const SEC = 1_000_000_000;

export function sleepTask(name = 'main', extra: Any = {}): Any {
  return { Name: name, Driver: 'raw_exec', Config: { command: '/bin/sleep', args: ['300'] }, KillTimeout: 2 * SEC, ...extra };
}

export function job(id: string, groups: Any[] = [{ Name: 'g', Count: 1, Tasks: [sleepTask()] }], extra: Any = {}): Any {
  return { ID: id, Datacenters: ['dc1'], TaskGroups: groups, ...extra };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function allocs(e: NomadEmulator, id: string, query = ''): Promise<Any[]> {
  return (await call(e, 'GET', `/v1/job/${id}/allocations${query}`)).json as Any[];
}

export async function runningAllocs(e: NomadEmulator, id: string, n: number): Promise<Any[]> {
  return until(`${n} running allocs of ${id}`, async () => {
    const list = (await allocs(e, id)).filter((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'running');
    return list.length === n ? list.sort((a, b) => a.Name.localeCompare(b.Name)) : undefined;
  });
}

/** The data directory of the emulator the test started last. */
export function lastDataDir(): string {
  return dirs[dirs.length - 1]!;
}
