import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CONTAINER_INDEX_PLACEHOLDER, MiB, SchedulerError, type ContainerPlan, type ExecutorSpec } from '@ardea/core/plugin';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  asResources,
  containerIdOf,
  ENVIRONMENT_FILE,
  environmentFile,
  executorResource,
  instanceNameOf,
  LAUNCH_SCRIPT,
  launchScript,
  serviceDefinition,
  serviceNameOf,
  yarnResource,
} from './service-spec.js';
import { TopologyStaging } from './staging.js';
import { yarnSchedulerConfigSchema, type YarnSchedulerConfig } from './yarn-config.js';

/** Words a shell would mangle if any reached it unquoted. */
const TRICKY = [
  'two words',
  "it's",
  '"double"',
  '$HOME',
  '${HOME}',
  '`id`',
  '$(id)',
  'back\\slash',
  '\\',
  "'",
  'line\nbreak',
  'trailing newline\n',
  '',
  'tab\there',
  '*',
  ';exit 3',
  'é ✓',
];

/** The executor the launch script starts: a node process that reports what it was given (`--` ends its own options). */
const PROBE = 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env }))';

interface Probed {
  readonly argv: string[];
  readonly env: Record<string, string>;
}

function config(overrides: Record<string, unknown> = {}): YarnSchedulerConfig {
  return yarnSchedulerConfigSchema.parse({ user: 'alice', ...overrides });
}

function container(id: number, cpu: number, ramMb: number, scheduled?: { cpu: number; ramMb: number }): ContainerPlan {
  return {
    id,
    instances: [],
    required: { cpu, ramBytes: ramMb * MiB, diskBytes: 0 },
    ...(scheduled ? { scheduled: { cpu: scheduled.cpu, ramBytes: scheduled.ramMb * MiB, diskBytes: 0 } } : {}),
  };
}

let directory = '';

beforeEach(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'ardea-yarn-spec-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Stages the two files as a NodeManager localizes them: side by side in the container's working directory. */
async function stage(executor: ExecutorSpec, schedulerConfig: YarnSchedulerConfig, topologyName = 'word-count'): Promise<void> {
  await writeFile(path.join(directory, LAUNCH_SCRIPT), launchScript(topologyName, executor, schedulerConfig));
  await writeFile(path.join(directory, ENVIRONMENT_FILE), environmentFile(executor, schedulerConfig));
}

/** Starts the staged script the way the launch command does, with the NodeManager's environment `env`. */
function launch(shell: string, args: readonly string[], env: Record<string, string>): Probed {
  const output = execFileSync(shell, args, {
    cwd: directory,
    // Only what a NodeManager would set, so nothing of this process's environment can pass for the script's doing.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/home/nodemanager',
      ...(process.env.ARDEA_TEST_RUN === undefined ? {} : { ARDEA_TEST_RUN: process.env.ARDEA_TEST_RUN }),
      ...env,
    },
    encoding: 'utf8',
  });
  return JSON.parse(output) as Probed;
}

