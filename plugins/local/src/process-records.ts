import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ownerLiveness,
  PRIVATE_FILE_MODE,
  processOwnerOf,
  ProcessOwnerSchema,
  type OwnerLiveness,
  type ProcessOwner,
} from '@ardea/core/plugin';

/**
 * Files through which the local pool finds its processes again from another process: when the
 * supervisor that owns a topology's containers is gone (or does not answer), `kill` must still find
 * and stop whatever it left running. A record holds the process's identity (pid and start time), so
 * a pid the OS has handed to an unrelated process since is never signalled.
 */
export const OWNER_RECORD = 'owner.process.json';
export const EXECUTOR_RECORD = 'executor.process.json';

/** A recorded process, and what it is for messages. */
export interface RecordedProcess {
  readonly owner: ProcessOwner;
  readonly role: string;
}

/** How processes are probed and signalled; tests substitute processes that cannot be stopped. */
export interface ProcessControl {
  liveness(owner: ProcessOwner): OwnerLiveness;
  signal(pid: number, signal: NodeJS.Signals): void;
}

export const systemProcesses: ProcessControl = {
  liveness: ownerLiveness,
  signal(pid, signal) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      // Gone meanwhile; whoever waits for the exit sees that.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  },
};

/** Records process `pid` in `file`; resolves false when the process has already exited. */
export async function recordProcess(file: string, pid: number): Promise<boolean> {
  const owner = processOwnerOf(pid);
  if (!owner) return false;
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(owner)}\n`, { mode: PRIVATE_FILE_MODE });
  await rename(temporary, file);
  return true;
}

/** The process recorded in `file`, or undefined when there is none (or the record is unreadable). */
export async function readProcessRecord(file: string): Promise<ProcessOwner | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = ProcessOwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The executor records under a topology's directory (`container-<id>/executor.process.json`). */
export async function readExecutorRecords(topologyDirectory: string): Promise<RecordedProcess[]> {
  let entries: string[];
  try {
    entries = await readdir(topologyDirectory);
  } catch {
    return [];
  }
  const records: RecordedProcess[] = [];
  for (const entry of entries.filter((name) => /^container-\d+$/.test(name)).sort()) {
    const owner = await readProcessRecord(join(topologyDirectory, entry, EXECUTOR_RECORD));
    if (owner) records.push({ owner, role: entry.replace('-', ' ') });
  }
  return records;
}

/**
 * Stops the recorded processes that still run: SIGTERM (with SIGCONT, so a stopped process gets to
 * handle it), then SIGKILL to whatever is left after `graceMs`. Resolves to the processes still
 * running after that: they could not be stopped (another user's process, or one stuck in the kernel).
 */
export async function terminateProcesses(
  targets: readonly RecordedProcess[],
  graceMs: number,
  control: ProcessControl = systemProcesses,
): Promise<RecordedProcess[]> {
  // This process is never a leftover of itself; signalling it would end the caller.
  const running = () => targets.filter((target) => target.owner.pid !== process.pid && control.liveness(target.owner) !== 'dead');
  let left = running();
  if (left.length === 0) return [];
  for (const target of left) {
    control.signal(target.owner.pid, 'SIGTERM');
    control.signal(target.owner.pid, 'SIGCONT');
  }
  left = await exitedWithin(running, graceMs);
  for (const target of left) control.signal(target.owner.pid, 'SIGKILL');
  return exitedWithin(running, KILL_WAIT_MS);
}

/** How long a SIGKILLed process may take to be gone before it counts as unstoppable. */
const KILL_WAIT_MS = 2000;
const POLL_MS = 25;

async function exitedWithin(running: () => RecordedProcess[], timeoutMs: number): Promise<RecordedProcess[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = running();
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function describeProcesses(processes: readonly RecordedProcess[]): string {
  return processes.map((p) => `pid ${p.owner.pid} (${p.role})`).join(', ');
}
