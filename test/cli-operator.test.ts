/**
 * The operator's commands against one running word count on the local pool: status, logs (and
 * following them across a restart), version, --json everywhere, --watch, and topology names for
 * shell completion. One topology serves the file's tests, which run in order.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ardea, ardeaBin, CLEANUP_TIMEOUT_MS, configProperties, E2E_WAIT_MS, freshHome, removeHome, repoRoot } from './support.js';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const NAME = 'word-count';
let home: string;

beforeAll(async () => {
  home = freshHome('ardea-cli-operator-');
  const submitted = await ardea(
    home,
    'submit',
    'local',
    WORD_COUNT,
    '--json',
    '--timeout',
    '180',
    ...configProperties('topology.metricsIntervalMs=500', 'sentence.rate=200', 'topology.healthManager=false'),
  );
  expect(submitted.code, submitted.stderr).toBe(0);
  // Progress stays on stderr; stdout is the one JSON object.
  expect(submitted.stderr).toContain('physical plan live');
  expect(JSON.parse(submitted.stdout)).toEqual({
    topology: NAME,
    id: expect.stringMatching(/^word-count-[0-9a-f]+$/),
    cluster: 'local',
    containers: 3,
    dryRun: false,
  });
}, CLEANUP_TIMEOUT_MS);

afterAll(async () => {
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

interface StatusJson {
  topology: string;
  cluster: string;
  state: string;
  containers: { containerId: number; state: string; handle?: string; restarts: number; host?: string }[];
}

/** A running `ardea` command whose output can be waited for, and which can be interrupted as Ctrl-C would. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, [ardeaBin, ...args], {
    env: { ...process.env, ARDEA_HOME: home },
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  const safety = setTimeout(() => child.kill('SIGKILL'), 3 * E2E_WAIT_MS);
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(safety);
      for (const watcher of watchers) watcher();
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    result,
    /** Resolves once stdout satisfies `enough` (or the command ended). */
    stdoutSatisfies: (enough: (stdout: string) => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!enough(stdout) && child.exitCode === null && child.signalCode === null) return;
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
      }),
    interrupt: () => child.kill('SIGINT'),
  };
}

/** Runs `ardea args` until its stdout satisfies `enough`, then interrupts it. */
async function runUntil(
  args: string[],
  enough: (stdout: string) => boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args);
  await cli.stdoutSatisfies(enough);
  cli.interrupt();
  return cli.result;
}

