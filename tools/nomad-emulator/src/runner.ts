/**
 * Runs one allocation's tasks as local processes, the way Nomad's raw_exec driver does. The `exec` driver is run
 * the same way here (no chroot, no cgroups): this emulator is for tests on one machine, not for isolation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { effectiveRestart, type GroupSpec, type JobSpec, type RestartPolicy, type TaskSpec } from './job.js';
import type { VariableStore } from './variables.js';
import { portEnvironment, type AllocatedPort } from './ports.js';
import { renderNomadVarTemplate, TemplateFailure, templateMode, usesNomadVar } from './template.js';
import { interpolate, metaEnvironment, ZERO_TIME } from './util.js';

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage: string;
  Message: string;
  Details: Record<string, string>;
  FailsTask: boolean;
  ExitCode: number;
  Signal: number;
  KillTimeout: number;
  StartDelay: number;
  RestartReason: string;
  FailedSibling: string;
  DriverError: string;
}

export interface TaskState {
  State: 'pending' | 'running' | 'dead';
  Failed: boolean;
  Restarts: number;
  LastRestart: string;
  StartedAt: string;
  FinishedAt: string;
  Events: TaskEvent[];
}

export interface NodeFacts {
  readonly id: string;
  readonly name: string;
  readonly datacenter: string;
  readonly region: string;
}

/** What the runner needs to know about its allocation; the cluster owns the record. */
export interface AllocContext {
  readonly id: string;
  readonly name: string;
  readonly index: number;
  readonly job: JobSpec;
  readonly group: GroupSpec;
  readonly taskStates: Record<string, TaskState>;
  readonly ports: readonly AllocatedPort[];
}

/** Go's `time.Duration.String()` for the messages Nomad puts into task events. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`;
  let seconds = ns / 1e9;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const s = `${trim(seconds)}s`;
  if (hours > 0) return `${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${minutes}m${s}`;
  return s;
}

function trim(value: number): string {
  return String(Number(value.toFixed(9)));
}

function event(type: string, message: string, extra: Partial<TaskEvent> = {}): TaskEvent {
  return {
    Type: type,
    Time: Date.now() * 1e6,
    DisplayMessage: message,
    Message: '',
    Details: {},
    FailsTask: false,
    ExitCode: 0,
    Signal: 0,
    KillTimeout: 0,
    StartDelay: 0,
    RestartReason: '',
    FailedSibling: '',
    DriverError: '',
    ...extra,
  };
}

export function newTaskState(): TaskState {
  return {
    State: 'pending',
    Failed: false,
    Restarts: 0,
    LastRestart: ZERO_TIME,
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
    Events: [],
  };
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

/** One task's process and its restart policy. */
class TaskRunner {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private policyRestarts: number[] = [];
  private userRestart = false;
  private stopping = false;
  private stopWaiters: Array<() => void> = [];
  readonly policy: RestartPolicy;

  constructor(
    private readonly owner: AllocRunner,
    readonly task: TaskSpec,
  ) {
    this.policy = effectiveRestart(owner.ctx.group, task);
  }

  get state(): TaskState {
    return this.owner.ctx.taskStates[this.task.Name]!;
  }

  get done(): boolean {
    return this.state.State === 'dead' && !this.timer && !this.child;
  }

  private push(e: TaskEvent): void {
    this.state.Events.push(e);
    if (this.state.Events.length > 10) this.state.Events.splice(0, this.state.Events.length - 10);
  }

  start(): void {
    this.push(event('Received', 'Task received by client'));
    this.owner.changed();
    this.push(event('Task Setup', 'Building Task Directory'));
    this.launch();
  }

