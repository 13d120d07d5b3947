/** The emulated cluster's state: jobs, evaluations, allocations, the reconciler and placement on the one node. */
import { randomUUID } from 'node:crypto';
import { canonicalizeJob, destructiveKey, specChanged, type GroupSpec, type JobSpec } from './job.js';
import { assignPorts, MIN_DYNAMIC_PORT, reservedCollision, type AllocatedPort } from './ports.js';
import { AllocRunner, type TaskState } from './runner.js';
import { datacenterMatches, HttpError, nowNs } from './util.js';
import { VariableStore } from './variables.js';

export interface NodeConfig {
  readonly id: string;
  readonly name: string;
  readonly datacenter: string;
  readonly region: string;
  readonly cpuMhz: number;
  readonly memoryMb: number;
  readonly diskMb: number;
  readonly drivers: readonly string[];
}

export interface Evaluation {
  ID: string;
  Priority: number;
  Type: string;
  TriggeredBy: string;
  Namespace: string;
  JobID: string;
  JobModifyIndex: number;
  NodeID: string;
  NodeModifyIndex: number;
  DeploymentID: string;
  Status: string;
  StatusDescription: string;
  Wait: number;
  NextEval: string;
  PreviousEval: string;
  BlockedEval: string;
  FailedTGAllocs: Record<string, AllocationMetric> | null;
  QueuedAllocations: Record<string, number>;
  SnapshotIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface AllocationMetric {
  NodesEvaluated: number;
  NodesFiltered: number;
  NodesInPool: number;
  NodePool: string;
  NodesAvailable: Record<string, number>;
  ClassFiltered: Record<string, number> | null;
  ConstraintFiltered: Record<string, number> | null;
  NodesExhausted: number;
  ClassExhausted: Record<string, number> | null;
  DimensionExhausted: Record<string, number> | null;
  QuotaExhausted: string[] | null;
  Scores: null;
  AllocationTime: number;
  CoalescedFailures: number;
}

export interface Allocation {
  ID: string;
  Namespace: string;
  EvalID: string;
  Name: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  TaskGroup: string;
  DesiredStatus: string;
  DesiredDescription: string;
  DesiredTransition: { Migrate?: boolean; Reschedule?: boolean };
  ClientStatus: string;
  ClientDescription: string;
  TaskStates: Record<string, TaskState>;
  FollowupEvalID: string;
  PreviousAllocation: string;
  NextAllocation: string;
  RescheduleTracker: { Events: RescheduleEvent[]; LastReschedule: string } | null;
  CreateIndex: number;
  ModifyIndex: number;
  AllocModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}
interface RescheduleEvent {
  RescheduleTime: number;
  PrevAllocID: string;
  PrevNodeID: string;
  Delay: number;
}

/** An allocation with what the emulator keeps beside the API fields. */
interface AllocRecord {
  api: Allocation;
  index: number;
  job: JobSpec;
  jobCreateIndex: number;
  destructiveKey: string;
  runner: AllocRunner;
  ports: AllocatedPort[];
  rescheduleDue: boolean;
  rescheduleTimer?: NodeJS.Timeout;
  stopped?: Promise<void>;
}

interface ScalingEvent {
  Count: number | null;
  PreviousCount: number;
  Error: boolean;
  Message: string;
  Meta: Record<string, unknown> | null;
  EvalID: string | null;
  Time: number;
  CreateIndex: number;
}

interface JobRecord {
  job: JobSpec;
  blockedEval: string;
  queued: Record<string, number>;
  scalingEvents: Record<string, ScalingEvent[]>;
}

export interface RegisterResult {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings: string;
  Index: number;
  LastContact: number;
  KnownLeader: boolean;
  NextToken: string;
}

function key(namespace: string, id: string): string {
  return `${namespace}\u0000${id}`;
}

function terminalClient(status: string): boolean {
  return status === 'complete' || status === 'failed' || status === 'lost';
}

export class Cluster {
  index = 1;
  readonly tables = { jobs: 1, allocs: 1, evals: 1, summary: 1, nodes: 1, vars: 1 };
  readonly variables = new VariableStore(() => this.bump('vars'));
  private readonly jobs = new Map<string, JobRecord>();
  private readonly allocs = new Map<string, AllocRecord>();
  private readonly evals = new Map<string, Evaluation>();
  private readonly waiters = new Set<() => void>();
  private unblockScheduled = false;
  private readonly portCursor = { next: MIN_DYNAMIC_PORT };
  private closed = false;

  constructor(
    readonly node: NodeConfig,
    readonly namespaces: readonly string[],
    private readonly dataDir: string,
  ) {}

