/** The job JSON (Go `api` field names, durations in nanoseconds): server-side defaults and validation. */
import { HttpError, stableStringify } from './util.js';

type Json = Record<string, unknown>;

export interface RestartPolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  Mode: string;
  [key: string]: unknown;
}
export interface ReschedulePolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  DelayFunction: string;
  MaxDelay: number;
  Unlimited: boolean;
  [key: string]: unknown;
}
export interface TaskResources {
  CPU: number;
  MemoryMB: number;
  DiskMB?: number;
  [key: string]: unknown;
}
export interface TemplateSpec {
  EmbeddedTmpl?: string | null;
  DestPath?: string | null;
  Envvars?: boolean | null;
  [key: string]: unknown;
}
export interface TaskSpec {
  Name: string;
  Driver: string;
  Config: Json | null;
  Env: Record<string, string> | null;
  Meta: Record<string, string> | null;
  Resources: TaskResources;
  RestartPolicy?: Partial<RestartPolicy> | null;
  KillTimeout: number;
  KillSignal: string;
  Templates: TemplateSpec[] | null;
  [key: string]: unknown;
}
export interface GroupSpec {
  Name: string;
  Count: number;
  Meta: Record<string, string> | null;
  RestartPolicy: RestartPolicy;
  ReschedulePolicy: ReschedulePolicy;
  Tasks: TaskSpec[];
  Scaling?: { Min?: number | null; Max?: number | null; [key: string]: unknown } | null;
  EphemeralDisk: { SizeMB: number; [key: string]: unknown };
  [key: string]: unknown;
}
export interface JobSpec {
  ID: string;
  Name: string;
  Type: string;
  Namespace: string;
  Region: string;
  Priority: number;
  Datacenters: string[];
  Meta: Record<string, string> | null;
  TaskGroups: GroupSpec[];
  Stop: boolean;
  Status: string;
  StatusDescription: string;
  Version: number;
  SubmitTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  JobModifyIndex: number;
  [key: string]: unknown;
}