  private launch(): void {
    if (this.stopping) return;
    const { allocDir } = this.owner;
    const taskDir = join(allocDir, this.task.Name);
    let env: Record<string, string>;
    let command: string;
    let args: string[];
    try {
      for (const sub of ['local', 'secrets', 'tmp']) mkdirSync(join(taskDir, sub), { recursive: true });
      for (const sub of ['data', 'logs', 'tmp']) mkdirSync(join(allocDir, 'alloc', sub), { recursive: true });
      env = this.environment(taskDir);
      const config = this.task.Config ?? {};
      if (typeof config.command !== 'string' || config.command === '') throw new Error('missing command in task config');
      command = interpolate(config.command, env, this.owner.nodeVariables);
      args = Array.isArray(config.args) ? config.args.map((a) => interpolate(String(a), env, this.owner.nodeVariables)) : [];
    } catch (error) {
      if (error instanceof TemplateFailure) {
        // Nomad reports a dependency it cannot find, then kills the task for a template that cannot render.
        if (error.missing) this.push(event('Template', `Missing: ${error.missing}`));
        this.push(event('Killing', `Template failed: ${error.message}`, { FailsTask: true }));
        this.fail();
        return;
      }
      this.push(event('Setup Failure', `failed to setup alloc: ${(error as Error).message}`, { FailsTask: true }));
      this.fail();
      return;
    }
    const logs = join(allocDir, 'alloc', 'logs');
    const out = openSync(join(logs, `${this.task.Name}.stdout.0`), 'a');
    const err = openSync(join(logs, `${this.task.Name}.stderr.0`), 'a');
    let child: ChildProcess;
    try {
      // detached: the task gets its own process group, so a stop reaches everything it started.
      child = spawn(command, args, { cwd: taskDir, env, stdio: ['ignore', out, err], detached: true });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.child = child;
    let spawned = false;
    child.once('spawn', () => {
      spawned = true;
      this.state.State = 'running';
      this.state.StartedAt = new Date().toISOString();
      this.push(event('Started', 'Task started by client'));
      this.owner.changed();
    });
    child.once('error', (error: Error) => {
      if (spawned) return;
      this.child = undefined;
      this.push(
        event('Driver Failure', `failed to launch command with executor: ${error.message}`, {
          DriverError: error.message,
        }),
      );
      this.exited(-1, null);
    });
    child.once('exit', (code, signal) => {
      if (!spawned) return;
      this.child = undefined;
      this.exited(code ?? -1, signal);
    });
  }

  private environment(taskDir: string): Record<string, string> {
    const { ctx, allocDir, options } = this.owner;
    const { job, group } = ctx;
    const base: Record<string, string> = {};
    for (const key of ['PATH', 'HOME']) if (process.env[key] !== undefined) base[key] = process.env[key]!;
    const nomad: Record<string, string> = {
      NOMAD_ALLOC_ID: ctx.id,
      NOMAD_ALLOC_INDEX: String(ctx.index),
      NOMAD_ALLOC_NAME: ctx.name,
      NOMAD_JOB_ID: job.ID,
      NOMAD_JOB_NAME: job.Name,
      NOMAD_GROUP_NAME: group.Name,
      NOMAD_TASK_NAME: this.task.Name,
      NOMAD_NAMESPACE: job.Namespace,
      NOMAD_REGION: options.region,
      NOMAD_DC: options.datacenter,
      NOMAD_ALLOC_DIR: join(allocDir, 'alloc'),
      NOMAD_TASK_DIR: join(taskDir, 'local'),
      NOMAD_SECRETS_DIR: join(taskDir, 'secrets'),
      NOMAD_CPU_LIMIT: String(this.task.Resources.CPU),
      NOMAD_MEMORY_LIMIT: String(this.task.Resources.MemoryMB),
      ...portEnvironment(ctx.ports, this.task.Name),
      ...metaEnvironment({ ...(job.Meta ?? {}), ...(group.Meta ?? {}), ...(this.task.Meta ?? {}) }),
    };
    const env: Record<string, string> = { ...base, ...nomad };
    for (const [key, value] of Object.entries(this.task.Env ?? {})) env[key] = interpolate(value, env, this.owner.nodeVariables);
    // Only embedded templates: those using nomadVar are rendered (a small subset, see template.ts), the others
    // written verbatim. Rendered at every start, so a restart sees the variable as it is then. Env templates are
    // read back as KEY=VALUE lines, which is how Nomad feeds `env = true` templates into the task environment.
    for (const template of this.task.Templates ?? []) {
      if (typeof template.EmbeddedTmpl !== 'string' || typeof template.DestPath !== 'string' || template.DestPath === '') continue;
      const destination = resolve(taskDir, template.DestPath);
      let content: string;
      let mode: number;
      try {
        mode = templateMode(template.Perms);
        content = usesNomadVar(template.EmbeddedTmpl)
          ? renderNomadVarTemplate(template.EmbeddedTmpl, {
              namespace: job.Namespace,
              region: options.region,
              jobId: job.ID,
              group: group.Name,
              task: this.task.Name,
              read: (namespace, path) => options.variables.get(namespace, path)?.Items,
            })
          : template.EmbeddedTmpl;
      } catch (error) {
        if (error instanceof TemplateFailure) throw new TemplateFailure(`${template.DestPath}: ${error.message}`, error.missing);
        throw error;
      }
      mkdirSync(dirname(destination), { recursive: true });
      writeFileSync(destination, content, { mode });
      // The mode given to writeFileSync applies only to a new file, and through the umask.
      chmodSync(destination, mode);
      if (template.Envvars === true) {
        for (const line of readFileSync(destination, 'utf8').split('\n')) {
          const trimmed = line.trim();
          if (trimmed === '' || trimmed.startsWith('#')) continue;
          const eq = trimmed.indexOf('=');
          if (eq > 0) env[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1).trim();
        }
      }
    }
    for (const key of Object.keys(nomad)) env[key] = nomad[key]!;
    return env;
  }

  private exited(code: number, signal: NodeJS.Signals | null): void {
    const signalNumber = signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0;
    this.push(
      event('Terminated', `Exit Code: ${code}${signal ? `, Signal: ${signalNumber}` : ''}`, {
        ExitCode: code,
        Signal: signalNumber,
        Details: { exit_code: String(code), signal: String(signalNumber), oom_killed: 'false' },
      }),
    );
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = undefined;
    if (this.stopping) {
      this.push(event('Killed', 'Task successfully killed'));
      this.finish(false);
      return;
    }
    if (this.userRestart) {
      this.userRestart = false;
      this.restartNow(0, 'User requested restart');
      return;
    }
    if (this.owner.ctx.job.Type === 'batch' && code === 0) {
      this.finish(false);
      return;
    }
    const now = Date.now();
    const intervalMs = this.policy.Interval / 1e6;
    this.policyRestarts = this.policyRestarts.filter((t) => now - t < intervalMs);
    if (this.policyRestarts.length < this.policy.Attempts) {
      this.policyRestarts.push(now);
      this.restartNow(this.policy.Delay, 'Restart within policy');
      return;
    }
    if (this.policy.Mode === 'delay') {
      const first = this.policyRestarts[0] ?? now;
      const wait = Math.max(this.policy.Delay / 1e6, first + intervalMs - now);
      this.policyRestarts = [];
      this.restartNow(wait * 1e6, 'Exceeded allowed attempts, applying a delay');
      return;
    }
    this.push(
      event(
        'Not Restarting',
        `Exceeded allowed attempts ${this.policy.Attempts} in interval ${formatGoDuration(this.policy.Interval)} and mode is "fail"`,
        { FailsTask: true, RestartReason: 'Exceeded allowed attempts' },
      ),
    );
    this.fail();
  }

  private restartNow(delayNs: number, reason: string): void {
    this.state.State = 'pending';
    this.state.Restarts += 1;
    this.state.LastRestart = new Date().toISOString();
    this.push(
      event('Restarting', `${reason} - Task restarting in ${formatGoDuration(delayNs)}`, {
        StartDelay: delayNs,
        RestartReason: reason,
      }),
    );
    this.owner.changed();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.launch();
    }, delayNs / 1e6);
  }

  private fail(): void {
    this.finish(true);
    this.owner.taskFailed(this.task.Name);
  }

  private finish(failed: boolean): void {
    this.state.State = 'dead';
    this.state.Failed = failed;
    this.state.FinishedAt = new Date().toISOString();
    this.owner.changed();
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** User restart: same process slot, Restarts+1, not counted against the restart policy. */
  restart(): boolean {
    if (this.stopping || this.state.State === 'dead') return false;
    this.push(
      event('Restart Signaled', 'User requested running tasks to restart', { RestartReason: 'User requested running tasks to restart' }),
    );
    if (this.child) {
      this.userRestart = true;
      this.signal(this.task.KillSignal);
      this.armKill();
    } else {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.restartNow(0, 'User requested restart');
    }
    this.owner.changed();
    return true;
  }

  stop(reason: string): Promise<void> {
    this.stopping = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.push(event('Killed', 'Task successfully killed'));
      this.finish(this.state.Failed);
      return Promise.resolve();
    }
    if (!this.child) return Promise.resolve();
    const promise = new Promise<void>((done) => this.stopWaiters.push(done));
    if (!this.killTimer) {
      this.push(
        event('Killing', `${reason}. Sent interrupt. Waiting ${formatGoDuration(this.task.KillTimeout)} before force killing`, {
          KillTimeout: this.task.KillTimeout,
        }),
      );
      this.owner.changed();
      this.signal(this.task.KillSignal);
      this.armKill();
    }
    return promise;
  }

  private armKill(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => this.signal('SIGKILL'), this.task.KillTimeout / 1e6);
  }

  private signal(name: string): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, name as NodeJS.Signals);
    } catch {
      try {
        process.kill(pid, name as NodeJS.Signals);
      } catch {
        // Already gone: its exit event finishes the bookkeeping.
      }
    }
  }
}

