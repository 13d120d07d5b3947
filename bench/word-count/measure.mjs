// Measurement helpers for bench/word-count.mjs: /proc CPU accounting, idle wait, process discovery,
// statistics. Linux only (reads /proc).
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100;

/** utime + stime of a process, all threads included, in seconds; NaN once it is gone. */
export function procCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine (all CPUs) from /proc/stat. */
export function machineBusy() {
  const values = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = values[3] + values[4];
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) / CLK_TCK;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const clock = () => performance.timeOrigin + performance.now();

/**
 * Waits until the machine is quiet (the 2 vCPUs are shared with other sessions): busy cores over
 * 0.5 s at most `quiet`, for at most `maxWaitMs`. Returns the busy cores of the last check.
 */
export async function waitForIdle({ quiet = 0.35, maxWaitMs = 4000, stepMs = 500 } = {}) {
  const started = Date.now();
  let busy;
  do {
    const before = machineBusy();
    await sleep(stepMs);
    busy = (machineBusy() - before) / (stepMs / 1000);
  } while (busy > quiet && Date.now() - started < maxWaitMs);
  return round(busy, 2);
}

function readArgs(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function hasEnv(pid, entry) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/**
 * The supervisor and executor processes of a topology: command line has `--topology <name>` and the
 * environment has our private ARDEA_HOME (so another session's topology of the same name is ignored).
 * Returns [{ pid, role }] with role 'supervisor' or 'container-<n>'.
 */
export function topologyProcesses(name, ardeaHome) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = readArgs(entry);
    const at = args.indexOf('--topology');
    if (at < 0 || args[at + 1] !== name || !hasEnv(entry, `ARDEA_HOME=${ardeaHome}`)) continue;
    const container = args.indexOf('--container');
    found.push({ pid: Number(entry), role: container >= 0 ? `container-${args[container + 1]}` : 'supervisor' });
  }
  return found.sort((a, b) => a.role.localeCompare(b.role));
}

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function range(values) {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  return finite.length ? [Math.min(...finite), Math.max(...finite)] : null;
}

export function round(value, digits = 0) {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Least-squares slope of y over x. */
export function slope(points) {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

/** Percentile of an ascending typed array (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
