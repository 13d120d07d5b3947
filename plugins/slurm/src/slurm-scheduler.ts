import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type ContainerIdentity,
  type ContainerLogChunk,
  type ContainerLogRequest,
  type ContainerPlan,
  type ContainerStatus,
  decodeLogChunk,
  describeError,
  type ExecutorSpec,
  type Logger,
  logByteRange,
  MiB,
  type PackingPlan,
  planContainerChanges,
  pollUntilDone,
  poolResourceName,
  type Scheduler,
  type ScheduleRequest,
  SchedulerError,
  type SchedulerMode,
  shellCommand,
  shellQuote,
  startAllOrUndo,
  type UpdateRequest,
} from '@ardea/core/plugin';
import type { SshSettings } from './slurm-config.js';
import { checkJobTemplate, DEFAULT_JOB_TEMPLATE, renderJobTemplate, templateValues } from './job-script.js';
import {
  containerState,
  isLive,
  jobName,
  jobNameStem,
  newestJobs,
  oneLine,
  parseSbatch,
  parseScontrolJobs,
  parseSqueue,
  SQUEUE_FORMAT,
  type SlurmJob,
} from './slurm-jobs.js';
import { readRemoteRange } from './sftp-files.js';
import { SshConnection, SshError, type ExecResult } from './ssh-connection.js';

export interface SlurmSchedulerOptions {
  readonly ssh: SshSettings;
  /** Absolute path on the cluster's shared filesystem. */
  readonly workDirectory: string;
  readonly partition?: string | undefined;
  readonly account?: string | undefined;
  readonly timeLimit?: string | undefined;
  readonly jobNamePrefix: string;
  /** A local template file; the built-in {@link DEFAULT_JOB_TEMPLATE} when undefined. */
  readonly jobTemplatePath?: string | undefined;
  readonly sbatchOptions: readonly string[];
  readonly container0: { readonly cpus: number; readonly memoryMb: number };
  readonly stopTimeoutMs: number;
  /** How often to look at squeue while waiting for cancelled jobs to end. */
  readonly pollIntervalMs?: number;
}

/** What is needed to (re)submit one container: its script is on the cluster, its name fixed. */
interface ContainerFiles {
  readonly containerId: number;
  readonly jobName: string;
  readonly script: string;
  readonly logFile: string;
}

const SCRIPT_FILE = /^container-(\d+)\.sh$/;

/**
 * A library-mode scheduler for Slurm, driven over SSH on the cluster's login node. Every container
 * is its own batch job named `<prefix><name>-<container>`, so containers start, stop, scale and
 * restart independently; `<name>` is the topology's `poolResourceName` (the topology name when it is
 * a DNS label, folded with a hash otherwise), which also names its directory.
 *
 * Nothing is kept between calls: the job scripts under `<workDirectory>/<name>/jobs` say which
 * containers the topology should have (and are what a restart resubmits), and `squeue`, searched by
 * job name, says what Slurm is doing with them. A container whose job has ended or vanished without
 * Ardea stopping it is reported `failed`; Slurm does not restart it on its own.
 */
export class SlurmScheduler implements Scheduler {
  readonly mode: SchedulerMode = 'library';
  /** One job per container: any container can be submitted or cancelled on its own. */
  readonly containerIdentity: ContainerIdentity = 'per-container';

  private readonly ssh: SshConnection;
  private readonly logger: Logger;
  private template: Promise<string> | undefined;

  constructor(
    private readonly options: SlurmSchedulerOptions,
    logger: Logger,
  ) {
    this.ssh = new SshConnection(options.ssh, 'scheduler');
    this.logger = logger;
  }

