import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CONTAINER_INDEX_PLACEHOLDER, MiB, SchedulerError } from '@ardea/core/plugin';
import { afterEach, describe, expect, it } from 'vitest';
import { containerIdOf, environmentScript, executorResources, jobDefinition, jobIdOf, nomadResources, taskScript } from './job-spec.js';
import { nomadSchedulerConfigSchema } from './nomad-config.js';
import { containerStatus, newestLogFile, type Allocation } from './nomad-scheduler.js';

const run = promisify(execFile);
const config = nomadSchedulerConfigSchema.parse({});
const directories: string[] = [];

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

/** Runs the task's command as Nomad's raw_exec would: /bin/sh -c <script>, with the rendered secrets file. */
async function runTask(argv: string[], env: Record<string, string>, allocIndex: number, firstContainerId: number) {
  const taskDir = await mkdtemp(path.join(os.tmpdir(), 'ardea-nomad-task-'));
  directories.push(taskDir);
  await mkdir(path.join(taskDir, 'secrets'));
  await writeFile(path.join(taskDir, 'secrets', 'ardea-env.sh'), environmentScript({ argv, env }, config, 'the-token'));
  const { stdout } = await run('/bin/sh', ['-c', taskScript({ argv, env }, firstContainerId)], {
    cwd: taskDir,
    env: { PATH: process.env.PATH, NOMAD_ALLOC_INDEX: String(allocIndex), NOMAD_SECRETS_DIR: path.join(taskDir, 'secrets') },
  });
  return JSON.parse(stdout) as { argv: string[]; env: Record<string, string> };
}

const PRINT = `process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env }))`;

describe('the task of a container', () => {
  it('runs the executor with the container id from the allocation index, and the environment from the variable', async () => {
    const awkward = `it's "$HOME" \`id\` \\ ; exit 3\nnext line`;
    const argv = [
      process.execPath,
      '-e',
      PRINT,
      '--',
      '--container',
      CONTAINER_INDEX_PLACEHOLDER,
      `--id=${CONTAINER_INDEX_PLACEHOLDER}`,
      awkward,
      '',
    ];
    const executor = await runTask(argv, { ARDEA_CLUSTER_CONFIG: awkward }, 2, 1);
    expect(executor.argv).toEqual(['--container', '3', '--id=3', awkward, '']);
    expect(executor.env.ARDEA_CONTAINER_ID).toBe('3');
    expect(executor.env.ARDEA_CLUSTER_CONFIG).toBe(awkward);
    expect(executor.env.NOMAD_TOKEN).toBe('the-token');
    const manager = await runTask(argv, {}, 0, 0);
    expect(manager.env.ARDEA_CONTAINER_ID).toBe('0');
  });

  it('refuses an argument Nomad would interpolate, and an environment name a shell cannot set', () => {
    expect(() => taskScript({ argv: ['ardea-executor', '${HOME}'], env: {} }, 1)).toThrow(SchedulerError);
    expect(() => environmentScript({ argv: [], env: { 'BAD-NAME': 'x' } }, config, undefined)).toThrow(/'BAD-NAME'/);
  });
});