  /** Resolves at the next state change (or never, if none comes: the caller races it against its wait). */
  nextChange(): { promise: Promise<void>; cancel: () => void } {
    let waiter!: () => void;
    const promise = new Promise<void>((done) => (waiter = done));
    this.waiters.add(waiter);
    return { promise, cancel: () => this.waiters.delete(waiter) };
  }

  private bump(...tables: Array<keyof Cluster['tables']>): number {
    this.index += 1;
    for (const table of tables) this.tables[table] = this.index;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
    return this.index;
  }

  checkNamespace(namespace: string): void {
    if (namespace !== '*' && !this.namespaces.includes(namespace))
      throw new HttpError(400, `namespace ${JSON.stringify(namespace)} does not exist`);
  }

  // ---- reads ----

  listJobs(namespace: string, prefix: string): JobSpec[] {
    return [...this.jobs.values()]
      .map((r) => r.job)
      .filter((j) => (namespace === '*' || j.Namespace === namespace) && j.ID.startsWith(prefix))
      .sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
  }

  getJob(namespace: string, id: string): JobSpec | undefined {
    return this.jobs.get(key(namespace, id))?.job;
  }

  private record(namespace: string, id: string, text = 'job not found'): JobRecord {
    const record = this.jobs.get(key(namespace, id));
    if (!record) throw new HttpError(404, text);
    return record;
  }

  jobAllocations(namespace: string, id: string, all: boolean): Allocation[] {
    const job = this.getJob(namespace, id);
    return [...this.allocs.values()]
      .filter((a) => a.api.Namespace === namespace && a.api.JobID === id && (all || !job || a.jobCreateIndex === job.CreateIndex))
      .map((a) => a.api);
  }

  allocationRecord(id: string): AllocRecord {
    const record = this.allocs.get(id);
    if (!record) throw new HttpError(404, 'allocation not found');
    return record;
  }

  allocationJob(id: string): JobSpec {
    return this.allocationRecord(id).job;
  }

  jobEvaluations(namespace: string, id: string): Evaluation[] {
    return [...this.evals.values()]
      .filter((e) => e.Namespace === namespace && e.JobID === id)
      .sort((a, b) => b.CreateIndex - a.CreateIndex);
  }

  evaluation(id: string): Evaluation {
    const evaluation = this.evals.get(id);
    if (!evaluation) throw new HttpError(404, 'eval not found');
    return evaluation;
  }

  summary(namespace: string, id: string) {
    const record = this.record(namespace, id);
    const job = record.job;
    const summary: Record<string, Record<string, number>> = {};
    for (const group of job.TaskGroups)
      summary[group.Name] = {
        Queued: record.queued[group.Name] ?? 0,
        Complete: 0,
        Failed: 0,
        Running: 0,
        Starting: 0,
        Lost: 0,
        Unknown: 0,
      };
    for (const alloc of this.allocs.values()) {
      if (alloc.api.Namespace !== namespace || alloc.api.JobID !== id || alloc.jobCreateIndex !== job.CreateIndex) continue;
      const counts = summary[alloc.api.TaskGroup];
      if (!counts) continue;
      const status = alloc.api.ClientStatus;
      if (status === 'pending') counts.Starting! += 1;
      else if (status === 'running') counts.Running! += 1;
      else if (status === 'complete') counts.Complete! += 1;
      else if (status === 'failed') counts.Failed! += 1;
      else if (status === 'lost') counts.Lost! += 1;
    }
    return {
      JobID: job.ID,
      Namespace: job.Namespace,
      Summary: summary,
      Children: { Pending: 0, Running: 0, Dead: 0 },
      CreateIndex: job.CreateIndex,
      ModifyIndex: Math.max(job.ModifyIndex, this.tables.summary),
    };
  }

  scaleStatus(namespace: string, id: string) {
    const record = this.record(namespace, id, `job ${JSON.stringify(id)} not found`);
    const job = record.job;
    const groups: Record<string, unknown> = {};
    for (const group of job.TaskGroups) {
      const allocs = this.jobAllocations(namespace, id, false).filter((a) => a.TaskGroup === group.Name && a.DesiredStatus === 'run');
      groups[group.Name] = {
        Desired: group.Count,
        Placed: allocs.filter((a) => !terminalClient(a.ClientStatus)).length,
        Running: allocs.filter((a) => a.ClientStatus === 'running').length,
        Healthy: 0,
        Unhealthy: 0,
        Events: record.scalingEvents[group.Name] ?? [],
      };
    }
    return {
      JobID: job.ID,
      Namespace: job.Namespace,
      JobCreateIndex: job.CreateIndex,
      JobModifyIndex: job.JobModifyIndex,
      JobStopped: job.Stop,
      TaskGroups: groups,
    };
  }