  async schedule(request: ScheduleRequest): Promise<void> {
    const name = request.topology.name;
    const action = `cannot schedule topology '${name}' on Slurm`;
    const containers: Array<{ id: number; plan: ContainerPlan | undefined }> = [
      { id: 0, plan: undefined },
      ...request.packingPlan.containers.map((plan) => ({ id: plan.id, plan })),
    ];
    const duplicate = containers.find((container, index) => containers.findIndex((other) => other.id === container.id) !== index);
    if (duplicate) throw new SchedulerError(`${action}: container ${duplicate.id} appears twice`);

    await this.guard(action, async () => {
      const template = await this.jobTemplate();
      const [scripts, jobs] = await Promise.all([this.scriptContainers(name), this.jobs(name)]);
      const live = jobs.filter(isLive);
      if (scripts.length > 0 || live.length > 0) {
        const liveJobs = live.map((job) => `${job.jobId} (${jobName(this.options.jobNamePrefix, name, job.containerId)})`).join(', ');
        throw new SchedulerError(
          `${action}: it is already scheduled ` +
            `(${live.length > 0 ? `jobs ${liveJobs}` : `job scripts in ${this.jobsDirectory(name)}`}); kill it first`,
        );
      }
      const createdTopologyDirectory = !(await this.remoteDirectoryExists(this.topologyDirectory(name)));
      await this.run(
        shellCommand(['mkdir', '-p', '--', this.jobsDirectory(name), this.logsDirectory(name)]),
        'create the job and log directories',
      );
      let submitted: string[];
      try {
        submitted = await startAllOrUndo(
          containers,
          (container) => {
            const files = this.files(name, container.id);
            const resources = container.plan ? this.resourcesOf(container.plan) : this.options.container0;
            return this.submit(name, files, this.script(template, name, files, resources, request.executor));
          },
          (_container, jobId) => this.cancelAndWait(name, [jobId], 'undo a failed schedule'),
          this.logger.child({ topology: name }),
          (container) => `the job of container ${container.id}`,
        );
      } catch (error) {
        const leftovers = createdTopologyDirectory ? this.topologyDirectory(name) : this.jobsDirectory(name);
        await this.run(shellCommand(['rm', '-rf', '--', leftovers]), `remove ${leftovers}`).catch((cleanup: unknown) =>
          this.logger.warn('could not remove the files of a failed schedule', {
            topology: name,
            directory: leftovers,
            error: describeError(cleanup),
          }),
        );
        throw error;
      }
      this.logger.info('topology scheduled', { topology: name, jobs: submitted });
    });
  }

  async status(topologyName: string): Promise<ContainerStatus[]> {
    return this.guard(`cannot get the status of topology '${topologyName}' on Slurm`, async () => {
      const { expected, jobs } = await this.known(topologyName);
      const newest = newestJobs(jobs);
      const ids = [...new Set([...expected, ...jobs.filter(isLive).map((job) => job.containerId)])].sort((a, b) => a - b);
      const details = await this.jobDetails(ids.flatMap((id) => newest.get(id)?.jobId ?? []));
      return ids.map((containerId): ContainerStatus => {
        const job = newest.get(containerId);
        const logFile = this.files(topologyName, containerId).logFile;
        if (!job) {
          return {
            containerId,
            state: 'failed',
            restarts: 0,
            message:
              `no Slurm job named ${jobName(this.options.jobNamePrefix, topologyName, containerId)} is known any more (it ` +
              `ended longer ago than Slurm's MinJobAge, or was purged); log: ${logFile}; 'ardea restart' submits it again`,
          };
        }
        const detail = details.get(job.jobId);
        const state = containerState(job.state);
        const restarts = Number(detail?.Restarts ?? 0);
        const host = batchHost(job, detail);
        return {
          containerId,
          state,
          handle: job.jobId,
          restarts: Number.isFinite(restarts) ? restarts : 0,
          ...(state === 'running' ? {} : { message: this.describeJob(job, detail, logFile) }),
          ...(host ? { host } : {}),
        };
      });
    });
  }

