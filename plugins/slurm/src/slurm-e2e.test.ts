import { describeWithService } from '@ardea/core/testing';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ardea as ardeaIn, repoRoot, type CliResult } from '@ardea/test-support';
import { cancelJobs, LOOPBACK_SLURM, liveJobs, onLoginNode, SSHD_BASE, SSHD_PORT } from './test-support.js';

const TOPOLOGY = 'word-count';
/** Unique per run, so this run's jobs never mix with another's on the same Slurm. */
const prefix = `ardea-e${process.pid}-`;
const jobPrefix = `${prefix}${TOPOLOGY}-`;
const slow = { timeout: 60_000, interval: 250 };

let home = '';
let cluster = '';
let shared = '';

/** Runs the `ardea` CLI as a user would, with this test's ARDEA_HOME. */
const ardea = (...args: string[]): Promise<CliResult> => ardeaIn(home, ...args);

/** Container id -> job id of the topology's jobs in squeue (pending, running or completing). */
async function jobs(): Promise<Map<number, { jobId: string; state: string }>> {
  const listed = await liveJobs(jobPrefix);
  return new Map(listed.map((job) => [Number(job.name.slice(jobPrefix.length)), { jobId: job.jobId, state: job.state }]));
}

async function jobIds(): Promise<Record<number, string>> {
  return Object.fromEntries([...(await jobs())].map(([containerId, job]) => [containerId, job.jobId]));
}

async function allRunning(containerIds: readonly number[]): Promise<void> {
  await vi.waitFor(async () => {
    const current = await jobs();
    expect([...current.keys()].sort((a, b) => a - b)).toEqual(containerIds);
    for (const [containerId, job] of current) expect(job.state, `job ${job.jobId} of container ${containerId}`).toBe('RUNNING');
  }, slow);
}

