/**
 * What Ardea's cross-package tests share, and plugins' tests too (`@ardea/test-support`): the `ardea`
 * CLI run as a user runs it, its metrics, and the processes a test started — so that every test can
 * stop what it started, whatever happened to it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createArdea, type MetricsView } from '@ardea/core';
import { CONTAINER_INDEX_PLACEHOLDER, MiB, type PackingPlan, type ScheduleRequest } from '@ardea/core/plugin';
import { expect, vi } from 'vitest';

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ardeaBin = path.join(repoRoot, 'core', 'bin', 'ardea.mjs');

/**
 * How long an end-to-end wait may take before it fails: sized for a starved machine (two cores, one
 * of them busy with other work), where starting a topology or a CLI command takes many times what it
 * takes on an idle one. Waits poll for their condition, so a healthy run takes a fraction of this.
 */
export const E2E_WAIT_MS = 120_000;
/** How long a CLI command may run before {@link ardea} gives up on it: a hung command fails its test. */
const CLI_TIMEOUT_MS = 180_000;
/** ...and one that cleans up after a test, which SIGKILL finishes if it gives up. */
const CLEANUP_CLI_TIMEOUT_MS = 60_000;
/** Long enough for {@link removeHome} on a starved machine: give it to the hook that calls it. */
export const CLEANUP_TIMEOUT_MS = 300_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the `ardea` CLI as a user would, with its own ARDEA_HOME. */
export async function ardea(home: string, ...args: string[]): Promise<CliResult> {
  return runCli(home, args, CLI_TIMEOUT_MS);
}

async function runCli(home: string, args: readonly string[], timeoutMs: number): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ardeaBin, ...args], {
      env: { ...process.env, ARDEA_HOME: home },
      cwd: repoRoot,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; killed?: boolean; stdout?: string; stderr?: string };
    const stderr =
      (failure.stderr ?? '') + (failure.killed ? `[test-support: 'ardea ${args.join(' ')}' was killed after ${timeoutMs} ms]\n` : '');
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr };
  }
}

export interface ComponentCounts {
  readonly emitted: number;
  readonly executed: number;
  readonly backpressureMs: number;
  readonly pendingBytes: number;
  readonly maxPendingBytes: number;
  readonly emitRate: number;
  readonly executeRate: number;
  readonly busyFraction: number;
  readonly instanceCount: number;
  readonly restarts: number;
  readonly backlog?: number;
  readonly backlogGrowthRate?: number;
}

/** `ardea metrics --json`, parsed. */
export async function metrics(home: string, topology: string, cluster = 'local'): Promise<Record<string, ComponentCounts>> {
  const result = await ardea(home, 'metrics', cluster, topology, '--json', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, ComponentCounts> }).components;
}

/** How long counts must stay put before a drain that is not `complete` is taken as final. */
const INCOMPLETE_SETTLE_MS = 10_000;

/**
 * Waits until a deactivated topology has drained: every component's emitted and executed counts
 * read the same twice in a row, 1.2 s apart. Resolves to those counts.
 *
 * On a loaded machine a container can report late, or a worker run its last frames late: two equal
 * reads then say nothing about what is still on its way. With `complete` (what a drain that lost
 * nothing looks like), counts that are not complete must stay put for 10 s before they are taken as
 * final, so a slow machine does not pass for a lost tuple, and a real loss still ends the wait.
 */
export async function settledCounts(
  read: () => Promise<Record<string, ComponentCounts>>,
  complete?: (counts: Record<string, ComponentCounts>) => boolean,
): Promise<Record<string, ComponentCounts>> {
  let previous = '';
  let unchangedSince = Date.now();
  let settled: Record<string, ComponentCounts> = {};
  await vi.waitFor(
    async () => {
      const now = await read();
      const snapshot = JSON.stringify(Object.fromEntries(Object.entries(now).map(([k, v]) => [k, [v.emitted, v.executed]])));
      const same = snapshot === previous;
      if (!same) unchangedSince = Date.now();
      previous = snapshot;
      settled = now;
      expect(same).toBe(true);
      if (complete && !complete(now)) expect(Date.now() - unchangedSince).toBeGreaterThanOrEqual(INCOMPLETE_SETTLE_MS);
    },
    { timeout: E2E_WAIT_MS, interval: 1200 },
  );
  return settled;
}

/** A drained word count lost nothing: every sentence emitted was split, and every word counted. */
export function wordCountComplete(m: Record<string, ComponentCounts>): boolean {
  return m.count?.executed === m.split?.emitted && m.split?.executed === m.sentence?.emitted;
}

