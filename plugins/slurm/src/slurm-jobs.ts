import { poolResourceName, type ContainerState } from '@ardea/core/plugin';

/** One line of `squeue -h -t all -o '%i|%j|%T|%R'` that belongs to a topology. */
export interface SlurmJob {
  readonly jobId: string;
  readonly containerId: number;
  readonly state: string;
  /** Why a job pends, or the node it runs on. */
  readonly reason: string;
}

/** Job states in which the job's processes may still run or will start; everything else has ended. */
const LIVE_STATES = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'RESV_DEL_HOLD',
]);

export const SQUEUE_FORMAT = '%i|%j|%T|%R';

/**
 * What every job of a topology is named before `-<container>`: the prefix, then the topology's
 * {@link poolResourceName} — the name itself when it is a DNS label, otherwise folded to one with a
 * hash (`Word_Count` → `word-count-1a2b3c4d`), the same name as its directory.
 */
export function jobNameStem(prefix: string, topologyName: string): string {
  return `${prefix}${poolResourceName(topologyName)}`;
}

export function jobName(prefix: string, topologyName: string, containerId: number): string {
  return `${jobNameStem(prefix, topologyName)}-${containerId}`;
}

/**
 * The topology's jobs in `squeue` output. A name belongs to the topology when it is
 * `<stem>-<digits>`, so topology `a` never picks up the jobs of topology `a-1` (`ardea-a-1-2`: the
 * rest after `ardea-a-` is `1-2`, not a number), nor those of `A` (`ardea-a-<hash>-2`).
 */
export function parseSqueue(output: string, prefix: string, topologyName: string): SlurmJob[] {
  const namePrefix = `${jobNameStem(prefix, topologyName)}-`;
  const jobs: SlurmJob[] = [];
  for (const line of output.split('\n')) {
    const [jobId, name, state, ...reason] = line.trim().split('|');
    if (!jobId || !name || !state || !/^\d+$/.test(jobId) || !name.startsWith(namePrefix)) continue;
    const rest = name.slice(namePrefix.length);
    if (!/^\d+$/.test(rest)) continue;
    // squeue shows a pending job's reason in parentheses and a running job's node list bare.
    jobs.push({ jobId, containerId: Number(rest), state, reason: reason.join('|').replace(/^\((.*)\)$/, '$1') });
  }
  return jobs;
}

export function isLive(job: SlurmJob): boolean {
  return LIVE_STATES.has(job.state);
}

/** The most recently submitted job of each container: job ids grow with every submission. */
export function newestJobs(jobs: readonly SlurmJob[]): Map<number, SlurmJob> {
  const newest = new Map<number, SlurmJob>();
  for (const job of jobs) {
    const known = newest.get(job.containerId);
    if (!known || Number(job.jobId) > Number(known.jobId)) newest.set(job.containerId, job);
  }
  return newest;
}

/**
 * What a Slurm job state means for the container. Jobs here are never requeued by Ardea, so an ended
 * job is a container that is gone: `failed`, whether it exited, was cancelled by someone else, ran
 * out of time or lost its node. Suspended jobs are `stopped`; requeued ones `restarting`.
 */
export function containerState(slurmState: string): ContainerState {
  switch (slurmState) {
    case 'PENDING':
    case 'CONFIGURING':
    case 'RESV_DEL_HOLD':
      return 'pending';
    case 'RUNNING':
    case 'RESIZING':
    case 'SIGNALING':
      return 'running';
    case 'REQUEUED':
    case 'REQUEUE_FED':
    case 'REQUEUE_HOLD':
      return 'restarting';
    case 'SUSPENDED':
    case 'STOPPED':
      return 'stopped';
    default:
      return 'failed';
  }
}

/** `scontrol show job -o` prints one line of `Key=Value` pairs per job. */
export function parseScontrolJobs(output: string): Map<string, Record<string, string>> {
  const jobs = new Map<string, Record<string, string>>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('JobId=')) continue;
    const fields: Record<string, string> = {};
    // Values have no spaces except paths (Command, WorkDir, StdOut...), so a value runs to the next ` Key=`.
    const pattern = /(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=(.*?)(?=\s[A-Za-z][A-Za-z0-9_/:]*=|$)/g;
    for (const match of line.matchAll(pattern)) fields[match[1]!] = match[2]!;
    if (fields.JobId) jobs.set(fields.JobId, fields);
  }
  return jobs;
}

/** The job id `sbatch --parsable` prints: `<id>` or `<id>;<cluster>`. */
export function parseSbatch(stdout: string): string | undefined {
  return /^(\d+)(;\S*)?$/m.exec(stdout.trim())?.[1];
}

/** Slurm's multi-line error output as one line. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join('; ');
}
