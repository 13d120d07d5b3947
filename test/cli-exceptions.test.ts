/**
 * A bolt that throws on every tuple must not look healthy: `ardea metrics` shows its errors in the
 * ERRORS column, and `ardea exceptions` its last error with the stack trace naming the function that threw.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ardea, CLEANUP_TIMEOUT_MS, configProperties, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const THROWING_BOLT = path.join(repoRoot, 'test', 'topologies', 'throwing-bolt');
const NAME = 'throwing-bolt';
let home: string;

beforeAll(async () => {
  home = freshHome('ardea-cli-exceptions-');
  const submitted = await ardea(home, 'submit', 'local', THROWING_BOLT, ...configProperties('topology.metricsIntervalMs=500'));
  expect(submitted.code, submitted.stderr).toBe(0);
}, CLEANUP_TIMEOUT_MS);

afterAll(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

interface ExceptionsJson {
  timestamp: number;
  instances: {
    instance: string;
    component: string;
    containerId: number;
    taskId: number;
    count: number;
    last?: { message: string; stack?: string; at: number };
  }[];
}

const cellsOf = (table: string, component: string) =>
  table
    .split('\n')
    .find((line) => line.startsWith(`${component} `))!
    .trim()
    .split(/\s{2,}/);

describe('a bolt that throws on every tuple', { timeout: 300_000 }, () => {
  it('shows a non-zero ERRORS in ardea metrics, and 0 for the bolt beside it', async () => {
    let table = '';
    await vi.waitFor(
      async () => {
        const shown = await ardea(home, 'metrics', 'local', NAME);
        expect(shown.code, shown.stderr).toBe(0);
        table = shown.stdout;
        const errors = table
          .split('\n')[0]!
          .trim()
          .split(/\s{2,}/)
          .indexOf('ERRORS');
        expect(Number(cellsOf(table, 'thrower')[errors])).toBeGreaterThan(0);
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    const header = table
      .split('\n')[0]!
      .trim()
      .split(/\s{2,}/);
    const errors = header.indexOf('ERRORS');
    expect(header[errors + 1]).toBe('RESTARTS');
    expect(cellsOf(table, 'quiet')[errors]).toBe('0');
    expect(cellsOf(table, 'numbers')[errors]).toBe('0');
  });

  it('shows the last exception per instance with its stack trace, and the components without errors in one line', async () => {
    let shown = { code: 0, stdout: '', stderr: '' };
    await vi.waitFor(
      async () => {
        shown = await ardea(home, 'exceptions', 'local', NAME);
        expect(shown.code, shown.stderr).toBe(0);
        expect(shown.stdout).toContain('explodeOnPurpose');
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    const lines = shown.stdout.split('\n');
    const head = lines.findIndex((line) => line.startsWith('container_1_thrower_'));
    expect(lines[head]).toMatch(/^container_1_thrower_\d+ \(thrower, container 1\): \d+ errors?, last at \d{4}-\d\d-\d\dT/);
    expect(lines[head + 1]).toMatch(/^ {2}throwing-bolt refuses tuple \d+ on purpose$/);
    // The stack, indented under the message, starts at the function that threw.
    expect(lines[head + 2]).toMatch(/^ {6}at explodeOnPurpose \(/);
    expect(shown.stdout).toMatch(/^no errors: numbers \(1 instance\), quiet \(1 instance\)$/m);

    const json = JSON.parse((await ardea(home, 'exceptions', 'local', NAME, '--json')).stdout) as ExceptionsJson;
    const thrower = json.instances.find((i) => i.component === 'thrower')!;
    expect(thrower.count).toBeGreaterThan(0);
    expect(thrower.last?.stack).toContain('explodeOnPurpose');
    expect(json.instances.find((i) => i.component === 'quiet')).toMatchObject({ count: 0 });
  });

  it('--component keeps one component; an unknown one is an error naming the components', async () => {
    const quiet = await ardea(home, 'exceptions', 'local', NAME, '--component', 'quiet');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toBe(`no errors in ${NAME}: quiet (1 instance)\n`);
    const json = JSON.parse((await ardea(home, 'exceptions', 'local', NAME, '--component', 'thrower', '--json')).stdout) as ExceptionsJson;
    expect(json.instances.map((i) => i.component)).toEqual(['thrower']);
    const unknown = await ardea(home, 'exceptions', 'local', NAME, '--component', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`ardea: --component nope: ${NAME} has no such component; it has numbers, thrower, quiet\n`);
  });
});