/** Tuples the topology's stream managers could deliver nowhere since submit (always 0 unless the engine has a bug). */
export async function droppedTuples(home: string, topology: string, cluster = 'local'): Promise<number> {
  const result = await ardea(home, 'metrics', cluster, topology, '--json');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { droppedTuples: number }).droppedTuples;
}

/** Processes whose environment names this ARDEA_HOME: every supervisor and executor a test started. */
export function processesOf(home: string): number[] {
  return processesWithEnvironment(`ARDEA_HOME=${home}`);
}

/** Processes other than this one whose environment holds `entry` (`NAME=value`). */
export function processesWithEnvironment(entry: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (environ.split('\0').includes(entry)) pids.push(Number(name));
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return pids;
}

/** A new, empty ARDEA_HOME for one test (or one file's story): give it to {@link removeHome} afterwards. */
export function freshHome(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Stops everything a test started under `home`, whatever state it left it in: kills every topology
 * `ardea list` shows on each of `clusters` (so state kept outside the home, such as ZooKeeper nodes
 * or Slurm jobs, goes too), then SIGKILLs every process that still names this ARDEA_HOME until none
 * is left — stopped ones included.
 */
export async function stopEverything(home: string, clusters: readonly string[] = ['local']): Promise<void> {
  for (const cluster of clusters) {
    const listed = await runCli(home, ['list', cluster], CLEANUP_CLI_TIMEOUT_MS);
    for (const name of listed.code === 0 ? topologyNames(listed.stdout) : [])
      await runCli(home, ['kill', cluster, name], CLEANUP_CLI_TIMEOUT_MS);
  }
  await killProcessesOf(home);
}

/** {@link stopEverything}, then removes the home. */
export async function removeHome(home: string | undefined, clusters?: readonly string[]): Promise<void> {
  if (!home) return;
  try {
    await stopEverything(home, clusters);
  } finally {
    // A copy of every home a test used, logs and all, for hunting a failure that is rare.
    const keep = process.env['ARDEA_TEST_KEEP_HOMES'];
    if (keep) cpSync(home, path.join(keep, `${path.basename(home)}-${Date.now()}`), { recursive: true });
    rmSync(home, { recursive: true, force: true });
  }
}

/** The topology names of an `ardea list` table (nothing for "no topologies on cluster ..."). */
function topologyNames(listing: string): string[] {
  const [header, ...rows] = listing.split('\n').filter(Boolean);
  return header?.startsWith('TOPOLOGY') ? rows.map((row) => row.split(/\s+/)[0]!) : [];
}

/**
 * SIGKILLs every process of `home` until none is left: a supervisor killed while it starts an
 * executor can leave one that was not there at the first look.
 */
export async function killProcessesOf(home: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = processesOf(home);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It ended on its own meanwhile.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `processes of ARDEA_HOME ${home} still run after SIGKILL: ${processesOf(home)
      .map((pid) => `${pid} (${commandLine(pid)})`)
      .join(', ')}`,
  );
}

/** An `ardea` command still running, whose progress lines (stderr) can be waited for. */
export interface RunningCli {
  readonly result: Promise<CliResult>;
  /** Resolves true once stderr matches `pattern`, false if the command ended without it. */
  stderrMatches(pattern: RegExp): Promise<boolean>;
}

/** Starts the `ardea` CLI like {@link ardea} without waiting for it. */
export function startArdea(home: string, ...args: string[]): RunningCli {
  const child = spawn(process.execPath, [ardeaBin, ...args], {
    env: { ...process.env, ARDEA_HOME: home },
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const wake of waiters) wake();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  let closed = false;
  const result = new Promise<CliResult>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      closed = true;
      resolve({ code: code ?? 1, stdout, stderr });
      for (const wake of waiters) wake();
    }),
  );
  return {
    result,
    stderrMatches: (pattern) =>
      new Promise<boolean>((resolve) => {
        const check = () => {
          if (!pattern.test(stderr) && !closed) return;
          waiters.delete(check);
          resolve(pattern.test(stderr));
        };
        waiters.add(check);
        check();
      }),
  };
}

/** The command line of a process, or '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** A loopback port nothing listens on: one the OS just gave out and took back. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `ardea package-server` for `home` on `port` (packages under `<home>/package-server`, token in
 * `<home>/package-server.token`, as the example clusters' uploader.yaml expect); resolves once it listens.
 */
export async function startPackageServer(home: string, port: number): Promise<ChildProcess> {
  const args = ['package-server', '--dir', path.join(home, 'package-server'), '--token-file', path.join(home, 'package-server.token')];
  const child = spawn(process.execPath, [ardeaBin, ...args, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ARDEA_HOME: home },
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('package server listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the package server exited with code ${code}: ${output}`)));
  });
  return child;
}

