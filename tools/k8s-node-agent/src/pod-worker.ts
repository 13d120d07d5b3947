import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { nextBackoff, type BackoffPolicy } from './backoff.js';
import { containerCommandLine, resolveEnvironment } from './env.js';
import { ContainerConfigError } from './errors.js';
import { apiMessage, apiStatusCode } from './kube.js';
import type { AgentLogger } from './logger.js';
import type { PodPlacement } from './pod-fields.js';
import {
  commandProblem,
  signalGroup,
  startContainerProcess,
  type ContainerProcess,
  type ProcessExit,
  type ProcessRecords,
} from './processes.js';
import { buildPodStatus, OWN_CONDITIONS, type ContainerRecord, type PodCondition, type Termination } from './status.js';
import { PodVolumes, type VolumeSource } from './volumes.js';

/** What a pod worker asks of the API server. */
export interface PodApi extends VolumeSource {
  patchPodStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void>;
  deletePod(pod: V1Pod): Promise<void>;
}

/** What every pod worker of one agent shares. */
export interface PodWorkerContext {
  readonly logger: AgentLogger;
  readonly api: PodApi;
  readonly hostIP: string;
  readonly allocatable: PodPlacement['allocatable'];
  readonly backoff: BackoffPolicy;
  /** PATH, LANG, the KUBERNETES_SERVICE_* variables...: every container's environment before its own. */
  readonly baseEnv: Readonly<Record<string, string>>;
  /** How long to wait before retrying a container whose config (Secret, ConfigMap, volume) is not there yet. */
  readonly configRetryMs: number;
  readonly records: ProcessRecords;
  readonly podsDirectory: string;
  /** Called once the worker's processes are gone and its directory removed. */
  readonly finished: (worker: PodWorker) => void;
}

/** A kubelet stops containers of a pod deleted without grace after this long (its minimum grace period). */
const MINIMUM_GRACE_MS = 2000;
const STATUS_RETRY_MS = 1000;
const DELETE_ATTEMPTS = 5;

interface Runner {
  readonly spec: V1Container;
  record: ContainerRecord;
  process?: ContainerProcess;
  startedAtMs?: number;
  backoffMs?: number;
  timer?: NodeJS.Timeout;
}

type StopKind = 'deleted-with-grace' | 'gone' | 'shutdown';