  // ---- writes ----

  register(
    input: unknown,
    namespace: string,
    options: { enforceIndex?: boolean; jobModifyIndex?: number; preserveCounts?: boolean; urlId?: string },
  ): RegisterResult {
    const job = canonicalizeJob(input, namespace);
    if (options.urlId !== undefined && options.urlId !== job.ID) throw new HttpError(400, 'Job ID does not match name');
    this.checkNamespace(job.Namespace);
    if (job.Namespace === '*') throw new HttpError(400, 'job namespace cannot be "*"');
    const existing = this.jobs.get(key(job.Namespace, job.ID));
    if (options.enforceIndex) {
      const current = existing?.job.JobModifyIndex ?? 0;
      if (current !== (options.jobModifyIndex ?? 0))
        throw new HttpError(
          500,
          current === 0
            ? `Enforcing job modify index ${options.jobModifyIndex ?? 0}: job does not exist`
            : `Enforcing job modify index ${options.jobModifyIndex ?? 0}: job exists with conflicting job modify index: ${current}`,
        );
    }
    if (existing && existing.job.Type !== job.Type)
      throw new HttpError(500, `cannot update job from type ${JSON.stringify(existing.job.Type)} to ${JSON.stringify(job.Type)}`);
    if (existing && options.preserveCounts)
      for (const group of job.TaskGroups) {
        const old = existing.job.TaskGroups.find((g) => g.Name === group.Name);
        if (old) group.Count = old.Count;
      }
    // Nomad writes the job and its evaluation in one raft entry: one index for both.
    const index = this.bump('jobs', 'summary', 'evals');
    job.SubmitTime = nowNs();
    job.ModifyIndex = index;
    if (existing) {
      job.CreateIndex = existing.job.CreateIndex;
      if (specChanged(existing.job, job)) {
        job.Version = existing.job.Version + 1;
        job.JobModifyIndex = index;
      } else {
        job.Version = existing.job.Version;
        job.JobModifyIndex = existing.job.JobModifyIndex;
      }
      existing.job = job;
    } else {
      job.CreateIndex = index;
      job.JobModifyIndex = index;
      this.jobs.set(key(job.Namespace, job.ID), { job, blockedEval: '', queued: {}, scalingEvents: {} });
    }
    const evaluation = this.evaluate(this.jobs.get(key(job.Namespace, job.ID))!, 'job-register', undefined, undefined, index);
    return this.writeResult(evaluation, job.JobModifyIndex, index);
  }

  private writeResult(evaluation: Evaluation | undefined, jobModifyIndex: number, index: number): RegisterResult {
    return {
      EvalID: evaluation?.ID ?? '',
      EvalCreateIndex: evaluation?.CreateIndex ?? 0,
      JobModifyIndex: jobModifyIndex,
      Warnings: '',
      Index: index,
      LastContact: 0,
      KnownLeader: false,
      NextToken: '',
    };
  }

  deregister(namespace: string, id: string, purge: boolean) {
    const record = this.jobs.get(key(namespace, id));
    if (!record) return { ...this.writeResult(undefined, 0, this.index), VolumeEvalID: '', VolumeEvalIndex: 0 };
    let evaluation: Evaluation | undefined;
    if (purge) {
      this.jobs.delete(key(namespace, id));
      const index = this.bump('jobs', 'summary', 'evals');
      evaluation = this.newEval(record.job, 'job-deregister', index);
      evaluation.Status = 'complete';
      for (const alloc of this.allocs.values())
        if (alloc.api.Namespace === namespace && alloc.api.JobID === id && alloc.jobCreateIndex === record.job.CreateIndex)
          this.stopAlloc(alloc, 'alloc not needed since job is stopped');
      if (record.blockedEval) this.cancelEval(record.blockedEval);
      this.bump('allocs', 'evals');
      return { ...this.writeResult(evaluation, index, index), VolumeEvalID: '', VolumeEvalIndex: 0 };
    }
    const wasStopped = record.job.Stop;
    const index = this.bump('jobs', 'summary', 'evals');
    record.job = { ...record.job, Stop: true, ModifyIndex: index };
    if (!wasStopped) {
      record.job.Version += 1;
      record.job.JobModifyIndex = index;
    }
    evaluation = this.evaluate(record, 'job-deregister', undefined, undefined, index);
    return { ...this.writeResult(evaluation, record.job.JobModifyIndex, index), VolumeEvalID: '', VolumeEvalIndex: 0 };
  }

