import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'node_modules', '.bin', 'ardea');
let home: string;

beforeAll(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-bin-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function ardea(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(bin, args, { env: { ...process.env, ARDEA_HOME: home }, cwd: home });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe('the installed ardea binary', { timeout: 120_000 }, () => {
  it('prints help and the version', async () => {
    const help = await ardea('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ardea \[options\] \[command\]/);
    expect((await ardea('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('prints the local cluster config, loading the local scheduler plugin by its short name', async () => {
    const { code, stdout } = await ardea('config', 'local', '--json');
    expect(code).toBe(0);
    const view = JSON.parse(stdout) as { cluster: string; home: string; concerns: { scheduler: { plugin: string; stopGraceMs: number } } };
    expect(view.cluster).toBe('local');
    expect(view.home).toBe(home);
    expect(view.concerns.scheduler).toMatchObject({ plugin: 'local', stopGraceMs: 5000 });
  });

  it('exits non-zero with one clear line for a malformed cluster file and for an unknown plugin', async () => {
    const cluster = path.join(home, 'clusters', 'bad');
    mkdirSync(cluster, { recursive: true });
    writeFileSync(path.join(cluster, 'scheduler.yaml'), 'plugin: kubernetees\n');
    const unknown = await ardea('config', 'bad');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      `ardea: ${path.join(cluster, 'scheduler.yaml')}: scheduler.plugin: ` +
        `scheduler plugin 'kubernetees' cannot be loaded: it is not installed; run: npm install kubernetees ` +
        `(short names for scheduler plugins: local, slurm, kubernetes, nomad, yarn)`,
    ]);
    writeFileSync(path.join(cluster, 'scheduler.yaml'), 'plugin: local\nstopGraceMs: soon\n');
    const malformed = await ardea('config', 'bad');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(
      new RegExp(
        `^ardea: ${path.join(cluster, 'scheduler.yaml')}: scheduler\\.stopGraceMs: ` +
          `Invalid input: expected number, received string \\(got "soon"\\)\\n$`,
      ),
    );
  });
});