  async restart(topologyName: string, containerId?: number): Promise<void> {
    const action =
      `cannot restart ${containerId === undefined ? 'the containers' : `container ${containerId}`} ` +
      `of topology '${topologyName}' on Slurm`;
    await this.guard(action, async () => {
      const { expected, jobs } = await this.known(topologyName);
      if (containerId !== undefined && !expected.includes(containerId)) {
        throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are ${expected.join(', ')}`);
      }
      const targets = containerId === undefined ? expected : [containerId];
      const old = jobs.filter((job) => isLive(job) && targets.includes(job.containerId)).map((job) => job.jobId);
      // The replacement starts only once the old job is gone, so one container never runs twice.
      await this.cancelAndWait(topologyName, old, 'restart');
      const failures: unknown[] = [];
      const replaced: string[] = [];
      for (const id of targets) {
        try {
          replaced.push(await this.submit(topologyName, this.files(topologyName, id)));
        } catch (error) {
          failures.push(error);
        }
      }
      this.logger.info('containers restarted', { topology: topologyName, containers: targets, cancelled: old, submitted: replaced });
      if (failures.length > 0) throw failures[0];
    });
  }

  async update(request: UpdateRequest): Promise<PackingPlan> {
    const name = request.topologyName;
    const action = `cannot update topology '${name}' on Slurm`;
    return this.guard(action, async () => {
      const { expected, jobs } = await this.known(name);
      const live = jobs.filter(isLive);
      // A container counts as there while it has a job script or a live job.
      const changes = planContainerChanges(request, [...expected, ...live.map((job) => job.containerId)]);

      const template = changes.added.length > 0 ? await this.jobTemplate() : '';
      const submitted = await startAllOrUndo(
        changes.added,
        (container) => {
          const files = this.files(name, container.id);
          return this.submit(name, files, this.script(template, name, files, this.resourcesOf(container), request.executor));
        },
        async (container, jobId) => {
          await this.cancelAndWait(name, [jobId], 'undo a failed update');
          await this.removeScripts(name, [container.id]);
        },
        this.logger.child({ topology: name }),
        (container) => `the job of container ${container.id}`,
      );

      if (changes.removed.length > 0) {
        const cancelled = live.filter((job) => changes.removed.includes(job.containerId)).map((job) => job.jobId);
        await this.cancelAndWait(name, cancelled, 'remove containers');
        await this.removeScripts(name, changes.removed);
      }
      const added = changes.added.map((container) => container.id);
      this.logger.info('topology updated', { topology: name, added, removed: changes.removed, submitted });
      return request.proposed;
    });
  }

  async kill(topologyName: string): Promise<void> {
    await this.guard(`cannot kill topology '${topologyName}' on Slurm`, async () => {
      const live = (await this.jobs(topologyName)).filter(isLive).map((job) => job.jobId);
      try {
        await this.cancelAndWait(topologyName, live, 'kill');
      } catch (error) {
        // The jobs are cancelled and Slurm will end them; the topology must still be removable.
        if (!(error instanceof SchedulerError) || error.code !== 'slurm.stop-timeout') throw error;
        this.logger.warn('cancelled jobs had not ended when kill gave up waiting', { topology: topologyName, error: error.message });
      }
      await this.run(shellCommand(['rm', '-rf', '--', this.jobsDirectory(topologyName)]), `remove ${this.jobsDirectory(topologyName)}`);
      if (live.length > 0) this.logger.info('topology killed', { topology: topologyName, cancelled: live });
    });
  }

  /**
   * Reads the container's job output file (`--output`, appended to by every job of the container)
   * over SFTP on the login node, only the bytes asked for. That is the file the job writes on its
   * node: the work directory is on the cluster's shared filesystem, which the login node sees too
   * (allowing for the filesystem's own delay in showing a node's writes). Before the container's
   * first job starts there is no file yet, which reads as an empty log.
   */
  async containerLog(topologyName: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk> {
    const action = `cannot read the log of container ${containerId} of topology '${topologyName}' on Slurm`;
    return this.guard(action, async () => {
      const logFile = this.files(topologyName, containerId).logFile;
      // Whether the container exists is asked at the same time as the file is read: a follower polls.
      const [{ expected, jobs }, read] = await Promise.all([
        this.known(topologyName),
        this.ssh
          .withSftp((sftp) => readRemoteRange(sftp, logFile, (size) => logByteRange(size, request)))
          .catch((error: unknown) => {
            if (error instanceof SshError) throw error;
            throw new SchedulerError(`${action}: ${this.ssh.target}:${logFile}: ${describeError(error)}`, { cause: error });
          }),
      ]);
      const containers = [...new Set([...expected, ...jobs.filter(isLive).map((job) => job.containerId)])].sort((a, b) => a - b);
      if (!containers.includes(containerId)) {
        throw new SchedulerError(`${action}: the topology has no container ${containerId}; its containers are ${containers.join(', ')}`);
      }
      return decodeLogChunk(containerId, read?.bytes ?? new Uint8Array(0), read?.start ?? 0, request, `${this.ssh.target}:${logFile}`);
    });
  }

  /** Slurm has no web pages of its own for a job. */
  async jobLinks(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.ssh.close();
  }

  /** The topology's expected containers and jobs, or a SchedulerError when it has neither. */
  private async known(topologyName: string): Promise<{ expected: number[]; jobs: SlurmJob[] }> {
    const [expected, jobs] = await Promise.all([this.scriptContainers(topologyName), this.jobs(topologyName)]);
    if (expected.length === 0 && !jobs.some(isLive)) {
      throw new SchedulerError(
        `topology '${topologyName}' is not scheduled on the Slurm cluster at ${this.ssh.address}: no job scripts ` +
          `in ${this.jobsDirectory(topologyName)} and no live jobs ` +
          `named ${jobNameStem(this.options.jobNamePrefix, topologyName)}-<container>`,
      );
    }
    return { expected, jobs };
  }

  /** Every job of the topology squeue still knows, ended ones included (until Slurm's MinJobAge). */
  private async jobs(topologyName: string): Promise<SlurmJob[]> {
    const result = await this.run(
      shellCommand(['squeue', '--me', '--noheader', '--states=all', `--format=${SQUEUE_FORMAT}`]),
      'list jobs with squeue',
      true,
    );
    return parseSqueue(result.stdout, this.options.jobNamePrefix, topologyName);
  }

  /** `scontrol show job -o` for each job; jobs Slurm has already purged are left out. */
  private async jobDetails(jobIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    if (jobIds.length === 0) return new Map();
    const command = `for job in ${jobIds.map(shellQuote).join(' ')}; do scontrol show job --oneliner "$job" 2>/dev/null; done; true`;
    return parseScontrolJobs((await this.run(command, 'read job details with scontrol', true)).stdout);
  }

  /** Container ids with a job script: the containers the topology should have. */
  private async scriptContainers(topologyName: string): Promise<number[]> {
    const directory = shellQuote(this.jobsDirectory(topologyName));
    const result = await this.run(`if [ -d ${directory} ]; then ls -1 -- ${directory}; fi`, 'list job scripts', true);
    return result.stdout
      .split('\n')
      .map((file) => SCRIPT_FILE.exec(file.trim())?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async remoteDirectoryExists(directory: string): Promise<boolean> {
    const result = await this.ssh.exec(`test -d ${shellQuote(directory)}`, { retryOnDisconnect: true });
    return result.code === 0;
  }

  /**
   * Writes the job script (when given) and submits it in one round trip. sbatch's command line sets
   * what Ardea relies on to find and follow the job; resources travel in the script's `#SBATCH`
   * lines so that a restart resubmits the container exactly as it was first submitted.
   */
  private async submit(topologyName: string, files: ContainerFiles, script?: string): Promise<string> {
    const sbatch = shellCommand([
      'sbatch',
      '--parsable',
      `--job-name=${files.jobName}`,
      `--output=${files.logFile}`,
      '--open-mode=append',
      `--chdir=${this.topologyDirectory(topologyName)}`,
      files.script,
    ]);
    // The script exports the cluster config, credentials included: its owner's alone.
    const command = script === undefined ? sbatch : `umask 077 && cat > ${shellQuote(files.script)} && ${sbatch}`;
    const result = await this.ssh.exec(command, script === undefined ? {} : { stdin: script });
    const jobId = result.code === 0 ? parseSbatch(result.stdout) : undefined;
    if (jobId === undefined) {
      if (script !== undefined) await this.removeScripts(topologyName, [files.containerId]).catch(() => undefined);
      const said = oneLine(result.stderr) || oneLine(result.stdout) || `exit status ${result.code ?? result.signal}`;
      throw new SchedulerError(
        `topology '${topologyName}': Slurm refused the job of container ${files.containerId} (${files.jobName}): ${said}; ` +
          `check partition, account, timeLimit and sbatchOptions in the scheduler config`,
        { code: 'slurm.sbatch' },
      );
    }
    this.logger.debug('job submitted', { topology: topologyName, containerId: files.containerId, jobId });
    return jobId;
  }

  /** Cancels the jobs and waits until none of them runs any more. */
  private async cancelAndWait(topologyName: string, jobIds: readonly string[], why: string): Promise<void> {
    if (jobIds.length === 0) return;
    const result = await this.ssh.exec(shellCommand(['scancel', '--quiet', ...jobIds]), { retryOnDisconnect: true });
    if (result.code !== 0) {
      throw new SchedulerError(
        `topology '${topologyName}': scancel ${jobIds.join(' ')} (to ${why}) ` +
          `failed: ${oneLine(result.stderr) || `exit status ${result.code}`}`,
      );
    }
    await pollUntilDone(async () => (await this.jobs(topologyName)).filter((job) => jobIds.includes(job.jobId) && isLive(job)), {
      timeoutMs: this.options.stopTimeoutMs,
      intervalMs: this.options.pollIntervalMs ?? 250,
      timedOut: (running) =>
        new SchedulerError(
          `topology '${topologyName}': cancelled job(s) ${running.map((job) => `${job.jobId} (${job.state})`).join(', ')} ` +
            `did not end within ${this.options.stopTimeoutMs} ms (to ${why}); ` +
            `raise scheduler.stopTimeoutMs or look at them with scontrol show job`,
          { code: 'slurm.stop-timeout' },
        ),
    });
  }

  private async removeScripts(topologyName: string, containerIds: readonly number[]): Promise<void> {
    if (containerIds.length === 0) return;
    await this.run(
      shellCommand(['rm', '-f', '--', ...containerIds.map((id) => this.files(topologyName, id).script)]),
      'remove job scripts',
    );
  }

  /** Runs a command that must succeed; its failure names what it was for and what the login node said. */
  private async run(command: string, what: string, idempotent = false): Promise<ExecResult> {
    const result = await this.ssh.exec(command, { retryOnDisconnect: idempotent });
    if (result.code !== 0) {
      throw new SchedulerError(
        `could not ${what} on ${this.ssh.address}: ${oneLine(result.stderr) || `exit status ${result.code ?? result.signal}`} ` +
          `(command: ${command})`,
      );
    }
    return result;
  }

  /** Turns SSH failures into one SchedulerError that says what was being done. */
  private async guard<T>(action: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof SshError) throw new SchedulerError(`${action}: ${error.message}`, { cause: error, code: error.code });
      throw error;
    }
  }

  private script(
    template: string,
    topologyName: string,
    files: ContainerFiles,
    resources: { cpus: number; memoryMb: number },
    executor: ExecutorSpec,
  ): string {
    const body = renderJobTemplate(
      template,
      templateValues({
        topologyName,
        containerId: files.containerId,
        jobName: files.jobName,
        cpus: resources.cpus,
        memoryMb: resources.memoryMb,
        workDirectory: this.topologyDirectory(topologyName),
        logFile: files.logFile,
        executor,
      }),
    );
    const directives = [
      `--cpus-per-task=${resources.cpus}`,
      `--mem=${resources.memoryMb}`,
      ...(this.options.partition ? [`--partition=${this.options.partition}`] : []),
      ...(this.options.account ? [`--account=${this.options.account}`] : []),
      ...(this.options.timeLimit ? [`--time=${this.options.timeLimit}`] : []),
      ...this.options.sbatchOptions,
    ].map((option) => `#SBATCH ${option}`);
    // sbatch reads #SBATCH lines only before the first command, so they go right after the shebang;
    // the template's own #SBATCH lines follow and override these.
    const [shebang, ...rest] = body.split('\n');
    return [shebang, '# resources and placement, written by the Ardea Slurm scheduler:', ...directives, ...rest].join('\n');
  }

  private resourcesOf(container: ContainerPlan): { cpus: number; memoryMb: number } {
    const granted = container.scheduled ?? container.required;
    return { cpus: Math.max(1, Math.ceil(granted.cpu - 1e-9)), memoryMb: Math.max(1, Math.ceil(granted.ramBytes / MiB)) };
  }

  private describeJob(job: SlurmJob, detail: Record<string, string> | undefined, logFile: string): string {
    const state = containerState(job.state);
    if (state === 'pending')
      return `Slurm job ${job.jobId} is ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}`;
    const facts = [
      detail?.ExitCode && detail.ExitCode !== '0:0' ? `exit code ${detail.ExitCode}` : undefined,
      detail?.Reason && detail.Reason !== 'None' ? `reason ${detail.Reason}` : undefined,
      detail?.RunTime ? `ran ${detail.RunTime}` : undefined,
    ].filter(Boolean);
    const outside = job.state === 'CANCELLED' ? ' outside Ardea' : '';
    return `Slurm job ${job.jobId} is ${job.state}${outside}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}; log: ${logFile}`;
  }

  private jobTemplate(): Promise<string> {
    const file = this.options.jobTemplatePath;
    this.template ??= (async () => {
      if (file === undefined) return DEFAULT_JOB_TEMPLATE;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new SchedulerError(`cannot read the job template ${file} (scheduler.jobTemplate): ${describeError(error)}`, {
          cause: error,
          code: 'slurm.template',
        });
      }
      if (!text.startsWith('#!')) {
        throw new SchedulerError(`job template ${file}: sbatch needs a script whose first line starts with #! (e.g. #!/bin/bash)`, {
          code: 'slurm.template',
        });
      }
      checkJobTemplate(text, file);
      return text;
    })();
    // A template that failed to load is read again next time, once the user has fixed it.
    this.template.catch(() => {
      this.template = undefined;
    });
    return this.template;
  }

  private topologyDirectory(topologyName: string): string {
    return path.posix.join(this.options.workDirectory, poolResourceName(topologyName));
  }

  private jobsDirectory(topologyName: string): string {
    return path.posix.join(this.topologyDirectory(topologyName), 'jobs');
  }

  private logsDirectory(topologyName: string): string {
    return path.posix.join(this.topologyDirectory(topologyName), 'logs');
  }

  private files(topologyName: string, containerId: number): ContainerFiles {
    return {
      containerId,
      jobName: jobName(this.options.jobNamePrefix, topologyName, containerId),
      script: path.posix.join(this.jobsDirectory(topologyName), `container-${containerId}.sh`),
      logFile: path.posix.join(this.logsDirectory(topologyName), `container-${containerId}.log`),
    };
  }
}

/**
 * The node a job runs (or ran) its batch script on, which is where the container's executor is:
 * scontrol's `BatchHost`, or for a running job squeue's node list when scontrol had nothing.
 */
function batchHost(job: SlurmJob, detail: Record<string, string> | undefined): string | undefined {
  const known = (value: string | undefined) => (value && value !== '(null)' && value !== 'None' ? value : undefined);
  return known(detail?.BatchHost) ?? (containerState(job.state) === 'running' ? known(job.reason) : undefined);
}
