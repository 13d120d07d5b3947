import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseArguments } from './cli.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('CLI', () => {
  it('parses flags into options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nomad-cli-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'token'), 'tok\n');
    expect(
      parseArguments([
        '--data-dir',
        dir,
        '--port=4646',
        '--token-file',
        join(dir, 'token'),
        '--datacenter',
        'east',
        '--namespace',
        'a',
        '--namespace',
        'b',
        '--node-cpu-mhz',
        '8000',
        '--node-memory-mb',
        '4096',
      ]),
    ).toEqual({
      dataDir: dir,
      port: 4646,
      aclToken: 'tok',
      datacenters: ['east'],
      namespaces: ['a', 'b'],
      node: { cpuMhz: 8000, memoryMb: 4096 },
    });
    expect(() => parseArguments([])).toThrow('--data-dir is required');
    expect(() => parseArguments(['--data-dir', dir, '--port', 'x'])).toThrow('--port needs a whole number');
    expect(() => parseArguments(['--bogus'])).toThrow('unknown flag --bogus');
  });

  it('prints its address and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nomad-cli-'));
    dirs.push(dir);
    const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ardea-nomad-emulator.mjs');
    const child = spawn(process.execPath, [bin, '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((done, fail) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) done(out.trim());
        });
        child.once('exit', (code) => fail(new Error(`exited ${code}`)));
      });
      const match = /^nomad emulator listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      expect(match).not.toBeNull();
      const res = await fetch(`${match![1]}/v1/status/leader`);
      expect(res.status).toBe(200);
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