describe('the job of a topology', () => {
  it('has group manager of one allocation and group executors of N, sized in MHz and MB, with the environment out of the job', () => {
    const job = jobDefinition({
      jobId: 'word-count',
      topologyName: 'word-count',
      topologyId: 'word-count-1',
      config,
      executors: 3,
      executorSize: { cpuMhz: 800, memoryMb: 640 },
      executor: { argv: ['ardea-executor', '--container', CONTAINER_INDEX_PLACEHOLDER], env: { ARDEA_CLUSTER_CONFIG: 'secret-value' } },
    }) as {
      TaskGroups: Array<{ Name: string; Count: number; Tasks: Array<{ Resources: unknown; Templates: Array<{ EmbeddedTmpl: string }> }> }>;
    };
    expect(job.TaskGroups.map((group) => [group.Name, group.Count, group.Tasks[0]!.Resources])).toEqual([
      ['manager', 1, { CPU: 2000, MemoryMB: 512 }],
      ['executors', 3, { CPU: 800, MemoryMB: 640 }],
    ]);
    expect(JSON.stringify(job)).not.toContain('secret-value');
    expect(job.TaskGroups[1]!.Tasks[0]!.Templates[0]!.EmbeddedTmpl).toBe(
      '{{ with nomadVar "nomad/jobs/word-count" }}{{ .executor_env }}{{ end }}',
    );
  });

  it('names allocations by group and index, and sizes by the largest container', () => {
    expect(jobIdOf('Word_Count')).toMatch(/^word-count-[0-9a-f]{8}$/);
    expect(containerIdOf('wc', 'wc.manager[0]')).toBe(0);
    expect(containerIdOf('wc', 'wc.executors[4]')).toBe(5);
    expect(containerIdOf('wc', 'other.executors[4]')).toBeUndefined();
    expect(nomadResources({ cpu: 0.3, ramBytes: 640 * MiB + 1, diskBytes: 0 }, 2000)).toEqual({ cpuMhz: 600, memoryMb: 641 });
    const container = (id: number, cpu: number, mb: number) => ({ id, instances: [], required: { cpu, ramBytes: mb * MiB, diskBytes: 0 } });
    expect(executorResources({ containers: [container(1, 0.4, 100), container(2, 0.2, 900)] }, 2000)).toEqual({
      cpuMhz: 800,
      memoryMb: 900,
    });
  });
});

describe('container status', () => {
  const allocation = (name: string, extra: Partial<Allocation>): Allocation => ({
    ID: `${name}-${extra.CreateIndex ?? 1}`,
    Name: name,
    JobID: 'wc',
    TaskGroup: name.includes('manager') ? 'manager' : 'executors',
    DesiredStatus: 'run',
    ClientStatus: 'running',
    TaskStates: { executor: { State: 'running', Restarts: 0 } },
    CreateIndex: 1,
    ...extra,
  });

  it('counts restarts in place and replacements Nomad made, not allocations a restart stopped', () => {
    const allocations = [
      allocation('wc.executors[0]', { CreateIndex: 1, DesiredStatus: 'stop', ClientStatus: 'complete' }),
      allocation('wc.executors[0]', { CreateIndex: 2, ClientStatus: 'failed' }),
      allocation('wc.executors[0]', { CreateIndex: 3, NodeName: 'client-2', TaskStates: { executor: { State: 'running', Restarts: 2 } } }),
    ];
    expect(containerStatus('wc', 1, allocations)).toMatchObject({
      state: 'running',
      restarts: 3,
      handle: 'wc.executors[0]-3',
      host: 'client-2',
    });
    expect(containerStatus('wc', 2, allocations)).toMatchObject({ state: 'pending', restarts: 0 });
  });

  it('reports a dead task as restarting, with its last event', () => {
    const dead = allocation('wc.manager[0]', {
      TaskStates: { executor: { State: 'dead', Restarts: 1, Events: [{ Type: 'Restarting', DisplayMessage: 'Task restarting in 1s' }] } },
    });
    expect(containerStatus('wc', 0, [dead])).toMatchObject({
      state: 'restarting',
      message: 'allocation wc.manager[0]: Restarting: Task restarting in 1s',
    });
  });
});

describe('the log of a container', () => {
  it("is the newest of the executor task's rotated stdout files", () => {
    const file = (Name: string, IsDir = false) => ({ Name, IsDir, Size: 1 });
    expect(
      newestLogFile([
        file('executor.stderr.3'),
        file('executor.stdout.2'),
        file('executor.stdout.10'),
        file('other.stdout.11'),
        file('x', true),
      ]),
    ).toMatchObject({ Name: 'executor.stdout.10' });
    expect(newestLogFile([file('executor.stderr.0')])).toBeUndefined();
  });
});