describe('the launch script and executor environment, run by a real shell', () => {
  it('replaces the container placeholder with offset + index and passes every argument byte for byte', async () => {
    const argv = [
      '--id={{container}}',
      CONTAINER_INDEX_PLACEHOLDER,
      `c${CONTAINER_INDEX_PLACEHOLDER}/${CONTAINER_INDEX_PLACEHOLDER}`,
      ...TRICKY,
    ];
    // A topology name is free text: it lands in a comment of the script and must not end that line.
    await stage({ argv: [process.execPath, '-e', PROBE, '--', ...argv], env: {} }, config(), 'evil\nexit 3 "name"');

    // `sh` is dash on Debian and bash on Red Hat NodeManagers.
    for (const shell of ['sh', 'bash']) {
      const probed = launch(shell, [LAUNCH_SCRIPT, '1', '4'], {});
      expect(probed.argv).toEqual(['--id=5', '5', 'c5/5', ...TRICKY]);
      expect(probed.env.ARDEA_CONTAINER_ID).toBe('5');
    }

    const manager = launch('sh', [LAUNCH_SCRIPT, '0', '0'], {});
    expect(manager.argv.slice(0, 3)).toEqual(['--id=0', '0', 'c0/0']);
    expect(manager.env.ARDEA_CONTAINER_ID).toBe('0');
  });

  it('sets the environment byte for byte: config.env, then executor.env over it, then the user and the container id', async () => {
    const tricky = Object.fromEntries(TRICKY.map((value, index) => [`TRICKY_${index}`, value]));
    const schedulerConfig = config({ env: { SHARED: 'from config', ONLY_CONFIG: "config's $HOME" } });
    await stage(
      {
        argv: [process.execPath, '-e', PROBE, '--'],
        // The ids and the Hadoop user are the plugin's to set, whatever the executor's environment says.
        env: { ...tricky, SHARED: 'from executor', HADOOP_USER_NAME: 'mallory', ARDEA_CONTAINER_ID: '99' },
      },
      schedulerConfig,
    );

    const { env } = launch('sh', [LAUNCH_SCRIPT, '1', '0'], {});
    for (const [name, value] of Object.entries(tricky)) expect({ name, value: env[name] }).toEqual({ name, value });
    expect(env.SHARED).toBe('from executor');
    expect(env.ONLY_CONFIG).toBe("config's $HOME");
    expect(env.HADOOP_USER_NAME).toBe('alice');
    expect(env.ARDEA_CONTAINER_ID).toBe('1');
  });

  it("listens on the NodeManager's host when listenOnNodeHost is set, and leaves the listen host alone when not", async () => {
    const executor: ExecutorSpec = { argv: [process.execPath, '-e', PROBE, '--'], env: {} };
    await stage(executor, config());
    expect(launch('sh', [LAUNCH_SCRIPT, '1', '0'], { NM_HOST: 'node7.example.com' }).env.ARDEA_LISTEN_HOST).toBe('node7.example.com');
    expect(launch('sh', [LAUNCH_SCRIPT, '1', '0'], {}).env).not.toHaveProperty('ARDEA_LISTEN_HOST');

    await stage(executor, config({ listenOnNodeHost: false }));
    expect(launch('sh', [LAUNCH_SCRIPT, '1', '0'], { NM_HOST: 'node7.example.com' }).env).not.toHaveProperty('ARDEA_LISTEN_HOST');
  });

  it('refuses an environment name the script cannot set, naming it', () => {
    for (const name of ['BAD-NAME', '1X', 'A B', '']) {
      const attempt = () => environmentFile({ argv: ['ardea-executor'], env: { [name]: 'x' } }, config());
      expect(attempt).toThrow(SchedulerError);
      expect(attempt).toThrow(`'${name}'`);
    }
  });
});