  scale(
    namespace: string,
    id: string,
    body: { Count?: unknown; Target?: unknown; Message?: unknown; Error?: unknown; Meta?: unknown },
  ): RegisterResult {
    const record = this.record(namespace, id, `job ${JSON.stringify(id)} not found`);
    const target = body.Target !== null && typeof body.Target === 'object' ? (body.Target as Record<string, unknown>) : {};
    const groupName = typeof target.Group === 'string' ? target.Group : '';
    if (groupName === '') throw new HttpError(400, 'missing task group name for scaling action');
    if (typeof target.Job === 'string' && target.Job !== '' && target.Job !== id)
      throw new HttpError(400, 'job ID in payload did not match URL');
    const group = record.job.TaskGroups.find((g) => g.Name === groupName);
    if (!group) throw new HttpError(400, `task group ${JSON.stringify(groupName)} specified for scaling does not exist in job`);
    const count = typeof body.Count === 'number' ? body.Count : undefined;
    if (count !== undefined) {
      if (count < 0) throw new HttpError(400, "scaling action count can't be negative");
      const min = group.Scaling?.Min;
      const max = group.Scaling?.Max;
      if (typeof max === 'number' && count > max)
        throw new HttpError(400, `group count was greater than scaling policy maximum: ${count} > ${max}`);
      if (typeof min === 'number' && count < min)
        throw new HttpError(400, `group count was less than scaling policy minimum: ${count} < ${min}`);
    }
    const previous = group.Count;
    let evaluation: Evaluation | undefined;
    let writeIndex: number | undefined;
    if (count !== undefined && !record.job.Stop) {
      const index = this.bump('jobs', 'summary', 'evals');
      writeIndex = index;
      const job: JobSpec = {
        ...record.job,
        TaskGroups: record.job.TaskGroups.map((g) => (g.Name === groupName ? { ...g, Count: count } : g)),
        ModifyIndex: index,
      };
      if (count !== previous) {
        job.Version += 1;
        job.JobModifyIndex = index;
      }
      record.job = job;
      evaluation = this.evaluate(record, 'job-scaling', undefined, undefined, index);
    }
    const events = (record.scalingEvents[groupName] ??= []);
    events.unshift({
      Count: count ?? null,
      PreviousCount: previous,
      Error: body.Error === true,
      Message: typeof body.Message === 'string' ? body.Message : '',
      Meta: body.Meta !== null && typeof body.Meta === 'object' ? (body.Meta as Record<string, unknown>) : null,
      EvalID: evaluation?.ID ?? null,
      Time: nowNs(),
      CreateIndex: (writeIndex ??= this.bump('jobs')),
    });
    if (events.length > 20) events.length = 20;
    return this.writeResult(evaluation, record.job.JobModifyIndex, writeIndex);
  }

  stopAllocation(id: string): { EvalID: string; Index: number } {
    const alloc = this.allocationRecord(id);
    const record = this.jobs.get(key(alloc.api.Namespace, alloc.api.JobID));
    alloc.api.DesiredTransition = { Migrate: true };
    this.stopAlloc(alloc, 'alloc is being migrated');
    const index = this.bump('allocs', 'summary', 'evals');
    if (!record || record.job.CreateIndex !== alloc.jobCreateIndex) {
      const evaluation = this.newEval(alloc.job, 'alloc-stop', index);
      evaluation.Status = 'complete';
      return { EvalID: evaluation.ID, Index: index };
    }
    const evaluation = this.evaluate(record, 'alloc-stop', alloc.api.ID, undefined, index);
    return { EvalID: evaluation.ID, Index: index };
  }

  restartAllocation(id: string, taskName: string | undefined): void {
    const alloc = this.allocationRecord(id);
    if (taskName !== undefined && !alloc.runner.hasTask(taskName))
      throw new HttpError(500, `Failed to restart task ${JSON.stringify(taskName)}: task not found`);
    if (alloc.api.DesiredStatus !== 'run' || terminalClient(alloc.api.ClientStatus)) throw new HttpError(500, 'Task not running');
    alloc.runner.restart(taskName);
  }

  // ---- scheduling ----

  private newEval(job: JobSpec, triggeredBy: string, at?: number): Evaluation {
    const index = at ?? this.bump('evals');
    const now = nowNs();
    const evaluation: Evaluation = {
      ID: randomUUID(),
      Priority: job.Priority,
      Type: job.Type,
      TriggeredBy: triggeredBy,
      Namespace: job.Namespace,
      JobID: job.ID,
      JobModifyIndex: job.JobModifyIndex,
      NodeID: '',
      NodeModifyIndex: 0,
      DeploymentID: '',
      Status: 'pending',
      StatusDescription: '',
      Wait: 0,
      NextEval: '',
      PreviousEval: '',
      BlockedEval: '',
      FailedTGAllocs: null,
      QueuedAllocations: {},
      SnapshotIndex: index,
      CreateIndex: index,
      ModifyIndex: index,
      CreateTime: now,
      ModifyTime: now,
    };
    this.evals.set(evaluation.ID, evaluation);
    return evaluation;
  }

