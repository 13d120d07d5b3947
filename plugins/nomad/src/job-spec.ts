import {
  CONTAINER_ID_ENV,
  environmentLines,
  executorCommandLine,
  LISTEN_HOST_ENV,
  MiB,
  poolResourceName,
  SchedulerError,
  type ExecutorSpec,
  type PackingPlan,
  type Resources,
} from '@ardea/core/plugin';
import type { NomadSchedulerConfig } from './nomad-config.js';

/** Container 0 (topology master, health manager): the one allocation `<job>.manager[0]`. */
export const MANAGER_GROUP = 'manager';
/** Containers 1..N: allocation `<job>.executors[i]` is container i+1. */
export const EXECUTOR_GROUP = 'executors';
export const TASK = 'executor';
/** The variable item the executor's environment lives in, as a script the task sources. */
export const ENVIRONMENT_ITEM = 'executor_env';
const ENVIRONMENT_FILE = 'secrets/ardea-env.sh';
const SECOND_NS = 1_000_000_000;

export function jobIdOf(topologyName: string): string {
  return poolResourceName(topologyName);
}

/** Nomad lets a job's tasks read the variables under `nomad/jobs/<job id>` (workload identity's default policy). */
export function variablePathOf(jobId: string): string {
  return `nomad/jobs/${jobId}`;
}

/** An allocation name (`word-count.executors[2]`) → its container id (3); undefined for anything else. */
export function containerIdOf(jobId: string, allocationName: string): number | undefined {
  const match = /^(.*)\.([^.[\]]+)\[(\d+)\]$/.exec(allocationName);
  if (!match || match[1] !== jobId) return undefined;
  const index = Number(match[3]);
  if (match[2] === MANAGER_GROUP) return index === 0 ? 0 : undefined;
  return match[2] === EXECUTOR_GROUP ? index + 1 : undefined;
}

/** What Nomad reserves for a task: CPU in MHz and memory in whole MB. */
export interface NomadResources {
  readonly cpuMhz: number;
  readonly memoryMb: number;
}

export function nomadResources(resources: Resources, cpuMhzPerCore: number): NomadResources {
  return {
    cpuMhz: Math.max(1, Math.ceil(resources.cpu * cpuMhzPerCore - 1e-6)),
    memoryMb: Math.max(1, Math.ceil(resources.ramBytes / MiB - 1e-9)),
  };
}

/** Every allocation of a group is the same size: the plan's largest container. */
export function executorResources(plan: Pick<PackingPlan, 'containers'>, cpuMhzPerCore: number): NomadResources {
  const sizes = plan.containers.map((container) => nomadResources(container.scheduled ?? container.required, cpuMhzPerCore));
  return { cpuMhz: Math.max(1, ...sizes.map((size) => size.cpuMhz)), memoryMb: Math.max(1, ...sizes.map((size) => size.memoryMb)) };
}

export function asResources(size: NomadResources, cpuMhzPerCore: number): Resources {
  return { cpu: size.cpuMhz / cpuMhzPerCore, ramBytes: size.memoryMb * MiB, diskBytes: 0 };
}

/**
 * The task's command: source the environment Nomad rendered from the job's variable, set the
 * container id from the allocation index, exec the executor with its stderr joined to its stdout,
 * so that the container has one log, in order (`<task>.stdout.<n>` in the allocation's `alloc/logs`),
 * as on the other pools. Nomad interpolates `${…}` in task arguments, so the script uses none itself
 * and refuses an executor argument that has one.
 */
export function taskScript(executor: ExecutorSpec, firstContainerId: number): string {
  for (const argument of executor.argv) {
    if (argument.includes('${')) {
      throw new SchedulerError(
        `cannot run the executor argument ${JSON.stringify(argument)} on Nomad: Nomad would interpolate its '\${…}'; ` +
          'rename what holds it (the executor command, the topology name)',
      );
    }
  }
  return [
    `. "$NOMAD_SECRETS_DIR/${ENVIRONMENT_FILE.slice('secrets/'.length)}"`,
    `${CONTAINER_ID_ENV}=$((NOMAD_ALLOC_INDEX + ${firstContainerId}))`,
    `export ${CONTAINER_ID_ENV}`,
    `exec ${executorCommandLine(executor.argv)} 2>&1`,
  ].join('\n');
}

/**
 * The executor's environment as a script of `export NAME='value'` lines: it may hold credentials (the
 * cluster config by value, the token), so it goes to the job's Nomad variable, not into the job,
 * which everyone who may read jobs in the namespace can read.
 */
export function environmentScript(executor: ExecutorSpec, config: NomadSchedulerConfig, token: string | undefined): string {
  return environmentLines({ ...config.env, ...executor.env, ...(token ? { NOMAD_TOKEN: token } : {}) }, { exported: true });
}

export interface JobInput {
  readonly jobId: string;
  readonly topologyName: string;
  readonly topologyId: string;
  readonly config: NomadSchedulerConfig;
  readonly executors: number;
  readonly executorSize: NomadResources;
  readonly executor: ExecutorSpec;
}

/** The Nomad job of a topology: group `manager` (one allocation, container 0) and group `executors`. */
export function jobDefinition(input: JobInput): Record<string, unknown> {
  const { config } = input;
  const group = (name: string, count: number, firstContainerId: number, size: NomadResources) => ({
    Name: name,
    Count: count,
    // An executor that exits starts again in place; Nomad places a new allocation only if its node is lost.
    RestartPolicy: { Attempts: 10, Interval: 300 * SECOND_NS, Delay: SECOND_NS, Mode: 'delay' },
    ReschedulePolicy: { Unlimited: true, Delay: 5 * SECOND_NS, DelayFunction: 'constant' },
    Tasks: [
      {
        Name: TASK,
        Driver: config.driver,
        Config: {
          ...(config.driver === 'docker' ? { image: config.image } : {}),
          command: '/bin/sh',
          args: ['-c', taskScript(input.executor, firstContainerId)],
        },
        Env: config.listenOnNodeAddress ? { [LISTEN_HOST_ENV]: '${attr.unique.network.ip-address}' } : {},
        Templates: [
          {
            EmbeddedTmpl: `{{ with nomadVar "${variablePathOf(input.jobId)}" }}{{ .${ENVIRONMENT_ITEM} }}{{ end }}`,
            DestPath: ENVIRONMENT_FILE,
            Perms: '0600',
            ChangeMode: 'noop',
          },
        ],
        Resources: { CPU: size.cpuMhz, MemoryMB: size.memoryMb },
        KillSignal: 'SIGTERM',
        KillTimeout: 10 * SECOND_NS,
      },
    ],
  });
  return {
    ID: input.jobId,
    Name: input.jobId,
    Type: 'service',
    Namespace: config.namespace,
    ...(config.region ? { Region: config.region } : {}),
    Datacenters: config.datacenters,
    Meta: { ...config.meta, 'ardea.topology': input.topologyName, 'ardea.topology-id': input.topologyId },
    TaskGroups: [
      group(
        MANAGER_GROUP,
        1,
        0,
        nomadResources({ cpu: config.container0.cpus, ramBytes: config.container0.memoryMb * MiB, diskBytes: 0 }, config.cpuMhzPerCore),
      ),
      group(EXECUTOR_GROUP, input.executors, 1, input.executorSize),
    ],
  };
}