describe('the service definition', () => {
  const staged = new TopologyStaging('/var/tmp/ardea-yarn', 'alice', 'word-count').files;

  it('runs container 0 in component manager and containers 1..N in component executor, from the staged files', () => {
    const definition = serviceDefinition({
      serviceName: 'word-count',
      config: config({ container0: { cpus: 2, memoryMb: 768 } }),
      executors: 3,
      executorSize: { cpus: 4, memoryMb: 1536 },
      staged,
    });
    const files = [
      { type: 'STATIC', dest_file: 'ardea-launch.sh', src_file: 'file:///var/tmp/ardea-yarn/alice/word-count/ardea-launch.sh' },
      { type: 'STATIC', dest_file: 'ardea-executor.env', src_file: 'file:///var/tmp/ardea-yarn/alice/word-count/ardea-executor.env' },
    ];
    expect(definition).toEqual({
      name: 'word-count',
      version: '1',
      lifetime: -1,
      configuration: { properties: { 'yarn.service.container-failure-per-component.threshold': '1000' } },
      components: [
        {
          name: 'manager',
          number_of_containers: 1,
          restart_policy: 'ALWAYS',
          resource: { cpus: 2, memory: '768' },
          launch_command: 'sh ardea-launch.sh 0 ${COMPONENT_ID}',
          configuration: { files },
        },
        {
          name: 'executor',
          number_of_containers: 3,
          restart_policy: 'ALWAYS',
          resource: { cpus: 4, memory: '1536' },
          launch_command: 'sh ardea-launch.sh 1 ${COMPONENT_ID}',
          configuration: { files },
        },
      ],
    });
    expect(definition).not.toHaveProperty('queue');
  });

  it('gives YARN launch commands it can paste into a double-quoted bash -c, which start the staged script', async () => {
    const definition = serviceDefinition({
      serviceName: 'word-count',
      config: config(),
      executors: 2,
      executorSize: { cpus: 1, memoryMb: 256 },
      staged,
    });
    const commands = (definition.components as Array<{ launch_command: string }>).map((component) => component.launch_command);
    for (const command of commands) {
      // YARN substitutes ${COMPONENT_ID} itself; anything else a double-quoted string would expand or end.
      expect(command.replaceAll('${COMPONENT_ID}', '')).not.toMatch(/["\\`$]/);
    }

    await stage({ argv: [process.execPath, '-e', PROBE, '--', `--container=${CONTAINER_INDEX_PLACEHOLDER}`], env: {} }, config());
    // As the NodeManager's container script runs it: `bash -c "<command>"`, ${COMPONENT_ID} already the instance index.
    const asYarnRuns = (command: string, index: number) =>
      launch('/bin/sh', ['-c', `exec bash -c "${command.replaceAll('${COMPONENT_ID}', String(index))}"`], {});
    expect(asYarnRuns(commands[0]!, 0).argv).toEqual(['--container=0']);
    expect(asYarnRuns(commands[1]!, 0).argv).toEqual(['--container=1']);
    expect(asYarnRuns(commands[1]!, 1).env.ARDEA_CONTAINER_ID).toBe('2');
  });

  it('submits to the queue only when one is configured, and passes the failure threshold and service properties', () => {
    const definition = serviceDefinition({
      serviceName: 'word-count',
      config: config({
        queue: 'root.streaming',
        maxContainerFailures: 25,
        serviceProperties: { 'yarn.service.failure-count-reset.window': '600' },
      }),
      executors: 1,
      executorSize: { cpus: 1, memoryMb: 256 },
      staged,
    });
    expect(definition.queue).toBe('root.streaming');
    expect(definition.configuration).toEqual({
      properties: {
        'yarn.service.container-failure-per-component.threshold': '25',
        'yarn.service.failure-count-reset.window': '600',
      },
    });
  });

  // Hadoop reads src_file with `new Path(String)`, whose strings are URIs "with unescaped elements": it
  // takes `%40` for the three characters, not for `@`. So the URI must hold the path as it is.
  it('names staged files the way Hadoop reads a file: URI, so a user with @ or a staging path with a space is found', () => {
    const files = new TopologyStaging('/mnt/shared data/ardea', 'alice@EXAMPLE.COM', 'word-count').files;
    const definition = serviceDefinition({
      serviceName: 'word-count',
      config: config(),
      executors: 1,
      executorSize: { cpus: 1, memoryMb: 256 },
      staged: files,
    });
    const [manager] = definition.components as Array<{ configuration: { files: Array<{ src_file: string }> } }>;
    expect(manager!.configuration.files.map((file) => file.src_file)).toEqual([
      'file:///mnt/shared data/ardea/alice@EXAMPLE.COM/word-count/ardea-launch.sh',
      'file:///mnt/shared data/ardea/alice@EXAMPLE.COM/word-count/ardea-executor.env',
    ]);
  });
});

describe('names', () => {
  it('uses a DNS-label topology name as the service name, and folds others with a hash into 63 characters', () => {
    expect(serviceNameOf('word-count')).toBe('word-count');
    expect(serviceNameOf('Word_Count')).toMatch(/^word-count-[0-9a-f]{8}$/);
    expect(serviceNameOf('Word_Count')).not.toBe(serviceNameOf('word_count'));
    for (const name of [`long-${'x'.repeat(100)}`, '42-topology', 'a.b.c', '___']) {
      expect(serviceNameOf(name)).toMatch(/^[a-z]([a-z0-9-]*[a-z0-9])?$/);
      expect(serviceNameOf(name).length).toBeLessThanOrEqual(63);
    }
  });

  it('maps component instances to container ids and back', () => {
    expect(instanceNameOf(0)).toBe('manager-0');
    expect(instanceNameOf(1)).toBe('executor-0');
    expect(instanceNameOf(12)).toBe('executor-11');
    for (let id = 0; id <= 20; id++) expect(containerIdOf(instanceNameOf(id))).toBe(id);
    for (const other of [undefined, 'manager-1', 'executor-', 'executor-x', 'executor-1-a', 'sleeper-0', 'xexecutor-1', '']) {
      expect(containerIdOf(other)).toBeUndefined();
    }
  });
});

describe('container sizes', () => {
  it('asks YARN for whole vcores (at least 1) and whole MB, rounding up', () => {
    expect(yarnResource({ cpu: 0.1, ramBytes: 100 * MiB, diskBytes: 0 })).toEqual({ cpus: 1, memoryMb: 100 });
    expect(yarnResource({ cpu: 1.5, ramBytes: 512 * MiB + 1, diskBytes: 0 })).toEqual({ cpus: 2, memoryMb: 513 });
    expect(yarnResource({ cpu: 2, ramBytes: 1, diskBytes: 0 })).toEqual({ cpus: 2, memoryMb: 1 });
    expect(yarnResource({ cpu: 0, ramBytes: 0, diskBytes: 0 })).toEqual({ cpus: 1, memoryMb: 1 });
    // Fractions that add up to a whole number in decimal are not an extra vcore for the float error.
    expect(yarnResource({ cpu: 0.7 + 0.2 + 0.1, ramBytes: 3 * MiB, diskBytes: 0 })).toEqual({ cpus: 1, memoryMb: 3 });
  });

  it("sizes the executor component like the plan's largest container in each dimension, preferring what was scheduled", () => {
    const size = executorResource({
      containers: [container(1, 0.5, 700), container(2, 2.2, 256), container(3, 8, 4096, { cpu: 1, ramMb: 128 })],
    });
    expect(size).toEqual({ cpus: 3, memoryMb: 700 });
    expect(asResources(size)).toEqual({ cpu: 3, ramBytes: 700 * MiB, diskBytes: 0 });
    expect(executorResource({ containers: [] })).toEqual({ cpus: 1, memoryMb: 1 });
  });
});
