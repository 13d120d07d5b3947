import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isAlive } from './services.js';

describe('isAlive', () => {
  it('is true for a running process and false once it exited', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    expect(isAlive(child.pid!)).toBe(true);
    expect(isAlive(process.pid)).toBe(true);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(isAlive(child.pid!)).toBe(false);
  });

  it('is false for a zombie: a process that exited and whose parent never reaps it', async () => {
    // The shell starts `true` in the background, prints its pid and becomes `sleep`, which never waits for it.
    const parent = spawn('sh', ['-c', 'true & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()))));
      await expect.poll(() => isAlive(pid), { timeout: 5000 }).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('is false for a pid nobody has', () => {
    expect(isAlive(2 ** 22 + 17)).toBe(false);
  });
});
