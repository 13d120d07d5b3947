import {
  CONTAINER_ID_ENV,
  executorArgv,
  type ExecutorSpec,
  isEnvironmentName,
  SchedulerError,
  shellCommand,
  shellQuote,
} from '@ardea/core/plugin';

/**
 * The job script every container runs unless `jobTemplate` names another. sbatch options that Ardea
 * relies on (job name, output, working directory, CPUs, memory, partition...) are passed on the sbatch
 * command line, which takes precedence over `#SBATCH` lines, so a template cannot break how the
 * scheduler finds its jobs; a template adds site specifics (`module load`, extra `#SBATCH` lines).
 */
export const DEFAULT_JOB_TEMPLATE = `#!/bin/bash
# Ardea container {{container}} of topology {{topology}} ({{cpus}} CPUs, {{memoryMb}} MB), written by the
# Slurm scheduler from its job template.
echo "[ardea-slurm $(date -u +%Y-%m-%dT%H:%M:%SZ)] job $SLURM_JOB_ID ({{jobName}}) starts container {{container}} on $(hostname)"
{{environment}}
exec {{command}}
`;

/** What a template may use; values marked quoted are already shell words. */
export const TEMPLATE_PLACEHOLDERS = {
  topology: 'topology name (letters, digits, _ . -)',
  container: 'container index',
  jobName: 'Slurm job name, <prefix><name>-<container> (<name>: the topology name as a DNS label)',
  cpus: 'CPUs per task (--cpus-per-task)',
  memoryMb: 'memory in MB (--mem)',
  workDirectory: "the topology's directory, the job's working directory (quoted)",
  logFile: "the container's log file (quoted)",
  environment: 'one `export NAME=value` line per executor variable, ARDEA_CONTAINER_ID included (quoted)',
  command: "the executor's command line (quoted); the template must contain it",
} as const;

export type TemplateValues = Readonly<Record<keyof typeof TEMPLATE_PLACEHOLDERS, string>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Rejects a template that names unknown placeholders or never runs the command. */
export function checkJobTemplate(template: string, source: string): void {
  const names = [...template.matchAll(PLACEHOLDER)].map((match) => match[1]!);
  const unknown = names.filter((name) => !(name in TEMPLATE_PLACEHOLDERS));
  if (unknown.length > 0) {
    throw new SchedulerError(
      `job template ${source}: unknown placeholder {{${unknown[0]}}}; known: ${Object.keys(TEMPLATE_PLACEHOLDERS)
        .map((name) => `{{${name}}}`)
        .join(', ')}`,
      {
        code: 'slurm.template',
      },
    );
  }
  if (!names.includes('command')) {
    throw new SchedulerError(
      `job template ${source}: it never uses {{command}}, so the container's executor would not run; end it with: exec {{command}}`,
      { code: 'slurm.template' },
    );
  }
}

/** Fills the template in one pass, so a value that contains `{{…}}` stays as it is. */
export function renderJobTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => (name in values ? values[name as keyof TemplateValues] : whole));
}

export interface ContainerJob {
  readonly topologyName: string;
  readonly containerId: number;
  readonly jobName: string;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly workDirectory: string;
  readonly logFile: string;
  readonly executor: ExecutorSpec;
}

/** The values for one container's script: its executor argv with the index filled in, and its environment. */
export function templateValues(job: ContainerJob): TemplateValues {
  const environment = { ...job.executor.env, [CONTAINER_ID_ENV]: String(job.containerId) };
  const bad = Object.keys(environment).find((name) => !isEnvironmentName(name));
  if (bad !== undefined) {
    throw new SchedulerError(
      `topology '${job.topologyName}': container ${job.containerId}: ` +
        `executor variable name ${JSON.stringify(bad)} cannot be exported by a shell`,
    );
  }
  const argv = executorArgv(job.executor, job.containerId);
  if (argv.length === 0)
    throw new SchedulerError(`topology '${job.topologyName}': cannot start container ${job.containerId}: the executor argv is empty`);
  return {
    topology: job.topologyName,
    container: String(job.containerId),
    jobName: job.jobName,
    cpus: String(job.cpus),
    memoryMb: String(job.memoryMb),
    workDirectory: shellQuote(job.workDirectory),
    logFile: shellQuote(job.logFile),
    environment: Object.entries(environment)
      .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
      .join('\n'),
    command: shellCommand(argv),
  };
}