export interface RunnerOptions {
  readonly dataDir: string;
  readonly region: string;
  readonly datacenter: string;
  readonly nodeName: string;
  readonly nodeId: string;
  readonly variables: Pick<VariableStore, 'get'>;
}

/** All tasks of one allocation. Calls `onChange` after every task state change. */
export class AllocRunner {
  readonly allocDir: string;
  readonly nodeVariables: Record<string, string>;
  private readonly tasks: TaskRunner[];

  constructor(
    readonly ctx: AllocContext,
    readonly options: RunnerOptions,
    private readonly onChange: () => void,
  ) {
    this.allocDir = join(options.dataDir, 'allocs', ctx.id);
    this.nodeVariables = {
      'node.unique.name': options.nodeName,
      'node.unique.id': options.nodeId,
      'node.datacenter': options.datacenter,
      'node.region': options.region,
      'attr.unique.network.ip-address': '127.0.0.1',
      'attr.unique.hostname': options.nodeName,
    };
    for (const task of ctx.group.Tasks) ctx.taskStates[task.Name] = newTaskState();
    this.tasks = ctx.group.Tasks.map((task) => new TaskRunner(this, task));
  }

  start(): void {
    for (const task of this.tasks) task.start();
  }

  changed(): void {
    this.onChange();
  }

  /** A task failed for good: Nomad kills its siblings, and the allocation is failed. */
  taskFailed(taskName: string): void {
    for (const task of this.tasks) {
      if (task.task.Name === taskName || task.done) continue;
      task.state.Events.push(event('Sibling Task Failed', `Task's sibling "${taskName}" failed`, { FailedSibling: taskName }));
      void task.stop('Sibling task failed');
    }
  }

  restart(taskName: string | undefined): boolean {
    let any = false;
    for (const task of this.tasks) if (taskName === undefined || task.task.Name === taskName) any = task.restart() || any;
    return any;
  }

  hasTask(name: string): boolean {
    return this.tasks.some((t) => t.task.Name === name);
  }

  async stop(reason: string): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop(reason)));
  }
}
