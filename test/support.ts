import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ardeaBin = path.join(repoRoot, 'core', 'bin', 'ardea.mjs');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the `ardea` CLI as a user would, with its own ARDEA_HOME. */
export async function ardea(home: string, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ardeaBin, ...args], { env: { ...process.env, ARDEA_HOME: home }, cwd: repoRoot, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
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
export async function metrics(home: string, topology: string): Promise<Record<string, ComponentCounts>> {
  const result = await ardea(home, 'metrics', 'local', topology, '--json', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, ComponentCounts> }).components;
}

/** Tuples the topology's stream managers could deliver nowhere since submit (always 0 unless the engine has a bug). */
export async function droppedTuples(home: string, topology: string): Promise<number> {
  const result = await ardea(home, 'metrics', 'local', topology, '--json');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { droppedTuples: number }).droppedTuples;
}

/** Processes whose environment names this ARDEA_HOME: every supervisor and executor a test started. */
export function processesOf(home: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (environ.split('\0').includes(`ARDEA_HOME=${home}`)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** An `ardea` command still running, whose progress lines (stderr) can be waited for. */
export interface RunningCli {
  readonly result: Promise<CliResult>;
  /** Resolves true once stderr matches `pattern`, false if the command ended without it. */
  stderrMatches(pattern: RegExp): Promise<boolean>;
}

/** Starts the `ardea` CLI like {@link ardea} without waiting for it. */
export function startArdea(home: string, ...args: string[]): RunningCli {
  const child = spawn(process.execPath, [ardeaBin, ...args], { env: { ...process.env, ARDEA_HOME: home }, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const wake of waiters) wake();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
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