const MINUTE = 60e9;
const HOUR = 60 * MINUTE;
const JOB_TYPES = ['service', 'batch', 'system', 'sysbatch'];

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringMap(value: unknown): Record<string, string> | null {
  if (!isObject(value)) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = String(v);
  return out;
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function str(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

/** Nomad's multierror text, which validation failures carry (HTTP 500, as the RPC error has no code). */
export function multiError(errors: readonly string[]): string {
  const plural = errors.length === 1 ? '1 error occurred' : `${errors.length} errors occurred`;
  return `${plural}:\n${errors.map((e) => `\t* ${e}`).join('\n')}\n\n`;
}

function defaultRestart(type: string): RestartPolicy {
  return type === 'batch' || type === 'sysbatch'
    ? { Attempts: 3, Interval: 24 * HOUR, Delay: 15e9, Mode: 'fail' }
    : { Attempts: 2, Interval: 30 * MINUTE, Delay: 15e9, Mode: 'fail' };
}

function defaultReschedule(type: string): ReschedulePolicy {
  return type === 'batch'
    ? { Attempts: 1, Interval: 24 * HOUR, Delay: 5e9, DelayFunction: 'constant', MaxDelay: 0, Unlimited: false }
    : { Attempts: 0, Interval: 0, Delay: 30e9, DelayFunction: 'exponential', MaxDelay: HOUR, Unlimited: true };
}

/**
 * Applies the defaults Nomad's Canonicalize applies and checks what its Validate checks that a client is likely to
 * get wrong. `namespace` is the request's namespace, used when the job names none. Throws HttpError.
 */
export function canonicalizeJob(input: unknown, namespace: string): JobSpec {
  if (!isObject(input)) throw new HttpError(400, 'Job must be specified');
  if (typeof input.ID !== 'string' || input.ID === '') throw new HttpError(400, "Job ID hasn't been provided");
  const type = str(input.Type, 'service');
  const errors: string[] = [];
  if (!JOB_TYPES.includes(type)) errors.push(`Invalid job type: ${JSON.stringify(type)}`);
  if (/\s/u.test(input.ID)) errors.push('Job ID contains a space');
  const jobReschedule = isObject(input.Reschedule) ? input.Reschedule : {};
  const groupsInput = Array.isArray(input.TaskGroups) ? input.TaskGroups : [];
  if (groupsInput.length === 0) errors.push('Missing job task groups');
  const groupNames = new Set<string>();
  const groups: GroupSpec[] = groupsInput.map((raw: unknown, gi: number) => {
    const g: Json = isObject(raw) ? raw : {};
    const name = str(g.Name, `group-${gi}`);
    const groupErrors: string[] = [];
    if (typeof g.Name !== 'string' || g.Name === '') errors.push(`Job task group ${gi + 1} missing name`);
    if (groupNames.has(name)) errors.push(`Job task group ${gi + 1} redefines '${name}' from group ${gi}`);
    groupNames.add(name);
    const scaling = isObject(g.Scaling) ? g.Scaling : null;
    const count = num(g.Count, scaling && typeof scaling.Min === 'number' ? scaling.Min : 1);
    if (count < 0) groupErrors.push("Task group count can't be negative");
    const restartIn = isObject(g.RestartPolicy) ? g.RestartPolicy : {};
    const restartDefault = defaultRestart(type);
    const restart: RestartPolicy = {
      ...restartIn,
      Attempts: num(restartIn.Attempts, restartDefault.Attempts),
      Interval: num(restartIn.Interval, restartDefault.Interval),
      Delay: num(restartIn.Delay, restartDefault.Delay),
      Mode: str(restartIn.Mode, restartDefault.Mode),
    };
    if (restart.Mode !== 'fail' && restart.Mode !== 'delay') groupErrors.push(`Unsupported restart mode: ${JSON.stringify(restart.Mode)}`);
    const rescheduleIn = { ...jobReschedule, ...(isObject(g.ReschedulePolicy) ? g.ReschedulePolicy : {}) };
    const rescheduleDefault = defaultReschedule(type);
    const reschedule: ReschedulePolicy = {
      ...rescheduleIn,
      Attempts: num(rescheduleIn.Attempts, rescheduleDefault.Attempts),
      Interval: num(rescheduleIn.Interval, rescheduleDefault.Interval),
      Delay: num(rescheduleIn.Delay, rescheduleDefault.Delay),
      DelayFunction: str(rescheduleIn.DelayFunction, rescheduleDefault.DelayFunction),
      MaxDelay: num(rescheduleIn.MaxDelay, rescheduleDefault.MaxDelay),
      Unlimited: typeof rescheduleIn.Unlimited === 'boolean' ? rescheduleIn.Unlimited : rescheduleDefault.Unlimited,
    };
    const tasksInput = Array.isArray(g.Tasks) ? g.Tasks : [];
    if (tasksInput.length === 0) groupErrors.push('Missing tasks for task group');
    const taskNames = new Set<string>();
    const tasks: TaskSpec[] = tasksInput.map((rawTask: unknown, ti: number) => {
      const t: Json = isObject(rawTask) ? rawTask : {};
      const taskName = str(t.Name, `task-${ti}`);
      const taskErrors: string[] = [];
      if (typeof t.Name !== 'string' || t.Name === '') groupErrors.push(`Task ${ti + 1} missing name`);
      if (taskNames.has(taskName)) groupErrors.push(`Task ${ti + 1} redefines '${taskName}' from task ${ti}`);
      taskNames.add(taskName);
      if (typeof t.Driver !== 'string' || t.Driver === '') taskErrors.push('Missing task driver');
      const resIn = isObject(t.Resources) ? t.Resources : {};
      const resources: TaskResources = { ...resIn, CPU: num(resIn.CPU, 100), MemoryMB: num(resIn.MemoryMB, 300) };
      if (resources.MemoryMB < 10) taskErrors.push(`Minimum MemoryMB value is 10; got ${resources.MemoryMB}`);
      if (taskErrors.length > 0) groupErrors.push(`Task ${taskName} validation failed: ${multiError(taskErrors)}`);
      const templates = Array.isArray(t.Templates) ? (t.Templates.filter(isObject) as TemplateSpec[]) : null;
      return {
        ...t,
        Name: taskName,
        Driver: typeof t.Driver === 'string' ? t.Driver : '',
        Config: isObject(t.Config) ? t.Config : null,
        Env: stringMap(t.Env),
        Meta: stringMap(t.Meta),
        Resources: resources,
        RestartPolicy: isObject(t.RestartPolicy) ? (t.RestartPolicy as Partial<RestartPolicy>) : null,
        KillTimeout: num(t.KillTimeout, 5e9),
        KillSignal: str(t.KillSignal, 'SIGTERM'),
        Templates: templates,
      };
    });
    if (groupErrors.length > 0) errors.push(`Task group ${name} validation failed: ${multiError(groupErrors)}`);
    const disk = isObject(g.EphemeralDisk) ? g.EphemeralDisk : {};
    return {
      ...g,
      Name: name,
      Count: count,
      Meta: stringMap(g.Meta),
      RestartPolicy: restart,
      ReschedulePolicy: reschedule,
      Tasks: tasks,
      EphemeralDisk: { ...disk, SizeMB: num(disk.SizeMB, 300) },
    };
  });
  if (errors.length > 0) throw new HttpError(500, multiError(errors));
  const datacenters = Array.isArray(input.Datacenters) ? input.Datacenters.filter((d): d is string => typeof d === 'string') : [];
  return {
    ...input,
    ID: input.ID,
    Name: str(input.Name, input.ID),
    Type: type,
    Namespace: str(input.Namespace, namespace),
    Region: str(input.Region, 'global'),
    Priority: num(input.Priority, 50),
    Datacenters: datacenters.length > 0 ? datacenters : ['*'],
    Meta: stringMap(input.Meta),
    TaskGroups: groups,
    Stop: input.Stop === true,
    Status: 'pending',
    StatusDescription: '',
    Version: 0,
    SubmitTime: 0,
    CreateIndex: 0,
    ModifyIndex: 0,
    JobModifyIndex: 0,
  };
}

const SERVER_FIELDS = ['Status', 'StatusDescription', 'Stable', 'Version', 'SubmitTime', 'CreateIndex', 'ModifyIndex', 'JobModifyIndex'];

/** Whether `next` differs from `previous` in what the user specified (Nomad's SpecChanged). */
export function specChanged(previous: JobSpec, next: JobSpec): boolean {
  const strip = (job: JobSpec) => {
    const copy: Json = { ...job };
    for (const field of SERVER_FIELDS) delete copy[field];
    return stableStringify(copy);
  };
  return strip(previous) !== strip(next);
}

/** What, when changed, makes Nomad replace a group's allocations rather than update them in place. */
export function destructiveKey(job: JobSpec, group: GroupSpec): string {
  return stableStringify({
    meta: [job.Meta, group.Meta],
    tasks: group.Tasks.map((t) => ({ ...t, KillTimeout: undefined, KillSignal: undefined, LogConfig: undefined })),
    disk: group.EphemeralDisk,
    networks: group.Networks,
  });
}

/** The task's restart policy: the group's with the task's own fields over it. */
export function effectiveRestart(group: GroupSpec, task: TaskSpec): RestartPolicy {
  const own = task.RestartPolicy ?? {};
  const merged: RestartPolicy = { ...group.RestartPolicy };
  for (const key of ['Attempts', 'Interval', 'Delay', 'Mode'] as const) {
    const value = own[key];
    if (value !== undefined && value !== null) (merged as Json)[key] = value;
  }
  return merged;
}
