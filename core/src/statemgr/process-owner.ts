import { readFileSync } from 'node:fs';
import os from 'node:os';
import { z } from 'zod';

/**
 * Who wrote an ephemeral node or holds a lock file. A pid alone is not an identity: pids are reused,
 * so the process start time (and the boot id, for reuse across reboots) must match as well.
 */
export interface ProcessOwner {
  readonly host: string;
  readonly pid: number;
  /** Clock ticks after boot at which the process started (field 22 of `/proc/<pid>/stat`); absent off Linux. */
  readonly startTime?: number;
  /** `/proc/sys/kernel/random/boot_id`; absent off Linux. */
  readonly bootId?: string;
}

/** Extra keys (session, token, ...) are allowed so that one schema reads every owned file. */
export const ProcessOwnerSchema = z.looseObject({
  host: z.string(),
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative().optional(),
  bootId: z.string().optional(),
});

/**
 * `dead`: the owner is certainly gone and its files may be removed. `unknown`: the owner runs on
 * another host, which this process cannot inspect, so its files must be kept.
 */
export type OwnerLiveness = 'alive' | 'dead' | 'unknown';

let self: ProcessOwner | undefined;

export function currentProcessOwner(): ProcessOwner {
  if (!self) {
    const stat = readProcStat(process.pid);
    const bootId = readBootId();
    self = {
      host: os.hostname(),
      pid: process.pid,
      ...(stat ? { startTime: stat.startTime } : {}),
      ...(bootId ? { bootId } : {}),
    };
  }
  return self;
}

/** The identity of process `pid` on this host, or undefined when no such process runs (on Linux). */
export function processOwnerOf(pid: number): ProcessOwner | undefined {
  const me = currentProcessOwner();
  if (me.startTime === undefined) return { host: me.host, pid, ...(me.bootId ? { bootId: me.bootId } : {}) };
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z') return undefined;
  return { host: me.host, pid, startTime: stat.startTime, ...(me.bootId ? { bootId: me.bootId } : {}) };
}

export function ownerLiveness(owner: ProcessOwner): OwnerLiveness {
  const me = currentProcessOwner();
  if (owner.host !== me.host) return 'unknown';
  if (owner.bootId !== undefined && me.bootId !== undefined && owner.bootId !== me.bootId) return 'dead';
  if (owner.pid === me.pid && owner.startTime === me.startTime) return 'alive';
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return 'dead';
    // EPERM: the process exists but belongs to another user; anything else says nothing either way.
    if (code !== 'EPERM') return 'unknown';
  }
  if (me.startTime === undefined) return 'alive';
  const stat = readProcStat(owner.pid);
  // The process may have exited between the signal probe and the read.
  if (!stat || stat.state === 'Z') return 'dead';
  if (owner.startTime !== undefined && stat.startTime !== owner.startTime) return 'dead';
  return 'alive';
}

export function describeOwner(owner: ProcessOwner): string {
  return `pid ${owner.pid} on host ${owner.host}`;
}

interface ProcStat {
  readonly state: string;
  readonly startTime: number;
}

/** Reading procfs never touches a disk, so a synchronous read does not stall the event loop. */
function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 is the command name in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  const startTime = Number(fields[19]);
  if (!Number.isSafeInteger(startTime)) return undefined;
  return { state: fields[0] ?? '', startTime };
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