async function counted(): Promise<number> {
  const result = await ardea('metrics', cluster, TOPOLOGY, '--json', '--window', '2000');
  if (result.code !== 0) throw new Error(`ardea metrics failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { components: Record<string, { executed: number }> }).components.count?.executed ?? 0;
}

async function countsGrow(): Promise<void> {
  const before = await counted();
  await vi.waitFor(async () => expect(await counted()).toBeGreaterThan(before + 2000), slow);
}

async function files(directory: string): Promise<string[]> {
  if (!existsSync(directory)) return [];
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

await describeWithService(LOOPBACK_SLURM, 'word count on Slurm through the CLI', () => {
  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'ardea-slurm-e2e-'));
    // On this machine the shared filesystem is the local one; a real cluster mounts it on every node.
    shared = path.join(home, 'shared');
    cluster = path.join(home, 'cluster');
    await mkdir(cluster, { recursive: true });
    const ssh = [
      `host: 127.0.0.1`,
      `port: ${SSHD_PORT}`,
      'user: root',
      `privateKeyPath: ${SSHD_BASE}/client_key`,
      `knownHostsPath: ${SSHD_BASE}/known_hosts`,
    ];
    await writeFile(
      path.join(cluster, 'scheduler.yaml'),
      [
        'plugin: slurm',
        ...ssh,
        // Jobs find no ardea-executor on the PATH of an SSH session; a real cluster installs one.
        `executorCommand: ${path.join(repoRoot, 'core', 'bin', 'ardea-executor.mjs')}`,
        `workDirectory: ${shared}/work`,
        `jobNamePrefix: ${prefix}`,
        'partition: debug',
        'timeLimit: "60"',
        'container0: { cpus: 1, memoryMb: 512 }',
        '',
      ].join('\n'),
    );
    await writeFile(
      path.join(cluster, 'uploader.yaml'),
      [`plugin: '@ardea/plugin-slurm#sftpUploader'`, ...ssh, `directory: ${shared}/packages`, ''].join('\n'),
    );
    await writeFile(path.join(cluster, 'statemgr.yaml'), ['plugin: localfs', `rootPath: ${shared}/state`, ''].join('\n'));
    // One CPU per container, so the 4 jobs after scaling fit the loopback node next to other tests' jobs.
    await writeFile(
      path.join(cluster, 'packing.yaml'),
      ['instance: { cpu: 0.25, ram: 256MiB, disk: 256MiB }', 'padding: { cpu: 0.25, ram: 256MiB, disk: 256MiB, percent: 0 }', ''].join(
        '\n',
      ),
    );
    const submit = await ardea(
      'submit',
      cluster,
      path.join(repoRoot, 'examples', 'word-count'),
      '--config-property',
      'topology.metricsIntervalMs=500',
      '--config-property',
      'sentence.rate=2000',
      // The scaling checked here is the test's own; the health manager would resize on its own.
      '--config-property',
      'topology.healthManager=false',
    );
    expect(submit.code, submit.stderr).toBe(0);
    expect(submit.stdout).toContain(`topology ${TOPOLOGY}`);
  }, 180_000);

  afterAll(async () => {
    if (home) await ardea('kill', cluster, TOPOLOGY);
    await cancelJobs(prefix).catch(() => undefined);
    if (home) await rm(home, { recursive: true, force: true });
  }, 120_000);

  it('runs every container as a Slurm job, and the words get counted', async () => {
    await allRunning([0, 1, 2]);
    const status = await ardea('describe', cluster, TOPOLOGY, '--json');
    expect(status.code, status.stderr).toBe(0);
    await countsGrow();
  }, 120_000);

  it("status names each container's node, and logs reads a container's job output", async () => {
    const status = await ardea('status', cluster, TOPOLOGY, '--json');
    expect(status.code, status.stderr).toBe(0);
    const containers = (JSON.parse(status.stdout) as { containers: { containerId: number; handle?: string; host?: string }[] }).containers;
    expect(containers.map((container) => container.containerId)).toEqual([0, 1, 2]);
    for (const container of containers) {
      expect(await onLoginNode(`scontrol show job --oneliner ${container.handle}`)).toContain(` BatchHost=${container.host} `);
    }
    const logs = await ardea('logs', cluster, TOPOLOGY, '1', '--json', '--bytes', '65536');
    expect(logs.code, logs.stderr).toBe(0);
    const chunk = JSON.parse(logs.stdout) as { containerId: number; text: string; start: number; end: number; source: string };
    expect(chunk.containerId).toBe(1);
    expect(chunk.source).toMatch(new RegExp(`:${path.join(shared, 'work', TOPOLOGY, 'logs', 'container-1.log')}$`));
    // The job's output file, read over SFTP, is what the node wrote: the same bytes as on the shared filesystem.
    const onDisk = await readFile(path.join(shared, 'work', TOPOLOGY, 'logs', 'container-1.log'));
    expect(chunk.end).toBeLessThanOrEqual(onDisk.length);
    expect(chunk.text).toBe(onDisk.subarray(chunk.start, chunk.end).toString('utf8'));
    expect(chunk.text.length).toBeGreaterThan(0);
  }, 120_000);

  it('update adds a job for each new container and cancels it when scaled back', async () => {
    const original = await jobIds();
    const up = await ardea('update', cluster, TOPOLOGY, '--component-parallelism', 'count:4');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^ {2}count: 2 -> 4 instances$/m);
    const scaled = await jobIds();
    const added = Object.keys(scaled)
      .map(Number)
      .filter((id) => !(id in original));
    expect(added.length).toBeGreaterThan(0);
    for (const [containerId, jobId] of Object.entries(original))
      expect(scaled[Number(containerId)], `job of container ${containerId}`).toBe(jobId);
    await allRunning(
      Object.keys(scaled)
        .map(Number)
        .sort((a, b) => a - b),
    );
    await countsGrow();

    const down = await ardea('update', cluster, TOPOLOGY, '--component-parallelism', 'count:2');
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/^ {2}remove containers: /m);
    const after = await jobIds();
    for (const id of added) expect(after[id], `job of removed container ${id}`).toBeUndefined();
    expect(after).toEqual(original);
    await countsGrow();
  }, 180_000);

  it('restart of one container replaces only its job', async () => {
    const before = await jobIds();
    const restart = await ardea('restart', cluster, TOPOLOGY, '1');
    expect(restart.code, restart.stderr).toBe(0);
    const after = await jobIds();
    expect(after[1]).toBeDefined();
    expect(after[1]).not.toBe(before[1]);
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
    await allRunning([0, 1, 2]);
    await countsGrow();
  }, 180_000);

  it('kill leaves no job and no uploaded package', async () => {
    expect(await files(path.join(shared, 'packages'))).not.toEqual([]);
    const kill = await ardea('kill', cluster, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
    expect(await jobs()).toEqual(new Map());
    expect(await files(path.join(shared, 'packages'))).toEqual([]);
    expect(await files(path.join(shared, 'work', TOPOLOGY, 'jobs'))).toEqual([]);
    const list = await ardea('list', cluster);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(TOPOLOGY);
  }, 120_000);
});