export async function stopPackageServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Container ids of the plan `ardea` stored for the topology, 0 included. */
export async function plannedContainers(home: string, cluster: string, topology: string): Promise<number[]> {
  const described = await ardea(home, 'describe', cluster, topology, '--json');
  expect(described.code, described.stderr).toBe(0);
  const plan = (JSON.parse(described.stdout) as { packingPlan: { containers: { id: number }[] } }).packingPlan;
  return [0, ...plan.containers.map((c) => c.id).sort((a, b) => a - b)];
}

/** Waits until word count's `count` bolt has executed 2000 more words than when called. */
export async function countsGrow(home: string, topology: string, cluster: string): Promise<void> {
  const executed = async () => (await metrics(home, topology, cluster)).count?.executed ?? 0;
  const before = await executed();
  await vi.waitFor(async () => expect(await executed()).toBeGreaterThan(before + 2000), { timeout: E2E_WAIT_MS, interval: 500 });
}

/** A scale-up the health manager logged, as `ardea health --json` shows it. */
export interface ScaleUpAction {
  readonly type: string;
  readonly verdict?: string;
  readonly diagnosis?: { component?: string };
}

/** Every scale-up in the health manager's action log. */
export async function scaleUps(home: string, cluster: string, topology: string): Promise<ScaleUpAction[]> {
  const result = await ardea(home, 'health', cluster, topology, '--json');
  expect(result.code, result.stderr).toBe(0);
  const log = JSON.parse(result.stdout) as { rounds: { actions: ScaleUpAction[] }[] };
  return log.rounds.flatMap((r) => r.actions.filter((a) => a.type === 'scale-up'));
}

/**
 * A request to schedule `topologyName` with containers 1..`containers`, each needing `cpu` CPUs; its
 * executor sleeps, with `env` added to its environment. For pool tests that look at the containers,
 * not at the engine.
 */
export function sleepRequest(topologyName: string, containers: number, cpu = 0.1, env: Record<string, string> = {}): ScheduleRequest {
  const plan: PackingPlan = {
    topologyId: `${topologyName}-id`,
    containers: Array.from({ length: containers }, (_, index) => ({
      id: index + 1,
      instances: [
        { component: 'sleeper', taskId: index + 1, componentIndex: index, resources: { cpu: cpu / 2, ramBytes: 16 * MiB, diskBytes: 0 } },
      ],
      required: { cpu, ramBytes: 64 * MiB, diskBytes: 0 },
    })),
  };
  return {
    topology: {
      name: topologyName,
      id: `${topologyName}-id`,
      components: [
        {
          name: 'sleeper',
          kind: 'spout',
          parallelism: containers,
          config: {},
          outputs: [{ id: 'default', fields: ['value'] }],
          inputs: [],
        },
      ],
      config: {},
    },
    packingPlan: plan,
    packageUri: 'file:///nonexistent/topology.tgz',
    executor: { argv: ['/bin/sleep', '3600', CONTAINER_INDEX_PLACEHOLDER], env: { ARDEA_CLUSTER_CONFIG: '{}', ...env } },
  };
}

/** `--config-property` arguments for each `key=value`. */
export function configProperties(...pairs: readonly string[]): string[] {
  return pairs.flatMap((pair) => ['--config-property', pair]);
}

/**
 * Word count as the pools' scaling tests submit it: metrics every 500 ms, 2,000 sentences/s, and no
 * health manager, since the scaling such a test checks is its own.
 */
export const SCALED_BY_THE_TEST = configProperties('topology.metricsIntervalMs=500', 'sentence.rate=2000', 'topology.healthManager=false');

/**
 * Word count with a count bolt the health manager must scale: count waits 1 ms per word, so one
 * instance does at most ~1,000 words/s, and 300 sentences/s offer ~3,000; the policy looks every 3 s.
 */
export const SATURATED_COUNT = configProperties(
  'healthmgr.policies.dynamic-resource-provisioning.intervalMs=3000',
  'healthmgr.policies.dynamic-resource-provisioning.windowMs=6000',
  'topology.metricsIntervalMs=500',
  'sentence.rate=300',
  'count.costMicros=1000',
  'count.parallelism=1',
  'split.parallelism=1',
);

/**
 * Deactivates word count, waits for its counts to settle, and checks that nothing was lost: every
 * sentence emitted was split, every word counted, and no stream manager dropped a tuple. Activates
 * it again.
 */