  private cancelEval(id: string): void {
    const evaluation = this.evals.get(id);
    if (!evaluation || evaluation.Status !== 'blocked') return;
    evaluation.Status = 'canceled';
    evaluation.StatusDescription = 'evaluation is superseded';
    evaluation.ModifyIndex = this.bump('evals');
  }

  /** Runs the reconciler for a job now (evaluations complete synchronously) and returns the evaluation. */
  private evaluate(record: JobRecord, triggeredBy: string, stoppedAlloc?: string, reuse?: Evaluation, at?: number): Evaluation {
    const evaluation = reuse ?? this.newEval(record.job, triggeredBy, at);
    const failures = this.reconcile(record, evaluation, stoppedAlloc);
    const queued: Record<string, number> = {};
    for (const group of record.job.TaskGroups) queued[group.Name] = failures[group.Name]?.unplaced ?? 0;
    record.queued = queued;
    evaluation.QueuedAllocations = queued;
    const failedGroups = Object.entries(failures);
    if (reuse) {
      if (failedGroups.length === 0) {
        evaluation.Status = 'complete';
        record.blockedEval = '';
      }
      evaluation.ModifyIndex = this.bump('evals', 'summary');
      return evaluation;
    }
    if (failedGroups.length > 0) {
      evaluation.FailedTGAllocs = Object.fromEntries(failedGroups.map(([g, f]) => [g, f.metric]));
      if (record.blockedEval) this.cancelEval(record.blockedEval);
      const blocked = this.newEval(record.job, 'queued-allocs');
      blocked.Status = 'blocked';
      blocked.StatusDescription = 'created to place remaining allocations';
      blocked.PreviousEval = evaluation.ID;
      blocked.QueuedAllocations = queued;
      evaluation.BlockedEval = blocked.ID;
      record.blockedEval = blocked.ID;
    } else if (record.blockedEval) {
      this.cancelEval(record.blockedEval);
      record.blockedEval = '';
    }
    evaluation.Status = 'complete';
    evaluation.ModifyTime = nowNs();
    evaluation.ModifyIndex = this.bump('evals', 'summary');
    this.updateJobStatus(record);
    return evaluation;
  }

  private reconcile(
    record: JobRecord,
    evaluation: Evaluation,
    stoppedAlloc: string | undefined,
  ): Record<string, { unplaced: number; metric: AllocationMetric }> {
    const job = record.job;
    const mine = [...this.allocs.values()].filter(
      (a) =>
        a.api.Namespace === job.Namespace &&
        a.api.JobID === job.ID &&
        a.jobCreateIndex === job.CreateIndex &&
        a.api.DesiredStatus === 'run' &&
        a.api.NextAllocation === '',
    );
    const failures: Record<string, { unplaced: number; metric: AllocationMetric }> = {};
    let changed = false;
    for (const alloc of mine)
      if (job.Stop || !job.TaskGroups.some((g) => g.Name === alloc.api.TaskGroup)) {
        this.stopAlloc(alloc, 'alloc not needed since job is stopped');
        changed = true;
      }
    if (job.Stop) {
      if (changed) this.bump('allocs', 'summary');
      return failures;
    }
    for (const group of job.TaskGroups) {
      const key = destructiveKey(job, group);
      const replace: Array<{ index: number; previous?: AllocRecord; reschedule?: boolean }> = [];
      const live: AllocRecord[] = [];
      for (const alloc of mine.filter((a) => a.api.TaskGroup === group.Name)) {
        if (alloc.rescheduleDue) {
          replace.push({ index: alloc.index, previous: alloc, reschedule: true });
        } else if (alloc.destructiveKey !== key && !terminalClient(alloc.api.ClientStatus)) {
          this.stopAlloc(alloc, 'alloc is being updated due to job update');
          replace.push({ index: alloc.index, previous: alloc });
          changed = true;
        } else {
          if (alloc.job.Version !== job.Version && alloc.destructiveKey === key) {
            // An in-place update: the allocation now belongs to the new job version.
            alloc.job = job;
            alloc.api.ModifyIndex = this.index + 1;
            changed = true;
          }
          live.push(alloc);
        }
      }
      // Duplicate indexes can only come from an earlier bug; keep each index once (the oldest).
      const byIndex = new Map<number, AllocRecord>();
      for (const alloc of live.sort((a, b) => a.api.CreateIndex - b.api.CreateIndex)) {
        if (byIndex.has(alloc.index)) {
          this.stopAlloc(alloc, 'alloc not needed due to job update');
          changed = true;
        } else byIndex.set(alloc.index, alloc);
      }
      const occupied = new Set<number>(byIndex.keys());
      for (const item of replace) occupied.add(item.index);
      let surplus = occupied.size - group.Count;
      // Scale-down stops the highest indexes first; pending replacements go before running allocations.
      for (const index of [...occupied].sort((a, b) => b - a)) {
        if (surplus <= 0) break;
        const slot = replace.findIndex((r) => r.index === index);
        if (slot >= 0) {
          const [item] = replace.splice(slot, 1);
          if (item?.reschedule && item.previous) this.stopAlloc(item.previous, 'alloc not needed due to job update');
        } else this.stopAlloc(byIndex.get(index)!, 'alloc not needed due to job update');
        occupied.delete(index);
        surplus -= 1;
        changed = true;
      }
      const placements = [...replace];
      for (let index = 0; placements.length + byIndex.size < group.Count; index++)
        if (!occupied.has(index)) {
          placements.push({ index });
          occupied.add(index);
        }
      placements.sort((a, b) => a.index - b.index);
      // The replacement of a stopped (migrated) allocation links back to it, as Nomad's does.
      const migrated = stoppedAlloc === undefined ? undefined : this.allocs.get(stoppedAlloc);
      if (migrated && migrated.api.TaskGroup === group.Name) {
        const slot = placements.find((p) => p.index === migrated.index && p.previous === undefined);
        if (slot) slot.previous = migrated;
      }
      let unplaced = 0;
      let metric: AllocationMetric | undefined;
      for (const placement of placements) {
        const failure = this.checkFit(job, group);
        if (failure) {
          unplaced += 1;
          if (metric) metric.CoalescedFailures += 1;
          else metric = failure;
          continue;
        }
        this.place(job, group, key, placement.index, evaluation.ID, placement.previous, placement.reschedule ?? false, stoppedAlloc);
        changed = true;
      }
      if (metric) failures[group.Name] = { unplaced, metric };
    }
    if (changed) this.bump('allocs', 'summary');
    return failures;
  }

