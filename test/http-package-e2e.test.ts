import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createArdea, INSTALLED_EXECUTOR_BIN } from '@ardea/core';
import { ardea, ardeaBin, processesOf, repoRoot } from './support.js';

/**
 * A pool whose containers share no filesystem with the submitter gets its package over HTTP: the
 * cluster's uploader is `http`, the package server is `ardea package-server` (a child of this test),
 * and the executors are started by their logical command. State stays in the local filesystem
 * store: the ZooKeeper e2e already shows that state needs no shared directory, and this test then
 * runs without any service.
 */
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const TOPOLOGY = 'word-count';

let home: string;
let cluster: string;
let server: ChildProcess | undefined;
let serverLog = '';

interface ServerLine {
  readonly msg: string;
  readonly topologyName?: string;
  readonly topologyId?: string;
  readonly fileName?: string;
}
const serverLines = (): ServerLine[] =>
  serverLog
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as ServerLine);
const served = () => serverLines().filter((line) => line.msg === 'package served');

/** Starts `ardea package-server` on a free port; resolves to its URL once it listens. */
async function startPackageServer(directory: string, tokenFile: string): Promise<string> {
  const child = spawn(process.execPath, [ardeaBin, 'package-server', '--dir', directory, '--token-file', tokenFile, '--port', '0'], {
    cwd: home,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => (serverLog += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^package server listening on (http:\/\/\S+) /m.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the package server exited with code ${code}: ${serverLog}`)));
  });
}

/** A process's argv and the variables Ardea gave it. */
function processOf(pid: number): { argv: string[]; ardeaEnv: string[] } {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  const ardeaEnv = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((entry) => entry.startsWith('ARDEA_'));
  return { argv, ardeaEnv };
}

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-http-package-e2e-'));
  const serverDirectory = path.join(home, 'package-server');
  mkdirSync(serverDirectory, { mode: 0o700 });
  const tokenFile = path.join(serverDirectory, 'token');
  const url = await startPackageServer(path.join(serverDirectory, 'packages'), tokenFile);
  cluster = path.join(home, 'remote');
  mkdirSync(cluster);
  writeFileSync(path.join(cluster, 'scheduler.yaml'), 'plugin: local\n');
  writeFileSync(path.join(cluster, 'uploader.yaml'), `plugin: http\nurl: ${url}\ntokenFile: ${tokenFile}\n`);
});

afterAll(async () => {
  if (!home) return;
  if (existsSync(`${cluster}.away`)) renameSync(`${cluster}.away`, cluster);
  await ardea(home, 'kill', cluster, TOPOLOGY);
  for (const pid of processesOf(home)) process.kill(pid, 'SIGKILL');
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(home, { recursive: true, force: true });
});

describe('a topology whose package comes over HTTP', () => {
  it('runs word count from a package server, with executors started by their logical command, and kill removes the package', async () => {
    const submit = await ardea(
      home,
      'submit',
      cluster,
      WORD_COUNT,
      '--config-property',
      'topology.metricsIntervalMs=500',
      '--config-property',
      'sentence.rate=2000',
    );
    expect(submit.code, submit.stderr).toBe(0);
    // What the CLI prints does not give the signature away.
    expect(submit.stderr).toMatch(
      /uploaded package to http:\/\/127\.0\.0\.1:\d+\/packages\/word-count\/word-count-[0-9a-f]+\/topology\.mjs\?…\n/,
    );

    const client = await createArdea({ cluster, env: { ...process.env, ARDEA_HOME: home } });
    try {
      const execution = (await client.state.get('executionState', TOPOLOGY))!;
      const plan = (await client.state.get('packingPlan', TOPOLOGY))!;
      expect(new URL(execution.packageUri).protocol).toBe('http:');

      await vi.waitFor(async () => expect((await client.metrics(TOPOLOGY)).components.count?.executed).toBeGreaterThan(5000), {
        timeout: 60_000,
        interval: 500,
      });

      // Every container that runs instances fetched the package once, over HTTP, into its own cache.
      const fetched = served();
      expect(fetched.map((line) => line.topologyId).sort()).toEqual(plan.containers.map(() => execution.topologyId));
      for (const container of plan.containers) {
        const cache = path.join(home, 'topologies', 'remote', TOPOLOGY, `container-${container.id}`, 'package-cache');
        const copies = readdirSync(cache);
        expect(copies).toEqual([`topology-${execution.packageSha256}.mjs`]);
        expect(
          createHash('sha256')
            .update(readFileSync(path.join(cache, copies[0]!)))
            .digest('hex'),
        ).toBe(execution.packageSha256);
      }

      // Containers run the logical command, resolved to this installation's bin; nothing Ardea gave
      // them points into the repository (the cluster config travels by value).
      const statuses = await client.status(TOPOLOGY);
      expect(statuses).toHaveLength(plan.containers.length + 1);
      for (const status of statuses) {
        const { argv, ardeaEnv } = processOf(Number(status.handle));
        expect(argv).toEqual([process.execPath, INSTALLED_EXECUTOR_BIN, '--topology', TOPOLOGY, '--container', String(status.containerId)]);
        expect(argv.join(' ')).not.toContain(path.join(repoRoot, 'core', 'dist'));
        expect(ardeaEnv.filter((entry) => entry.includes(repoRoot))).toEqual([]);
        expect(ardeaEnv.map((entry) => entry.split('=')[0])).toContain('ARDEA_CLUSTER_CONFIG');
      }

      // The cluster directory is not needed by the containers: with it gone, a killed container
      // is started again by its supervisor and runs from its checked copy of the package.
      renameSync(cluster, `${cluster}.away`);
      const victim = statuses.find((status) => status.containerId === 1)!;
      process.kill(Number(victim.handle), 'SIGKILL');
      await vi.waitFor(
        async () => {
          const again = (await client.status(TOPOLOGY)).find((status) => status.containerId === 1)!;
          expect(again.state).toBe('running');
          expect(again.handle).not.toBe(victim.handle);
        },
        { timeout: 60_000, interval: 200 },
      );
      const afterRestart = (await client.metrics(TOPOLOGY)).components.count?.executed ?? 0;
      await vi.waitFor(
        async () => expect((await client.metrics(TOPOLOGY)).components.count!.executed).toBeGreaterThan(afterRestart + 5000),
        {
          timeout: 60_000,
          interval: 500,
        },
      );
      expect(served()).toHaveLength(fetched.length);
      renameSync(`${cluster}.away`, cluster);

      const kill = await ardea(home, 'kill', cluster, TOPOLOGY);
      expect(kill.code, kill.stderr).toBe(0);
      expect(processesOf(home)).toEqual([]);
      expect((await fetch(execution.packageUri)).status).toBe(404);
      expect(serverLines().filter((line) => line.msg === 'package stored')).toHaveLength(1);
      expect(readdirSync(path.join(home, 'package-server', 'packages'))).toEqual(['.url-signing-key']);
    } finally {
      await client.close();
    }
    // Submit, two rounds of counting, a container restart and kill: generous for a busy machine.
  }, 240_000);
});
