/**
 * The CLI as a script sees it, no topology needed: bad values are usage errors (exit 2) naming the
 * option and the expected form, checked before anything is touched; `version` and `completion` print.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ardea, freshHome, removeHome } from './support.js';

let home: string;
beforeAll(() => {
  home = freshHome('ardea-cli-usage-');
});
afterAll(async () => {
  await removeHome(home);
});

describe('ardea usage errors and informational commands', { timeout: 120_000 }, () => {
  it.each([
    [
      ['metrics', 'local', 'wc', '--window', 'abc'],
      "option '--window <ms>' argument 'abc' is invalid. expected a whole number of milliseconds",
    ],
    [['metrics', 'local', 'wc', '--window', '-5'], "option '--window <ms>' argument '-5' is invalid"],
    [['status', 'local', 'wc', '--watch', 'x'], "option '--watch [seconds]' argument 'x' is invalid. expected a number of seconds above 0"],
    [['health', 'local', 'wc', '--watch', '0'], "option '--watch [seconds]' argument '0' is invalid"],
    [
      ['submit', 'local', '.', '--timeout', '0'],
      "option '--timeout <seconds>' argument '0' is invalid. expected a number of seconds above 0",
    ],
    [['update', 'local', 'wc', '--container-number', '0'], "option '--container-number <n>' argument '0' is invalid"],
    [['logs', 'local', 'wc', 'abc'], "value 'abc' is invalid for argument 'container'. expected a container id (0, 1, 2, ...)"],
    [['restart', 'local', 'wc', '-1'], "value '-1' is invalid for argument 'container'"],
    [['logs', 'local', 'wc', '--bytes', '1k'], "option '--bytes <n>' argument '1k' is invalid. expected a whole number of bytes"],
    [['completion', 'fish'], "value 'fish' is invalid for argument 'shell'. Allowed choices are bash, zsh"],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('ardea %o exits 2 naming what is wrong', async (args, message) => {
    const result = await ardea(home, ...args);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('version prints the CLI and Node versions, as JSON too; --version still prints the bare version', async () => {
    const text = await ardea(home, 'version');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(`ardea CLI ${(await ardea(home, '--version')).stdout.trim()}, Node ${process.version}\n`);
    const json = JSON.parse((await ardea(home, 'version', '--json')).stdout) as { cli: { ardea: string; node: string } };
    expect(json).toEqual({ cli: { ardea: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version } });
    const unknown = await ardea(home, 'version', 'local', 'no-such-topology');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("ardea: no topology 'no-such-topology' on cluster local\n");
  });

  it('status, logs and exceptions of an unknown topology fail in one line', async () => {
    for (const command of ['status', 'logs', 'exceptions']) {
      const result = await ardea(home, command, 'local', 'no-such-topology');
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/^ardea: no topology 'no-such-topology' on cluster local/),
      ]);
    }
  });

  it('completion prints a bash and a zsh script', async () => {
    const bash = await ardea(home, 'completion', 'bash');
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -F _ardea_complete ardea');
    const zsh = await ardea(home, 'completion', 'zsh');
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef ardea\n/);
  });
});