describe('operator commands on a running word count', { timeout: 300_000 }, () => {
  it('status shows every container running with its pid, and the run state; --json parses', async () => {
    const text = await ardea(home, 'status', 'local', NAME);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^topology word-count on local: RUNNING, 3\/3 containers running\n/);
    const rows = text.stdout.split('\n').slice(2).filter(Boolean);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 2))).toEqual([
      ['0', 'running'],
      ['1', 'running'],
      ['2', 'running'],
    ]);
    const json = await ardea(home, 'status', 'local', NAME, '--json');
    const view = JSON.parse(json.stdout) as StatusJson;
    expect(view).toMatchObject({ topology: NAME, cluster: 'local', state: 'RUNNING' });
    expect(view.containers.map((c) => c.containerId)).toEqual([0, 1, 2]);
    for (const container of view.containers) {
      expect(container.state).toBe('running');
      // The local pool's handle is the container's pid: a process that runs.
      expect(container.handle).toMatch(/^\d+$/);
      expect(() => process.kill(Number(container.handle), 0)).not.toThrow();
      expect(text.stdout).toMatch(new RegExp(`^${container.containerId}\\s+running\\s+${container.handle}\\s+0\\s`, 'm'));
    }
  });

  it('list --json gives the topology with its state', async () => {
    const listed = await ardea(home, 'list', 'local', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ cluster: 'local', topologies: [{ name: NAME, state: 'RUNNING' }] });
  });

  it('metrics shows an ERRORS column, 0 for a word count', async () => {
    const shown = await ardea(home, 'metrics', 'local', NAME, '--window', '2000');
    expect(shown.code, shown.stderr).toBe(0);
    const [header, ...rows] = shown.stdout.split('\n');
    const columns = header!.trim().split(/\s{2,}/);
    const errors = columns.indexOf('ERRORS');
    expect(errors).toBeGreaterThan(0);
    for (const component of ['count', 'sentence', 'split']) {
      const row = rows
        .find((r) => r.startsWith(`${component} `))!
        .trim()
        .split(/\s{2,}/);
      expect(row[errors]).toBe('0');
    }
  });

  it('version names the CLI, Node, the plugins of the cluster and what container 0 runs', async () => {
    const text = await ardea(home, 'version', 'local', NAME);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`ardea CLI `);
    expect(text.stdout).toMatch(/^ {2}scheduler\s+local\s+@ardea\/plugin-local\s+\d+\.\d+\.\d+$/m);
    expect(text.stdout).toMatch(/^topology word-count, container 0: Ardea \d+\.\d+\.\d+, Node v\d+/m);
    const json = JSON.parse((await ardea(home, 'version', 'local', NAME, '--json')).stdout) as {
      cli: { ardea: string; node: string };
      cluster: { plugins: { kind: string; package: string; version?: string }[] };
      topology: { name: string; ardeaVersion: string; nodeVersion: string; host: string; startedAt: number };
    };
    expect(json.cli.node).toBe(process.version);
    expect(json.cluster.plugins.find((p) => p.kind === 'scheduler')).toMatchObject({ package: '@ardea/plugin-local' });
    expect(json.topology).toMatchObject({ name: NAME, ardeaVersion: json.cli.ardea, nodeVersion: process.version });
    expect(json.topology.startedAt).toBeLessThanOrEqual(Date.now());
  });

  it('update --dry-run --json gives the plan diff; activate and deactivate --json their state', async () => {
    const update = await ardea(
      home,
      'update',
      'local',
      NAME,
      '--component-parallelism',
      'count:3',
      '--dry-run',
      '--json',
      '--timeout',
      '90',
    );
    expect(update.code, update.stderr).toBe(0);
    expect(JSON.parse(update.stdout)).toMatchObject({
      topology: NAME,
      components: { count: { before: 2, after: 3 } },
      startedInstances: [expect.stringMatching(/^container_\d+_count_\d+$/)],
      stoppedInstances: [],
      dryRun: true,
    });
    expect(JSON.parse((await ardea(home, 'deactivate', 'local', NAME, '--json')).stdout)).toEqual({
      topology: NAME,
      state: 'PAUSED',
      changed: true,
    });
    expect(JSON.parse((await ardea(home, 'activate', 'local', NAME, '--json')).stdout)).toEqual({
      topology: NAME,
      state: 'RUNNING',
      changed: true,
    });
  });

  it('--watch redraws status, metrics and health until Ctrl-C, then exits 0', async () => {
    const rounds = (stdout: string) => stdout.split('\n\n').filter(Boolean).length;
    const status = await runUntil(['status', 'local', NAME, '--watch', '0.5'], (out) => rounds(out) >= 3);
    expect(status.code, status.stderr).toBe(0);
    const blocks = status.stdout.split('\n\n').filter(Boolean);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(block).toMatch(/^topology word-count on local: RUNNING/);

    const metrics = await runUntil(['metrics', 'local', NAME, '--json', '--watch', '0.5'], (out) => rounds(out) >= 3);
    expect(metrics.code, metrics.stderr).toBe(0);
    const views = metrics.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { components: Record<string, { executed: number }> });
    expect(views.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(views[0]!.components).sort()).toEqual(['count', 'sentence', 'split']);

    // Without a value --watch redraws every 2 s.
    const health = await runUntil(['health', 'local', NAME, '--watch'], (out) => rounds(out) >= 2);
    expect(health.code, health.stderr).toBe(0);
    const healthRounds = health.stdout.split('\n\n').filter(Boolean);
    expect(healthRounds.length).toBeGreaterThanOrEqual(2);
    for (const round of healthRounds) expect(round).toContain(`no health actions for ${NAME} yet: nothing has needed attention`);
  });

  it('logs prints a container log; -f picks up new lines, also across a restart of the container', async () => {
    const tail = await ardea(home, 'logs', 'local', NAME);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toContain('topology master listening');
    const json = JSON.parse((await ardea(home, 'logs', 'local', NAME, '1', '--json', '--bytes', '100000')).stdout) as {
      containerId: number;
      text: string;
      start: number;
      end: number;
      source: string;
    };
    expect(json).toMatchObject({ containerId: 1, start: 0 });
    expect(json.end).toBeGreaterThan(0);
    expect(json.text).toContain('starting container 1');

    const starts = (text: string) => text.split('\n').filter((line) => line.includes('starting container 1')).length;
    const before = starts(json.text);
    let restarted: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
    const followed = await runUntil(['logs', 'local', NAME, '1', '-f'], (out) => {
      // Once the tail is out, restart the container; stop when the new process has written its start.
      if (out.length > 0) restarted ??= ardea(home, 'restart', 'local', NAME, '1', '--json');
      return starts(out) > before;
    });
    const restart = await restarted!;
    expect(restart.code, restart.stderr).toBe(0);
    expect(JSON.parse(restart.stdout)).toEqual({ topology: NAME, restarted: 1 });
    expect(followed.code, followed.stderr).toBe(0);
    expect(starts(followed.stdout)).toBeGreaterThan(before);
  });

  it('completes topology names from the state manager, for the completion scripts', async () => {
    const names = await ardea(home, '__complete', 'topologies', 'local');
    expect(names).toMatchObject({ code: 0, stdout: `${NAME}\n`, stderr: '' });
    const bin = path.join(repoRoot, 'node_modules', '.bin');
    const { stdout } = await promisify(execFile)(
      'bash',
      [
        '-c',
        'eval "$(ardea completion bash)"; COMP_WORDS=(ardea logs local w); COMP_CWORD=3; _ardea_complete; printf "%s\\n" "${COMPREPLY[@]}"',
      ],
      // A loaded machine may start the CLI slower than a user's completion would wait.
      { env: { ...process.env, ARDEA_HOME: home, PATH: `${bin}:${process.env['PATH']}`, ARDEA_COMPLETION_TIMEOUT: '120' } },
    );
    expect(stdout).toBe(`${NAME}\n`);
    // A cluster that does not load gives no names and no error.
    expect(await ardea(home, '__complete', 'topologies', 'no-such-cluster')).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('kill --json says what it killed, and a watch of a killed topology ends', async () => {
    const watching = startCli(['status', 'local', NAME, '--watch', '0.5']);
    await watching.stdoutSatisfies((stdout) => stdout.includes('containers running'));
    const killed = await ardea(home, 'kill', 'local', NAME, '--json');
    expect(killed.code, killed.stderr).toBe(0);
    expect(JSON.parse(killed.stdout)).toEqual({ topology: NAME, cluster: 'local', killed: true });
    const watched = await watching.result;
    expect(watched.stdout).toMatch(/^topology word-count on local: RUNNING/);
    expect(watched.code).toBe(1);
    expect(watched.stderr).toContain(`no topology '${NAME}' on cluster local`);
  });
});
