import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliIo } from './cli-io.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runCli } from './program.js';

let home: string;

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-cli-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: { ARDEA_HOME: home },
    cwd: home,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const COMMANDS = [
  'submit',
  'kill',
  'activate',
  'deactivate',
  'restart',
  'update',
  'list',
  'describe',
  'metrics',
  'health',
  'tracker',
  'config',
];

describe('ardea CLI', () => {
  it('lists every command in --help', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(EXIT_OK);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it.each(COMMANDS)('has help for %s', async (command) => {
    const { code, stdout } = await run(command, '--help');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(new RegExp(`^Usage: ardea ${command} `));
    expect(stdout).toContain('--config-property <key=value>');
  });

  it('prints the merged config of the built-in local cluster', async () => {
    const { code, stdout, stderr } = await run('config', 'local');
    expect(stderr).toBe('');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toContain('# cluster local: built in');
    expect(stdout).toMatch(/^scheduler:\n {2}plugin: local\n/m);
    expect(stdout).toMatch(/^statemgr:\n {2}plugin: localfs\n/m);
    expect(stdout).toMatch(/^packing:\n {2}algorithm: round-robin/m);
  });

  it('prints JSON with --json and applies --config-property', async () => {
    const { code, stdout } = await run('config', 'local', '--json', '--config-property', 'packing.algorithm=first-fit-decreasing');
    expect(code).toBe(EXIT_OK);
    const view = JSON.parse(stdout) as { concerns: { packing: { algorithm: string } } };
    expect(view.concerns.packing.algorithm).toBe('first-fit-decreasing');
  });

  it('fails with one line naming file and key for a malformed cluster YAML', async () => {
    const directory = path.join(home, 'clusters', 'broken');
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, 'packing.yaml'), 'algorithm: [round-robin\n');
    const { code, stderr } = await run('config', 'broken');
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^ardea: ${path.join(directory, 'packing.yaml')}: line \\d+, column \\d+: invalid YAML`));
  });

  it('fails with one line naming the plugin for an unknown plugin name', async () => {
    const directory = path.join(home, 'clusters', 'mystery');
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, 'statemgr.yaml'), 'plugin: etcd\n');
    const { code, stderr } = await run('config', 'mystery');
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toContain(
      `ardea: ${path.join(directory, 'statemgr.yaml')}: statemgr.plugin: statemgr plugin 'etcd' cannot be loaded: it is not installed`,
    );
  });

  it('exits 2 on usage errors', async () => {
    expect((await run('config')).code).toBe(EXIT_USAGE);
    expect((await run('frobnicate')).code).toBe(EXIT_USAGE);
  });

  it('checks update arguments before touching anything', async () => {
    expect((await run('update', 'local', 'word-count', '--component-parallelism', 'count')).stderr).toMatch(
      /--component-parallelism 'count': expected <component>:<n>/,
    );
    expect((await run('update', 'local', 'word-count')).stderr).toMatch(
      /give --component-parallelism and\/or --container-number, or --runtime-config/,
    );
    expect((await run('update', 'local', 'word-count', '--runtime-config', 'rate=3')).stderr).toMatch(
      /--runtime-config 'rate=3': expected <component>:<key>=<value>/,
    );
  });

  it('lists an empty cluster and reports an unknown topology', async () => {
    const list = await run('list', 'local');
    expect(list).toMatchObject({ code: EXIT_OK, stdout: 'no topologies on cluster local\n' });
    const describe = await run('describe', 'local', 'word-count');
    expect(describe.code).toBe(EXIT_FAILURE);
    expect(describe.stderr).toBe("ardea: no topology 'word-count' on cluster local; 'ardea list local' shows the running ones\n");
  });

  it('says plainly which commands are not in this build', async () => {
    const { code, stderr } = await run('tracker', 'local');
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr).toBe("ardea: 'ardea tracker' needs the tracker service, which is not part of this build yet\n");
  });
});