  /** Whether one more allocation of `group` fits on the node; the metric Nomad reports when it does not. */
  private checkFit(job: JobSpec, group: GroupSpec): AllocationMetric | undefined {
    const metric: AllocationMetric = {
      NodesEvaluated: 0,
      NodesFiltered: 0,
      NodesInPool: 1,
      NodePool: 'default',
      NodesAvailable: {},
      ClassFiltered: null,
      ConstraintFiltered: null,
      NodesExhausted: 0,
      ClassExhausted: null,
      DimensionExhausted: null,
      QuotaExhausted: null,
      Scores: null,
      AllocationTime: 0,
      CoalescedFailures: 0,
    };
    if (!job.Datacenters.some((dc) => datacenterMatches(dc, this.node.datacenter))) {
      for (const dc of job.Datacenters) if (!dc.includes('*')) metric.NodesAvailable[dc] = 0;
      return metric;
    }
    metric.NodesAvailable[this.node.datacenter] = 1;
    metric.NodesEvaluated = 1;
    if (group.Tasks.some((t) => !this.node.drivers.includes(t.Driver))) {
      metric.NodesFiltered = 1;
      metric.ConstraintFiltered = { 'missing drivers': 1 };
      return metric;
    }
    let cpu = 0;
    let memory = 0;
    for (const alloc of this.allocs.values()) {
      if (alloc.api.DesiredStatus !== 'run' || terminalClient(alloc.api.ClientStatus)) continue;
      const allocGroup = alloc.job.TaskGroups.find((g) => g.Name === alloc.api.TaskGroup);
      for (const task of allocGroup?.Tasks ?? []) {
        cpu += task.Resources.CPU;
        memory += task.Resources.MemoryMB;
      }
    }
    for (const task of group.Tasks) {
      cpu += task.Resources.CPU;
      memory += task.Resources.MemoryMB;
    }
    const dimension = cpu > this.node.cpuMhz ? 'cpu' : memory > this.node.memoryMb ? 'memory' : reservedCollision(group, this.portsInUse());
    if (!dimension) return undefined;
    metric.NodesExhausted = 1;
    metric.DimensionExhausted = { [dimension]: 1 };
    metric.ClassExhausted = { '': 1 };
    return metric;
  }

  /** Ports held by allocations that run or may still run. */
  private portsInUse(): Set<number> {
    const ports = new Set<number>();
    for (const alloc of this.allocs.values())
      if (!terminalClient(alloc.api.ClientStatus)) for (const port of alloc.ports) ports.add(port.value);
    return ports;
  }

  /** The ports an allocation was given, for its AllocatedResources. */
  allocationPorts(id: string): readonly AllocatedPort[] {
    return this.allocationRecord(id).ports;
  }