export async function expectWordCountDrainedWithoutLoss(home: string, cluster: string, topology: string): Promise<void> {
  expect((await ardea(home, 'deactivate', cluster, topology)).code).toBe(0);
  const m = await settledCounts(() => metrics(home, topology, cluster), wordCountComplete);
  expect(m.count!.executed).toBe(m.split!.emitted);
  expect(m.split!.executed).toBe(m.sentence!.emitted);
  expect(await droppedTuples(home, topology, cluster)).toBe(0);
  expect((await ardea(home, 'activate', cluster, topology)).code).toBe(0);
}

/**
 * Waits until the health manager of a word count submitted with {@link SATURATED_COUNT} has scaled
 * `count` up and judged that it helped, and checks that `ardea health` says so.
 */
export async function expectHealthManagerScaledCount(home: string, cluster: string, topology: string): Promise<void> {
  await vi.waitFor(async () => expect((await scaleUps(home, cluster, topology)).some((a) => a.verdict === 'helped')).toBe(true), {
    timeout: 3 * E2E_WAIT_MS,
    interval: 1000,
  });
  expect((await scaleUps(home, cluster, topology))[0]).toMatchObject({ diagnosis: { component: 'count' } });
  const shown = await ardea(home, 'health', cluster, topology);
  expect(shown.code, shown.stderr).toBe(0);
  expect(shown.stdout).toMatch(/action: scale up: count 1 -> \d+/);
  expect(shown.stdout).toMatch(/helped/);
}

/** Submits `args` to the cluster, expects it to fail, and returns its one `ardea:` line. */
export async function submitFailsWithOneLine(home: string, cluster: string, ...args: string[]): Promise<string> {
  const result = await ardea(home, 'submit', cluster, ...args);
  expect(result.code, result.stdout).not.toBe(0);
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('ardea:'));
  expect(errors, result.stderr).toHaveLength(1);
  return errors[0]!;
}

/** The container logs of every topology a local pool ran under `home`: `<home>/topologies/<cluster>/<topology>/logs/*.log`. */
export function localContainerLogs(home: string, cluster = 'local'): string[] {
  const root = path.join(home, 'topologies', cluster);
  let topologies: string[];
  try {
    topologies = readdirSync(root);
  } catch {
    return [];
  }
  return topologies.flatMap((topology) => {
    const dir = path.join(root, topology, 'logs');
    try {
      return readdirSync(dir)
        .filter((name) => name.endsWith('.log'))
        .sort()
        .map((name) => path.join(dir, name));
    } catch {
      return [];
    }
  });
}

/** The last `lines` lines of each of {@link localContainerLogs}, headed by the file's path. */
export function localContainerLogTails(home: string, lines = 40, cluster = 'local'): string {
  return localContainerLogs(home, cluster)
    .map((file) => {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // Removed meanwhile.
      }
      return `--- ${file} (last ${lines} lines)\n${text
        .split('\n')
        .slice(-lines - 1)
        .join('\n')}`;
    })
    .join('\n');
}

/**
 * Runs `action`; if it throws, rethrows with the tails of the local pool's container logs appended,
 * read before the test's cleanup removes them — what the executors said is most of a diagnosis.
 */
export async function withContainerLogs<T>(home: string, action: () => Promise<T>, cluster = 'local'): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const tails = localContainerLogTails(home, 40, cluster);
    if (error instanceof Error) {
      error.message += `\n\ncontainer logs:\n${tails}`;
      throw error;
    }
    throw new Error(`${String(error)}\n\ncontainer logs:\n${tails}`, { cause: error });
  }
}

/**
 * SIGKILLs the process of container `containerId` of a topology on a local pool and waits until its
 * supervisor runs it again in a new process. Resolves to the killed pid.
 */
export async function sigkillContainer(home: string, topology: string, containerId: number, cluster = 'local'): Promise<number> {
  const client = await createArdea({ cluster, env: { ...process.env, ARDEA_HOME: home } });
  try {
    const victim = (await client.status(topology)).find((s) => s.containerId === containerId);
    expect(victim?.state, `container ${containerId} of ${topology} before the kill`).toBe('running');
    const pid = Number(victim!.handle);
    process.kill(pid, 'SIGKILL');
    await vi.waitFor(
      async () => {
        const after = (await client.status(topology)).find((s) => s.containerId === containerId);
        expect(after?.state).toBe('running');
        expect(Number(after?.handle)).not.toBe(pid);
      },
      { timeout: E2E_WAIT_MS, interval: 200 },
    );
    return pid;
  } finally {
    await client.close();
  }
}

/** `ardea metrics --json` in full: every component's counters (acked, failed, ...) and the stream managers'. */
export async function metricsView(home: string, topology: string, cluster = 'local'): Promise<MetricsView> {
  const result = await ardea(home, 'metrics', cluster, topology, '--json', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as MetricsView;
}