function iso(at = Date.now()): string {
  return new Date(at).toISOString();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One pod on this node, identified by its uid (a same-named replacement is another worker): sets up
 * its directory and volumes, runs its containers as processes, restarts them by its restart policy
 * with back-off, reports its status, and on deletion stops them and removes the pod object.
 */
export class PodWorker {
  readonly uid: string;
  readonly directory: string;
  private pod: V1Pod;
  private readonly runners: Runner[];
  private readonly startTime: string;
  private sandboxReady = false;
  private volumes?: PodVolumes;
  private sandboxTimer?: NodeJS.Timeout;
  private tokenTimer?: NodeJS.Timeout;
  private ownConditions: PodCondition[] = [];
  private statusDirty = false;
  private statusInFlight = false;
  private stopping?: StopKind;
  private stopped?: Promise<void>;
  private killTimer?: NodeJS.Timeout;
  private killAt = Infinity;

  constructor(
    pod: V1Pod,
    readonly podIP: string,
    private readonly context: PodWorkerContext,
  ) {
    this.pod = pod;
    const metadata = pod.metadata ?? {};
    this.uid = metadata.uid ?? '';
    this.directory = path.join(context.podsDirectory, `${metadata.namespace}_${metadata.name}_${this.uid}`);
    const earlier = pod.status?.startTime;
    this.startTime = earlier ? new Date(earlier).toISOString() : iso();
    this.runners = (pod.spec?.containers ?? []).map((spec) => {
      // An agent restarted after a crash starts the containers again: that is a restart of each.
      const before = pod.status?.containerStatuses?.find((s) => s.name === spec.name);
      const restartCount = before?.containerID ? before.restartCount + 1 : (before?.restartCount ?? 0);
      return {
        spec,
        record: { name: spec.name, image: spec.image ?? '', restartCount, state: { kind: 'waiting', reason: 'ContainerCreating' } },
      };
    });
  }

  private get label(): string {
    return `pod ${this.pod.metadata?.namespace}/${this.pod.metadata?.name} (uid ${this.uid})`;
  }

  private get placement(): PodPlacement {
    return { podIP: this.podIP, hostIP: this.context.hostIP, allocatable: this.context.allocatable };
  }

  start(): void {
    this.context.logger.info(`${this.label}: starting ${this.runners.length} container(s) with pod IP ${this.podIP} in ${this.directory}`);
    void this.setUpSandbox();
  }

  /** A newer version of the pod object; a deletion timestamp starts the graceful stop. */
  update(pod: V1Pod): void {
    if (pod.metadata?.uid !== this.uid) return;
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      void this.stop('deleted-with-grace', grace * 1000);
    }
  }

  /** The pod object is gone (deleted without grace, or while the agent was not watching): stop at once. */
  gone(): Promise<void> {
    return this.stop('gone', MINIMUM_GRACE_MS);
  }

  /** The agent stops: SIGTERM, then SIGKILL after the pod's grace period, at most `capMs`. The pod object stays. */
  shutdown(capMs: number): Promise<void> {
    const grace = (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    return this.stop('shutdown', Math.min(grace, capMs));
  }

  private async setUpSandbox(): Promise<void> {
    if (this.stopping) return;
    try {
      await mkdir(this.directory, { recursive: true });
      this.volumes = new PodVolumes(this.pod, this.directory, this.placement, this.context.api);
      this.scheduleTokenRefresh(await this.volumes.setUp());
    } catch (error) {
      const reason = error instanceof ContainerConfigError ? error.reason : 'ContainerCreating';
      this.context.logger.warn(`${this.label}: ${describe(error)}; retrying in ${this.context.configRetryMs} ms`);
      for (const runner of this.runners) runner.record = { ...runner.record, state: { kind: 'waiting', reason, message: describe(error) } };
      this.publish();
      if (!this.stopping) this.sandboxTimer = setTimeout(() => void this.setUpSandbox(), this.context.configRetryMs);
      return;
    }
    if (this.stopping) return;
    this.sandboxReady = true;
    for (const runner of this.runners) void this.startContainer(runner);
  }

  private scheduleTokenRefresh(at: number | undefined): void {
    if (at === undefined || this.stopping) return;
    this.tokenTimer = setTimeout(
      () => {
        this.volumes?.refreshTokens().then(
          (next) => this.scheduleTokenRefresh(next),
          (error: unknown) => {
            this.context.logger.warn(`${this.label}: refreshing its service-account token failed (${describe(error)}); retrying in 10 s`);
            this.scheduleTokenRefresh(Date.now() + 10_000);
          },
        );
      },
      Math.max(0, at - Date.now()),
    );
  }

  private async startContainer(runner: Runner): Promise<void> {
    if (this.stopping || !this.volumes) return;
    const { spec } = runner;
    if (!spec.command?.length) {
      const message =
        `container ${spec.name} has no command: the ardea node agent ignores images and runs command and args ` +
        'as a local process; give the container a command';
      runner.record = { ...runner.record, state: { kind: 'waiting', reason: 'NoCommand', message } };
      this.context.logger.warn(`${this.label}: ${message}`);
      this.publish();
      return;
    }
    let env: Record<string, string>;
    let mounts;
    let commandLine: string[];
    try {
      env = await resolveEnvironment(this.pod, spec, this.placement, { ...this.context.baseEnv, HOME: this.directory }, this.context.api);
      commandLine = containerCommandLine(spec, env);
      mounts = this.volumes.mountsOf(spec);
    } catch (error) {
      const reason = error instanceof ContainerConfigError ? error.reason : 'CreateContainerConfigError';
      runner.record = { ...runner.record, state: { kind: 'waiting', reason, message: describe(error) } };
      this.context.logger.warn(`${this.label}: container ${spec.name}: ${describe(error)}; retrying in ${this.context.configRetryMs} ms`);
      this.publish();
      if (!this.stopping) runner.timer = setTimeout(() => void this.startContainer(runner), this.context.configRetryMs);
      return;
    }
    if (this.stopping) return;
    const startedAt = iso();
    const problem = commandProblem(commandLine[0], env.PATH);
    if (problem) {
      this.onExit(runner, { exitCode: 128 }, startedAt, { reason: 'StartError', message: problem });
      return;
    }
    let started: ContainerProcess;
    try {
      const workingDirectory = spec.workingDir ?? this.directory;
      await mkdir(workingDirectory, { recursive: true });
      started = startContainerProcess({
        commandLine,
        env,
        workingDirectory,
        mounts,
        logFile: path.join(this.directory, `${spec.name}.log`),
      });
    } catch (error) {
      this.onExit(runner, { exitCode: 128 }, startedAt, { reason: 'StartError', message: describe(error) });
      return;
    }
    runner.process = started;
    runner.startedAtMs = Date.now();
    this.context.records.add(started.pid, `${this.label} container ${spec.name}`);
    runner.record = { ...runner.record, containerID: `ardea://${started.pid}`, state: { kind: 'running', startedAt } };
    this.context.logger.info(`${this.label}: container ${spec.name} runs as pid ${started.pid}: ${commandLine.join(' ')}`);
    this.publish();
    void started.exited.then((exit) => this.onExit(runner, exit, startedAt));
  }

  private onExit(runner: Runner, exit: ProcessExit, startedAt: string, failure?: { reason: string; message: string }): void {
    const containerID = runner.process ? `ardea://${runner.process.pid}` : undefined;
    if (runner.process) this.context.records.remove(runner.process.pid);
    runner.process = undefined;
    const termination: Termination = {
      exitCode: exit.exitCode,
      ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
      reason: failure?.reason ?? (exit.exitCode === 0 ? 'Completed' : 'Error'),
      ...(failure ? { message: failure.message } : {}),
      startedAt,
      finishedAt: iso(),
      ...(containerID ? { containerID } : {}),
    };
    const { name } = runner.spec;
    this.context.logger.info(
      `${this.label}: container ${name} ended with exit code ${exit.exitCode}${failure ? ` (${failure.message})` : ''}`,
    );
    if (this.stopping) {
      runner.record = { ...runner.record, state: { kind: 'terminated', termination } };
      return;
    }
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Never' || (policy === 'OnFailure' && exit.exitCode === 0)) {
      runner.record = { ...runner.record, state: { kind: 'terminated', termination } };
      this.publish();
      return;
    }
    const ranFor = runner.startedAtMs === undefined ? 0 : Date.now() - runner.startedAtMs;
    runner.startedAtMs = undefined;
    const delay = nextBackoff(this.context.backoff, runner.backoffMs, ranFor);
    runner.backoffMs = delay;
    const { namespace, name: podName } = this.pod.metadata ?? {};
    const message = `back-off ${Math.ceil(delay / 1000)}s restarting failed container=${name} pod=${podName}_${namespace}(${this.uid})`;
    runner.record = { ...runner.record, lastTermination: termination, state: { kind: 'waiting', reason: 'CrashLoopBackOff', message } };
    this.publish();
    runner.timer = setTimeout(() => {
      runner.record = { ...runner.record, restartCount: runner.record.restartCount + 1 };
      void this.startContainer(runner);
    }, delay);
  }

  private stop(kind: StopKind, graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    if (deadline < this.killAt) {
      this.killAt = deadline;
      clearTimeout(this.killTimer);
      this.killTimer = setTimeout(() => this.signalAll('SIGKILL'), graceMs);
    }
    if (this.stopped) return this.stopped;
    this.stopping = kind;
    clearTimeout(this.sandboxTimer);
    clearTimeout(this.tokenTimer);
    for (const runner of this.runners) clearTimeout(runner.timer);
    const exits = this.runners.flatMap((runner) => (runner.process ? [runner.process.exited] : []));
    this.context.logger.info(`${this.label}: stopping (${kind}); ${exits.length} process(es), SIGKILL after ${graceMs} ms`);
    this.signalAll('SIGTERM');
    this.stopped = (async () => {
      await Promise.all(exits);
      clearTimeout(this.killTimer);
      if (kind === 'deleted-with-grace') await this.deleteObject();
      await rm(this.directory, { recursive: true, force: true }).catch((error: unknown) =>
        this.context.logger.warn(`${this.label}: could not remove ${this.directory}: ${describe(error)}`),
      );
      this.context.finished(this);
    })();
    return this.stopped;
  }

  private signalAll(signal: NodeJS.Signals): void {
    for (const runner of this.runners) if (runner.process) signalGroup(runner.process.pid, signal);
  }

  private async deleteObject(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.context.api.deletePod(this.pod);
        this.context.logger.info(`${this.label}: processes stopped; deleted the pod object`);
        return;
      } catch (error) {
        // 404: already gone; 409: the name now belongs to a replacement (the uid precondition protects it).
        const code = apiStatusCode(error);
        if (code === 404 || code === 409) return;
        if (attempt >= DELETE_ATTEMPTS) {
          this.context.logger.error(
            `${this.label}: deleting the pod object failed ${attempt} times (${apiMessage(error)}); it stays Terminating`,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, STATUS_RETRY_MS));
      }
    }
  }

  private publish(): void {
    if (this.stopping) return;
    this.statusDirty = true;
    if (!this.statusInFlight) void this.flushStatus();
  }

  private async flushStatus(): Promise<void> {
    this.statusInFlight = true;
    try {
      while (this.statusDirty && !this.stopping) {
        this.statusDirty = false;
        const fromPod = (this.pod.status?.conditions ?? []) as PodCondition[];
        const own = this.ownConditions.length > 0 ? this.ownConditions : fromPod.filter((c) => OWN_CONDITIONS.includes(c.type));
        const status = buildPodStatus({
          containers: this.runners.map((r) => r.record),
          sandboxReady: this.sandboxReady,
          podIP: this.podIP,
          hostIP: this.context.hostIP,
          startTime: this.startTime,
          previousConditions: [...fromPod.filter((c) => !OWN_CONDITIONS.includes(c.type)), ...own],
          now: iso(),
        });
        this.ownConditions = (status.conditions as PodCondition[]).filter((c) => OWN_CONDITIONS.includes(c.type));
        try {
          await this.context.api.patchPodStatus(this.pod, status);
        } catch (error) {
          if (apiStatusCode(error) === 404) return;
          this.context.logger.warn(`${this.label}: reporting its status failed (${apiMessage(error)}); retrying`);
          this.statusDirty = true;
          await new Promise((resolve) => setTimeout(resolve, STATUS_RETRY_MS));
        }
      }
    } finally {
      this.statusInFlight = false;
    }
  }
}
