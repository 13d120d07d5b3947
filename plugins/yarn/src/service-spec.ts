import {
  CONTAINER_ID_ENV,
  environmentLines,
  executorCommandLine,
  LISTEN_HOST_ENV,
  MiB,
  poolResourceName,
  type ExecutorSpec,
  type PackingPlan,
  type Resources,
} from '@ardea/core/plugin';
import type { YarnSchedulerConfig } from './yarn-config.js';

/** Container 0 (topology master, health manager): one instance, `manager-0`. */
export const MANAGER_COMPONENT = 'manager';
/** Containers 1..N: instance `executor-<i>` is container i+1. */
export const EXECUTOR_COMPONENT = 'executor';
/** The files every container gets, localized from the staging directory into its working directory. */
export const LAUNCH_SCRIPT = 'ardea-launch.sh';
export const ENVIRONMENT_FILE = 'ardea-executor.env';

/** A YARN service name: a DNS label of at most 63 characters (what the Services API accepts). */
export function serviceNameOf(topologyName: string): string {
  return poolResourceName(topologyName, undefined, { maxLength: 63 });
}

/** A component instance name (`executor-2`) → its container id (3); undefined for another component's. */
export function containerIdOf(instanceName: string | undefined): number | undefined {
  if (instanceName === undefined) return undefined;
  if (instanceName === `${MANAGER_COMPONENT}-0`) return 0;
  const match = new RegExp(`^${EXECUTOR_COMPONENT}-(\\d+)$`).exec(instanceName);
  return match ? Number(match[1]) + 1 : undefined;
}

export function instanceNameOf(containerId: number): string {
  return containerId === 0 ? `${MANAGER_COMPONENT}-0` : `${EXECUTOR_COMPONENT}-${containerId - 1}`;
}

/** What YARN allocates: whole vcores and whole MB. */
export interface YarnResource {
  readonly cpus: number;
  readonly memoryMb: number;
}

export function yarnResource(resources: Resources): YarnResource {
  return {
    cpus: Math.max(1, Math.ceil(resources.cpu - 1e-9)),
    memoryMb: Math.max(1, Math.ceil(resources.ramBytes / MiB - 1e-9)),
  };
}

/** The executor component's size: every instance of a component is the same, so the plan's largest container. */
export function executorResource(plan: Pick<PackingPlan, 'containers'>): YarnResource {
  const sizes = plan.containers.map((container) => yarnResource(container.scheduled ?? container.required));
  return {
    cpus: Math.max(1, ...sizes.map((size) => size.cpus)),
    memoryMb: Math.max(1, ...sizes.map((size) => size.memoryMb)),
  };
}

export function asResources(size: YarnResource): Resources {
  return { cpu: size.cpus, ramBytes: size.memoryMb * MiB, diskBytes: 0 };
}

/** The staged files of one topology, as local paths and as the URIs the NodeManagers localize. */
export interface StagedFiles {
  readonly directory: string;
  readonly launchScript: string;
  readonly environmentFile: string;
}

export interface ServiceDefinitionInput {
  readonly serviceName: string;
  readonly config: YarnSchedulerConfig;
  readonly executors: number;
  readonly executorSize: YarnResource;
  readonly staged: StagedFiles;
}

/**
 * The Services API definition of a topology: component `manager` (one instance, container 0) and
 * component `executor` (one instance per container 1..N). Both run the staged launch script, which
 * YARN localizes into the container with the environment file; `${COMPONENT_ID}` is YARN's instance
 * index, from which the script computes the container id. The launch command holds no quotes or
 * `$` of its own: YARN pastes it into a double-quoted `bash -c` argument.
 */
export function serviceDefinition(input: ServiceDefinitionInput): Record<string, unknown> {
  const { config } = input;
  const files = [
    { type: 'STATIC', dest_file: LAUNCH_SCRIPT, src_file: fileUri(input.staged.launchScript) },
    { type: 'STATIC', dest_file: ENVIRONMENT_FILE, src_file: fileUri(input.staged.environmentFile) },
  ];
  const component = (name: string, count: number, offset: number, size: YarnResource) => ({
    name,
    number_of_containers: count,
    restart_policy: 'ALWAYS',
    resource: { cpus: size.cpus, memory: String(size.memoryMb) },
    launch_command: `sh ${LAUNCH_SCRIPT} ${offset} \${COMPONENT_ID}`,
    configuration: { files },
  });
  return {
    name: input.serviceName,
    version: '1',
    lifetime: -1,
    ...(config.queue === undefined ? {} : { queue: config.queue }),
    configuration: {
      properties: {
        'yarn.service.container-failure-per-component.threshold': String(config.maxContainerFailures),
        ...config.serviceProperties,
      },
    },
    components: [
      component(MANAGER_COMPONENT, 1, 0, { cpus: config.container0.cpus, memoryMb: config.container0.memoryMb }),
      component(EXECUTOR_COMPONENT, input.executors, 1, input.executorSize),
    ],
  };
}

/**
 * The launch script: reads the executor environment, sets the container id from the instance index
 * (`$1 + $2`), and execs the executor with the id in place of the container placeholder, its stderr
 * joined to its stdout so that the container has one log, in order (`stdout.txt` in the container's
 * log directory), as on the other pools.
 */
export function launchScript(topologyName: string, executor: ExecutorSpec, config: YarnSchedulerConfig): string {
  return [
    '#!/bin/sh',
    `# Written by @ardea/plugin-yarn for topology ${JSON.stringify(topologyName)}: starts the executor of one`,
    '# container. Arguments: the first container id of the component, and its instance index.',
    'set -eu',
    'set -a',
    `. ./${ENVIRONMENT_FILE}`,
    'set +a',
    `${CONTAINER_ID_ENV}=$(($1 + $2))`,
    `export ${CONTAINER_ID_ENV}`,
    ...(config.listenOnNodeHost ? [`if [ -n "\${NM_HOST:-}" ]; then ${LISTEN_HOST_ENV}=$NM_HOST; export ${LISTEN_HOST_ENV}; fi`] : []),
    `exec ${executorCommandLine(executor.argv)} 2>&1`,
    '',
  ].join('\n');
}

/**
 * The executor's environment as `NAME='value'` lines for the launch script to source. It may hold
 * credentials, so it is a file only its owner reads, not part of the service definition, which any
 * user of the ResourceManager can read.
 */
export function environmentFile(executor: ExecutorSpec, config: YarnSchedulerConfig): string {
  return environmentLines({ ...config.env, ...executor.env, HADOOP_USER_NAME: config.user });
}

/** Hadoop reads `src_file` as a Path, whose URI elements are unescaped: the path goes in as it is. */
export function fileUri(localPath: string): string {
  return `file://${localPath}`;
}