  private place(
    job: JobSpec,
    group: GroupSpec,
    groupKey: string,
    index: number,
    evalId: string,
    previous: AllocRecord | undefined,
    reschedule: boolean,
    stoppedAlloc: string | undefined,
  ): void {
    const createIndex = this.bump('allocs');
    const now = nowNs();
    const id = randomUUID();
    const taskStates: Record<string, TaskState> = {};
    const api: Allocation = {
      ID: id,
      Namespace: job.Namespace,
      EvalID: evalId,
      Name: `${job.ID}.${group.Name}[${index}]`,
      NodeID: this.node.id,
      NodeName: this.node.name,
      JobID: job.ID,
      TaskGroup: group.Name,
      DesiredStatus: 'run',
      DesiredDescription: '',
      DesiredTransition: {},
      ClientStatus: 'pending',
      ClientDescription: 'No tasks have started',
      TaskStates: taskStates,
      FollowupEvalID: '',
      PreviousAllocation: previous?.api.ID ?? '',
      NextAllocation: '',
      RescheduleTracker: null,
      CreateIndex: createIndex,
      ModifyIndex: createIndex,
      AllocModifyIndex: createIndex,
      CreateTime: now,
      ModifyTime: now,
    };
    if (previous && reschedule) {
      const events = [...(previous.api.RescheduleTracker?.Events ?? [])];
      events.push({ RescheduleTime: now, PrevAllocID: previous.api.ID, PrevNodeID: this.node.id, Delay: this.rescheduleDelay(previous) });
      api.RescheduleTracker = { Events: events, LastReschedule: 'ok' };
    }
    if (previous && (reschedule || previous.api.ID === stoppedAlloc || previous.api.DesiredStatus === 'stop')) {
      previous.api.NextAllocation = id;
      previous.api.ModifyIndex = createIndex;
    }
    const ports = assignPorts(group, this.portsInUse(), this.portCursor);
    const runner = new AllocRunner(
      { id, name: api.Name, index, job, group, taskStates, ports },
      {
        dataDir: this.dataDir,
        region: this.node.region,
        datacenter: this.node.datacenter,
        nodeName: this.node.name,
        nodeId: this.node.id,
        variables: this.variables,
      },
      () => this.taskChanged(record),
    );
    const record: AllocRecord = {
      api,
      index,
      job,
      jobCreateIndex: job.CreateIndex,
      destructiveKey: groupKey,
      runner,
      ports,
      rescheduleDue: false,
    };
    this.allocs.set(id, record);
    setImmediate(() => {
      if (!this.closed && record.api.DesiredStatus === 'run') runner.start();
    });
  }

  private stopAlloc(alloc: AllocRecord, description: string): void {
    if (alloc.rescheduleTimer) clearTimeout(alloc.rescheduleTimer);
    alloc.rescheduleDue = false;
    alloc.api.DesiredStatus = 'stop';
    alloc.api.DesiredDescription = description;
    alloc.api.ModifyIndex = this.index + 1;
    alloc.api.AllocModifyIndex = this.index + 1;
    alloc.api.ModifyTime = nowNs();
    alloc.stopped = alloc.runner.stop('Stopping task').then(() => this.taskChanged(alloc));
    if (Object.keys(alloc.api.TaskStates).length === 0 || Object.values(alloc.api.TaskStates).every((t) => t.Events.length === 0)) {
      // Never started: the client would mark it complete straight away.
      for (const state of Object.values(alloc.api.TaskStates)) state.State = 'dead';
      alloc.api.ClientStatus = 'complete';
      alloc.api.ClientDescription = 'All tasks have completed';
    }
  }

  private rescheduleDelay(alloc: AllocRecord): number {
    const group = alloc.job.TaskGroups.find((g) => g.Name === alloc.api.TaskGroup)!;
    const policy = group.ReschedulePolicy;
    const attempt = alloc.api.RescheduleTracker?.Events.length ?? 0;
    let delay = policy.Delay;
    if (policy.DelayFunction === 'exponential') delay = policy.Delay * 2 ** attempt;
    else if (policy.DelayFunction === 'fibonacci') {
      let [a, b] = [policy.Delay, policy.Delay];
      for (let i = 1; i < attempt; i++) [a, b] = [b, a + b];
      delay = attempt === 0 ? a : b;
    }
    return policy.MaxDelay > 0 ? Math.min(delay, policy.MaxDelay) : delay;
  }

  private canReschedule(alloc: AllocRecord): boolean {
    const group = alloc.job.TaskGroups.find((g) => g.Name === alloc.api.TaskGroup);
    if (!group) return false;
    const policy = group.ReschedulePolicy;
    if (policy.Unlimited) return true;
    const now = nowNs();
    const recent = (alloc.api.RescheduleTracker?.Events ?? []).filter((e) => now - e.RescheduleTime < policy.Interval);
    return recent.length < policy.Attempts;
  }

