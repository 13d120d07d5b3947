import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeAgentError } from './errors.js';
import type { AgentLogger } from './logger.js';
import type { Mount } from './volumes.js';

/** How a container process ended: the code the kubelet reports (128 + signal number after a signal). */
export interface ProcessExit {
  readonly exitCode: number;
  readonly signal?: number;
}

export interface ContainerProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
}

export interface ContainerLaunch {
  readonly commandLine: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workingDirectory: string;
  readonly mounts: readonly Mount[];
  readonly logFile: string;
}

/** Quotes a word for `sh`: inside single quotes everything is literal except the quote itself. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `sh -c` script that runs inside the container's fresh mount namespace: bind each volume onto
 * its mount path (read-only where asked), then `exec` the command, so that the shell's pid, which
 * the agent holds, becomes the container's process.
 */
export function mountScript(mounts: readonly Mount[], workingDirectory: string): string {
  const lines = ['set -e'];
  for (const mount of mounts) {
    lines.push(`mount --bind ${shellQuote(mount.source)} ${shellQuote(mount.target)}`);
    if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${shellQuote(mount.target)}`);
  }
  // After the mounts: a working directory inside a volume must be the mounted one.
  lines.push(`cd ${shellQuote(workingDirectory)}`, 'exec "$@"');
  return lines.join('\n');
}

/** Why a command cannot be started (Kubernetes' wording), or undefined when it looks runnable. */
export function commandProblem(command: string, pathVariable: string | undefined): string | undefined {
  // A path may live in a volume that exists only inside the container's mount namespace: the shell will say.
  if (command.includes('/')) return undefined;
  for (const directory of (pathVariable ?? '').split(':')) {
    if (!directory) continue;
    try {
      const candidate = path.join(directory, command);
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return undefined;
    } catch {
      // Not in this directory.
    }
  }
  return `exec: "${command}": executable file not found in $PATH`;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

/** Starts one container: `unshare --mount` then the mount script, in its own process group, output to its log. */
export function startContainerProcess(launch: ContainerLaunch): ContainerProcess {
  for (const mount of launch.mounts) {
    // The mount point must exist; creating it on the host is the price of not having a root filesystem per pod.
    if (statSync(mount.source).isDirectory()) mkdirSync(mount.target, { recursive: true });
    else {
      mkdirSync(path.dirname(mount.target), { recursive: true });
      writeFileSync(mount.target, '', { flag: 'a' });
    }
  }
  const log = openSync(launch.logFile, 'a');
  try {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        mountScript(launch.mounts, launch.workingDirectory),
        'ardea-container',
        ...launch.commandLine,
      ],
      { cwd: launch.workingDirectory, env: launch.env, detached: true, stdio: ['ignore', log, log] },
    );
    if (child.pid === undefined) throw new NodeAgentError(`could not start unshare for ${launch.commandLine[0]}: is util-linux installed?`);
    const exited = new Promise<ProcessExit>((resolve) => {
      child.on('exit', (code, signal) => {
        const number = signal ? (SIGNAL_NUMBERS[signal] ?? 0) : undefined;
        resolve(number !== undefined ? { exitCode: 128 + number, signal: number } : { exitCode: code ?? 0 });
      });
    });
    return { pid: child.pid, exited };
  } finally {
    closeSync(log);
  }
}

/** Sends a signal to a container's process group (its process and everything it started). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** The kernel's start time of a process (clock ticks since boot), which tells a live pid from a reused one. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The container processes this agent runs, one file per process under `<state dir>/processes`, so
 * that an agent started after a crash can find and stop what its predecessor left behind.
 */
export class ProcessRecords {
  private readonly directory: string;

  constructor(stateDirectory: string) {
    this.directory = path.join(stateDirectory, 'processes');
    mkdirSync(this.directory, { recursive: true });
  }

  add(pid: number, description: string): void {
    const ticks = startTicks(pid);
    if (ticks !== undefined) writeFileSync(path.join(this.directory, String(pid)), JSON.stringify({ pid, ticks, description }));
  }

  remove(pid: number): void {
    rmSync(path.join(this.directory, String(pid)), { force: true });
  }

  /** SIGKILLs every recorded process group that still runs (the same process, not a reused pid) and forgets them all. */
  killLeftovers(logger: AgentLogger): number {
    let killed = 0;
    for (const name of readdirSync(this.directory)) {
      const file = path.join(this.directory, name);
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; ticks: string; description: string };
        if (startTicks(record.pid) === record.ticks) {
          signalGroup(record.pid, 'SIGKILL');
          logger.warn(`killed container process ${record.pid} (${record.description}) left by an earlier agent`);
          killed++;
        }
      } catch {
        // An unreadable record names nothing we can check.
      }
      rmSync(file, { force: true });
    }
    return killed;
  }
}

/** Fails unless this process may create a mount namespace, which every container needs. */
export function checkMountNamespaces(): void {
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : probe.stderr.trim() || `exit code ${probe.status}`;
    throw new NodeAgentError(
      `cannot create a mount namespace with 'unshare --mount' (${why}); the node agent runs each container in its own mount namespace ` +
        'to bind its volumes, so run it as root (or with CAP_SYS_ADMIN) on Linux with util-linux installed',
    );
  }
}
