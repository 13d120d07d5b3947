import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../errors/index.js';
import { HttpUploader } from '../../uploader/http-uploader.js';
import type { CliIo } from '../cli-io.js';
import { runCli } from '../program.js';
import { packageServerCommand } from './package-server-command.js';

let base: string;
let stdout: string;
let stderr: string;
let io: CliIo;

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'ardea-package-server-cli-'));
  stdout = '';
  stderr = '';
  io = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: { ARDEA_HOME: path.join(base, 'home') },
    cwd: base,
  };
});
afterEach(() => rm(base, { recursive: true, force: true }));

/** Runs the command until `stop` is called; resolves to its URL once it listens. */
async function start() {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const running = packageServerCommand(io, { host: '127.0.0.1', port: '0', dir: 'packages', tokenFile: 'token' }, stopped);
  await vi.waitFor(() => expect(stdout).toMatch(/^package server listening on http:\/\/127\.0\.0\.1:\d+ /), {
    timeout: 10_000,
    interval: 20,
  });
  const url = /listening on (\S+) /.exec(stdout)![1]!;
  return { url, stop: async () => (stop(), await running) };
}

describe('ardea package-server', () => {
  it('creates a private token file, serves the http uploader with it, and stops on a signal', async () => {
    const { url, stop } = await start();
    expect(stdout).toBe(`package server listening on ${url} (packages in ${path.join(base, 'packages')})\n`);
    const tokenFile = path.join(base, 'token');
    expect(((await stat(tokenFile)).mode & 0o777).toString(8)).toBe('600');
    expect((await readFile(tokenFile, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
    const packagePath = path.join(base, 'topology.mjs');
    await writeFile(packagePath, 'export default 1;\n');
    const uri = await new HttpUploader({ url, tokenFile, timeoutMs: 10_000 }).upload({ topologyName: 't', topologyId: 't-1', packagePath });
    expect(await (await fetch(uri)).text()).toBe('export default 1;\n');
    await stop();
    const logged = stderr
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(logged).toEqual(
      expect.arrayContaining([
        'created a token file with a new random token; give it to the uploader as uploader.tokenFile',
        'package stored',
        'package served',
        'package server stopped',
      ]),
    );
    await expect(fetch(uri)).rejects.toThrow();
  });

  it('keeps an existing token, and refuses one others may read', async () => {
    await writeFile(path.join(base, 'token'), 'an-existing-token-of-the-user\n', { mode: 0o600 });
    const { stop } = await start();
    expect(stderr).not.toContain('created a token file');
    await stop();
    await chmod(path.join(base, 'token'), 0o640);
    await expect(
      packageServerCommand(io, { host: '127.0.0.1', port: '0', dir: 'packages', tokenFile: 'token' }, Promise.resolve()),
    ).rejects.toThrow(
      `--token-file ${path.join(base, 'token')}: group or others may access ` +
        `the token file (mode 640); run: chmod 600 ${path.join(base, 'token')}`,
    );
  });

  it('checks its options before starting', async () => {
    const defaults = { host: '127.0.0.1', port: '0', dir: 'packages', tokenFile: 'token' };
    for (const [options, message] of [
      [{ ...defaults, port: 'http' }, "--port must be a port number (0 picks a free one), not 'http'"],
      [{ ...defaults, port: '70000' }, "--port must be a port number (0 picks a free one), not '70000'"],
      [{ ...defaults, maxPackageSize: 'huge' }, "--max-package-size must be a byte amount such as 512MiB, not 'huge'"],
      [{ ...defaults, maxCheckpointPartSize: '0' }, "--max-checkpoint-part-size must be a byte amount such as 2GiB, not '0'"],
    ] as const) {
      const failure = packageServerCommand(io, options, Promise.resolve());
      await expect(failure).rejects.toBeInstanceOf(ConfigError);
      await expect(failure).rejects.toThrow(message);
    }
  });

  it('warns before it listens beyond loopback', async () => {
    // A documentation address (TEST-NET-1) that no interface has: the warning comes, the listen fails,
    // and the test opens no port beyond loopback.
    const failure = packageServerCommand(io, { host: '192.0.2.1', port: '0', dir: 'packages', tokenFile: 'token' }, Promise.resolve());
    await expect(failure).rejects.toThrow(/EADDRNOTAVAIL/);
    expect(stderr).toContain('listening beyond loopback: packages and the token cross the network unencrypted');
  });

  it('is in the CLI, with --dir and --token-file required', async () => {
    expect(await runCli(['--help'], io)).toBe(0);
    expect(stdout).toMatch(/^ {2}package-server /m);
    expect(await runCli(['package-server', '--dir', 'packages'], io)).toBe(2);
    expect(stderr).toContain("required option '--token-file <file>' not specified");
  });
});