  /** A task's state changed: recompute the allocation's client status and react to it becoming terminal. */
  private taskChanged(alloc: AllocRecord): void {
    if (this.closed) return;
    const states = Object.values(alloc.api.TaskStates);
    const before = alloc.api.ClientStatus;
    let status: string;
    let description: string;
    if (states.some((s) => s.Failed)) {
      status = 'failed';
      description = 'Failed tasks';
    } else if (states.length > 0 && states.every((s) => s.State === 'dead')) {
      status = 'complete';
      description = 'All tasks have completed';
    } else if (states.some((s) => s.State === 'running')) {
      status = 'running';
      description = 'Tasks are running';
    } else {
      status = before === 'running' ? 'running' : 'pending';
      description = status === 'running' ? 'Tasks are running' : 'No tasks have started';
    }
    // A failed task ends the allocation only once its siblings, which are being killed, are dead too.
    if (status === 'failed' && states.some((s) => s.State !== 'dead')) {
      status = before;
      description = alloc.api.ClientDescription;
    }
    alloc.api.ClientStatus = status;
    alloc.api.ClientDescription = description;
    alloc.api.ModifyTime = nowNs();
    alloc.api.ModifyIndex = this.bump('allocs', 'summary');
    const record = this.jobs.get(key(alloc.api.Namespace, alloc.api.JobID));
    if (record) this.updateJobStatus(record);
    if (status !== before && terminalClient(status)) {
      if (status === 'failed' && alloc.api.DesiredStatus === 'run') this.scheduleReschedule(alloc);
      this.scheduleUnblock();
    }
  }

  private scheduleReschedule(alloc: AllocRecord): void {
    const record = this.jobs.get(key(alloc.api.Namespace, alloc.api.JobID));
    if (!record || record.job.Stop || record.job.CreateIndex !== alloc.jobCreateIndex || !this.canReschedule(alloc)) return;
    const delay = this.rescheduleDelay(alloc);
    const followup = this.newEval(record.job, 'alloc-failure');
    followup.Wait = delay;
    alloc.api.FollowupEvalID = followup.ID;
    alloc.api.ModifyIndex = this.bump('allocs');
    alloc.rescheduleTimer = setTimeout(() => {
      alloc.rescheduleTimer = undefined;
      if (this.closed) return;
      const current = this.jobs.get(key(alloc.api.Namespace, alloc.api.JobID));
      if (!current || alloc.api.DesiredStatus !== 'run' || current.job.CreateIndex !== alloc.jobCreateIndex) {
        followup.Status = 'canceled';
        followup.ModifyIndex = this.bump('evals');
        return;
      }
      alloc.rescheduleDue = true;
      this.evaluate(current, 'alloc-failure', undefined, undefined);
      followup.Status = 'complete';
      followup.ModifyIndex = this.bump('evals');
    }, delay / 1e6);
  }

  /** Freed capacity may let a blocked evaluation place what it could not. */
  private scheduleUnblock(): void {
    if (this.unblockScheduled) return;
    this.unblockScheduled = true;
    setImmediate(() => {
      this.unblockScheduled = false;
      if (this.closed) return;
      for (const record of this.jobs.values()) {
        if (!record.blockedEval) continue;
        const blocked = this.evals.get(record.blockedEval);
        if (blocked) this.evaluate(record, 'queued-allocs', undefined, blocked);
      }
    });
  }

  private updateJobStatus(record: JobRecord): void {
    const job = record.job;
    let status: string;
    const allocs = this.jobAllocations(job.Namespace, job.ID, false);
    if (job.Stop) status = 'dead';
    else if (allocs.some((a) => a.DesiredStatus === 'run' && !terminalClient(a.ClientStatus))) status = 'running';
    else if (record.blockedEval || allocs.length === 0) status = 'pending';
    else if (
      allocs.some((a) => a.FollowupEvalID !== '' && a.NextAllocation === '' && this.evals.get(a.FollowupEvalID)?.Status === 'pending')
    )
      status = 'pending';
    else status = 'dead';
    if (status !== job.Status) {
      job.Status = status;
      job.ModifyIndex = this.bump('jobs');
    }
  }

  async close(): Promise<void> {
    const stopping = [...this.allocs.values()].map((alloc) => {
      if (alloc.rescheduleTimer) clearTimeout(alloc.rescheduleTimer);
      return alloc.runner.stop('Agent shutting down');
    });
    this.closed = true;
    await Promise.all(stopping);
  }
}
