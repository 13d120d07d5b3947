import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli-io.js';
import { createProgram } from '../program.js';
import { bashCompletion, completionSpec, zshCompletion } from './completion-command.js';

const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd: '/' };
const spec = completionSpec(createProgram(io));

describe('completion spec', () => {
  it('has every visible command with its options and what its arguments complete to', () => {
    const names = spec.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['submit', 'status', 'logs', 'exceptions', 'metrics', 'completion', 'version']));
    expect(names).not.toContain('__complete');
    const logs = spec.find((c) => c.name === 'logs')!;
    expect(logs.arguments.map((a) => a.type)).toEqual(['cluster', 'topology', 'none']);
    expect(logs.options.flatMap((o) => o.flags)).toEqual(expect.arrayContaining(['-f', '--follow', '--bytes', '--json', '--help']));
    expect(logs.options.find((o) => o.flags.includes('--bytes'))!.takesValue).toBe(true);
    // --watch takes an optional value: the word after it is not skipped as its value.
    expect(spec.find((c) => c.name === 'status')!.options.find((o) => o.flags.includes('--watch'))!.takesValue).toBe(false);
    expect(spec.find((c) => c.name === 'submit')!.arguments.map((a) => a.type)).toEqual(['cluster', 'file']);
    expect(spec.find((c) => c.name === 'completion')!.arguments).toEqual([{ type: 'choice', choices: ['bash', 'zsh'] }]);
  });
});

describe('the bash completion script, run by bash', () => {
  let home: string;
  beforeAll(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ardea-completion-'));
    for (const cluster of ['hpc', 'k8s']) mkdirSync(path.join(home, 'clusters', cluster), { recursive: true });
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  /** What bash offers for the command line `words`, the last being the word under the cursor. */
  function candidates(...words: string[]): string[] {
    const script =
      `${bashCompletion(spec)}\n` +
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}\n` +
      '_ardea_complete; printf "%s\\n" "${COMPREPLY[@]}"';
    const output = execFileSync('bash', ['--norc', '--noprofile', '-c', script], { env: { ARDEA_HOME: home, PATH: process.env['PATH'] } });
    return output.toString().split('\n').filter(Boolean).sort();
  }

  it('registers itself for ardea', () => {
    const output = execFileSync('bash', ['--norc', '-c', `${bashCompletion(spec)}\ncomplete -p ardea`]).toString();
    expect(output.trim()).toBe('complete -F _ardea_complete ardea');
  });

  it('completes commands', () => {
    expect(candidates('ardea', 'st')).toEqual(['status']);
    expect(candidates('ardea', 'ex')).toEqual(['exceptions']);
    expect(candidates('ardea', '')).toEqual(expect.arrayContaining(['submit', 'logs', 'completion', '--help', '--version']));
  });

  it("completes a command's options", () => {
    expect(candidates('ardea', 'logs', '--')).toEqual(['--bytes', '--config-property', '--follow', '--help', '--json', '--verbose']);
    expect(candidates('ardea', 'metrics', 'local', 'wc', '--w')).toEqual(['--watch', '--window']);
  });

  it('completes cluster names: local and those under $ARDEA_HOME/clusters', () => {
    expect(candidates('ardea', 'status', '')).toEqual(['hpc', 'k8s', 'local']);
    expect(candidates('ardea', 'logs', '--bytes', '100', 'h')).toEqual(['hpc']);
    expect(candidates('ardea', 'completion', '')).toEqual(['bash', 'zsh']);
  });

  it("offers nothing for an option's value or an argument without candidates", () => {
    expect(candidates('ardea', 'metrics', 'local', 'wc', '--window', '')).toEqual([]);
    expect(candidates('ardea', 'no-such-command', '')).toEqual([]);
  });

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n'], { input: bashCompletion(spec) })).not.toThrow();
  });
});

describe('the zsh completion script', () => {
  // zsh is not installed on the build machine: what is checked here is its content, not its behaviour.
  const script = zshCompletion(spec);
  it('is a #compdef function with the commands, their options and argument kinds', () => {
    expect(script.startsWith('#compdef ardea\n')).toBe(true);
    expect(script).toContain("'status:show a topology'\\''s containers");
    expect(script).toMatch(
      /^ {4}logs\) options=\(.*'--follow:keep printing.*\); valued=\(.*--bytes.*\); .*kinds=\(cluster topology none\) ;;$/m,
    );
    expect(script).toContain('__complete topologies');
  });
});
