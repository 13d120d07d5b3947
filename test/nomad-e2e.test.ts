/**
 * Word count on the Nomad pool, through the `ardea` CLI, against the Nomad emulator
 * (tools/nomad-emulator, whose fidelity the official Go client checks) with ACLs on. The cluster is
 * examples/clusters/nomad as shipped. What the plugin did is checked through Nomad's HTTP API as any
 * client would see it — jobs, allocations, variables — and through the processes the allocations ran.
 */
import { isAlive } from '@ardea/core/testing';
import { startNomadEmulator, type NomadEmulator } from '@ardea/nomad-emulator';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ardea as ardeaIn,
  closedPort,
  configProperties,
  countsGrow,
  E2E_WAIT_MS,
  expectHealthManagerScaledCount,
  expectWordCountDrainedWithoutLoss,
  freshHome,
  plannedContainers,
  processesWithEnvironment,
  removeHome,
  repoRoot,
  SATURATED_COUNT,
  SCALED_BY_THE_TEST,
  startPackageServer,
  stopPackageServer,
  submitFailsWithOneLine,
} from './support.js';

const TOPOLOGY = 'word-count';
const CLUSTER = path.join(repoRoot, 'examples', 'clusters', 'nomad');
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
/** The ports examples/clusters/nomad names. */
const NOMAD_PORT = 4646;
const PACKAGE_SERVER_PORT = 8480;
const slow = { timeout: E2E_WAIT_MS, interval: 300 };

let home = '';
let token = '';
let nomad: NomadEmulator | undefined;
let packageServer: ChildProcess | undefined;
/** Every process an allocation of this test ran, checked dead after kill. */
const seenPids = new Set<number>();

const ardea = (...args: string[]) => ardeaIn(home, ...args);

/** A GET on the Nomad API with the cluster's token; undefined on 404. */
async function nomadGet<T>(apiPath: string): Promise<T | undefined> {
  const response = await fetch(`${nomad!.address}${apiPath}`, { headers: { 'x-nomad-token': token } });
  if (response.status === 404) return undefined;
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as T;
}

interface AllocationView {
  ID: string;
  Name: string;
  DesiredStatus: string;
  ClientStatus: string;
}

interface InstanceView {
  readonly containerId: number;
  readonly allocation: string;
  readonly name: string;
}

async function liveAllocations(): Promise<AllocationView[]> {
  const all = (await nomadGet<AllocationView[]>(`/v1/job/${TOPOLOGY}/allocations`)) ?? [];
  return all.filter((allocation) => allocation.DesiredStatus === 'run' && allocation.ClientStatus === 'running');
}

function containerIdOf(name: string): number {
  const [, group, index] = /\.(manager|executors)\[(\d+)\]$/.exec(name) ?? [];
  return group === 'manager' ? 0 : Number(index) + 1;
}

/** The processes an allocation runs (the emulator gives each its NOMAD_ALLOC_ID). */
function processesOfAllocation(id: string): number[] {
  const pids = processesWithEnvironment(`NOMAD_ALLOC_ID=${id}`);
  for (const pid of pids) seenPids.add(pid);
  return pids;
}

/** Waits until exactly the planned containers run as allocations, each with a process; resolves to them. */
async function instancesRunning(): Promise<InstanceView[]> {
  const planned = await plannedContainers(home, CLUSTER, TOPOLOGY);
  return vi.waitFor(async () => {
    const instances = (await liveAllocations())
      .map((allocation) => ({ containerId: containerIdOf(allocation.Name), allocation: allocation.ID, name: allocation.Name }))
      .sort((a, b) => a.containerId - b.containerId);
    expect(instances.map((i) => i.containerId)).toEqual(planned);
    for (const instance of instances) expect(processesOfAllocation(instance.allocation).length, instance.name).toBeGreaterThan(0);
    return instances;
  }, slow);
}

async function executorsCount(): Promise<number | undefined> {
  const job = await nomadGet<{ TaskGroups: { Name: string; Count: number }[] }>(`/v1/job/${TOPOLOGY}`);
  return job?.TaskGroups.find((group) => group.Name === 'executors')?.Count;
}

/** Kills the topology if the cluster's state (ZooKeeper, shared by every run) still has it. */
async function killLeftover(): Promise<void> {
  if (!(await ardea('list', CLUSTER)).stdout.includes(TOPOLOGY)) return;
  const kill = await ardea('kill', CLUSTER, TOPOLOGY);
  expect(kill.code, kill.stderr).toBe(0);
}

describe('word count on Nomad (the emulator) through the CLI', () => {
  beforeAll(async () => {
    home = freshHome('ardea-nomad-e2e-');
    token = randomUUID();
    writeFileSync(path.join(home, 'nomad.token'), `${token}\n`, { mode: 0o600 });
    const dataDir = path.join(home, 'nomad');
    mkdirSync(dataDir);
    nomad = await startNomadEmulator({ dataDir, port: NOMAD_PORT, aclToken: token });
    await killLeftover();
    packageServer = await startPackageServer(home, PACKAGE_SERVER_PORT);
    // The scaling checked first is the test's own; the health manager's comes last.
    const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SCALED_BY_THE_TEST);
    expect(submit.code, submit.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await killLeftover().catch(() => undefined);
    await stopPackageServer(packageServer);
    await nomad?.close();
    await removeHome(home, []);
  }, 300_000);

  it('runs every container as an allocation of one job, with the environment in a variable, and counts words', async () => {
    const instances = await instancesRunning();
    const job = await nomadGet<{ Type: string; Meta: Record<string, string>; TaskGroups: { Name: string; Count: number }[] }>(
      `/v1/job/${TOPOLOGY}`,
    );
    expect(job!.Type).toBe('service');
    expect(job!.Meta['ardea.topology']).toBe(TOPOLOGY);
    expect(job!.TaskGroups.map((group) => [group.Name, group.Count])).toEqual([
      ['manager', 1],
      ['executors', instances.length - 1],
    ]);
    // The cluster config travels in the job's variable, which only its tasks and the token's holder read.
    const variable = await nomadGet<{ Items: Record<string, string> }>(`/v1/var/nomad/jobs/${TOPOLOGY}`);
    expect(variable!.Items.executor_env).toContain('ARDEA_CLUSTER_CONFIG=');
    expect(JSON.stringify(job)).not.toContain('ARDEA_CLUSTER_CONFIG');
    const described = await ardea('describe', CLUSTER, TOPOLOGY, '--json');
    const { jobLinks } = (JSON.parse(described.stdout) as { scheduler: { jobLinks: string[] } }).scheduler;
    expect(jobLinks).toContain(`${nomad!.address}/ui/jobs/${TOPOLOGY}@default`);
    await countsGrow(home, TOPOLOGY, CLUSTER);
  }, 300_000);

  it('update scales count to 6 and back through the executors group, keeping the allocations that stay, losing nothing', async () => {
    const before = await instancesRunning();
    const up = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:6');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^ {2}count: 2 -> 6 instances$/m);
    const scaled = await instancesRunning();
    expect(scaled.length).toBeGreaterThan(before.length);
    expect(await executorsCount()).toBe(scaled.length - 1);
    for (const instance of before)
      expect(scaled.find((i) => i.name === instance.name)?.allocation, instance.name).toBe(instance.allocation);
    await countsGrow(home, TOPOLOGY, CLUSTER);

    const down = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:2');
    expect(down.code, down.stderr).toBe(0);
    const after = await instancesRunning();
    expect(after.map((i) => i.allocation)).toEqual(before.map((i) => i.allocation));
    const removed = scaled.filter((i) => !after.some((kept) => kept.allocation === i.allocation));
    for (const instance of removed) {
      const allocation = await nomadGet<AllocationView>(`/v1/allocation/${instance.allocation}`);
      expect(allocation!.ClientStatus, instance.name).toBe('complete');
      expect(processesOfAllocation(instance.allocation), instance.name).toEqual([]);
    }
    await countsGrow(home, TOPOLOGY, CLUSTER);

    await expectWordCountDrainedWithoutLoss(home, CLUSTER, TOPOLOGY);
  }, 600_000);

  it('restart of container 1 replaces only its allocation', async () => {
    const before = await instancesRunning();
    const old = before.find((i) => i.containerId === 1)!;
    const oldProcesses = processesOfAllocation(old.allocation);
    const restart = await ardea('restart', CLUSTER, TOPOLOGY, '1');
    expect(restart.code, restart.stderr).toBe(0);
    const after = await vi.waitFor(async () => {
      const instances = await instancesRunning();
      expect(instances.find((i) => i.containerId === 1)!.allocation).not.toBe(old.allocation);
      return instances;
    }, slow);
    expect(after.find((i) => i.containerId === 1)!.name).toBe(old.name);
    for (const instance of before.filter((i) => i.containerId !== 1))
      expect(after.find((i) => i.containerId === instance.containerId)!.allocation, instance.name).toBe(instance.allocation);
    await vi.waitFor(() => expect(oldProcesses.filter(isAlive)).toEqual([]), slow);
    await countsGrow(home, TOPOLOGY, CLUSTER);
  }, 300_000);

  it('kill leaves no job, no variable and no process behind', async () => {
    await instancesRunning();
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
    expect(await nomadGet(`/v1/job/${TOPOLOGY}`)).toBeUndefined();
    expect(await nomadGet(`/v1/var/nomad/jobs/${TOPOLOGY}`)).toBeUndefined();
    await vi.waitFor(() => expect([...seenPids].filter(isAlive), 'processes of the topology still alive').toEqual([]), slow);
  }, 300_000);

  it('the health manager, in container 0, scales a saturated count bolt through the Nomad API', async () => {
    const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SATURATED_COUNT);
    expect(submit.code, submit.stderr).toBe(0);
    const initial = await instancesRunning();
    await expectHealthManagerScaledCount(home, CLUSTER, TOPOLOGY);
    // The repacked plan has more containers, which only the executors group's count adds.
    const scaled = await instancesRunning();
    expect(scaled.length).toBeGreaterThan(initial.length);
    expect(await executorsCount()).toBe(scaled.length - 1);
    for (const instance of initial)
      expect(scaled.find((i) => i.name === instance.name)?.allocation, instance.name).toBe(instance.allocation);
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
  }, 900_000);

  describe('bad input gets one clear ardea: line and leaves nothing behind', () => {
    const submitWith = (...properties: string[]) => submitFailsWithOneLine(home, CLUSTER, WORD_COUNT, ...configProperties(...properties));

    beforeAll(async () => {
      await killLeftover();
    }, 300_000);

    afterEach(async () => {
      expect(await nomadGet(`/v1/jobs`), 'jobs left behind').toEqual([]);
      expect(await nomadGet(`/v1/vars?prefix=nomad/jobs/`), 'variables left behind').toEqual([]);
      const list = await ardea('list', CLUSTER);
      expect(list.stdout).not.toContain(TOPOLOGY);
      const stored = readdirSync(path.join(home, 'package-server'), { recursive: true, withFileTypes: true });
      expect(stored.filter((entry) => entry.isFile() && !entry.name.startsWith('.')).map((entry) => entry.name)).toEqual([]);
    }, 120_000);

    it('a wrong token', async () => {
      const wrong = path.join(home, 'wrong.token');
      writeFileSync(wrong, 'not-the-token\n', { mode: 0o600 });
      const line = await submitWith(`scheduler.tokenFile=${wrong}`);
      expect(line).toMatch(/answered 403 to GET \/v1\/job\/word-count: Permission denied; Nomad refused the token/);
    }, 120_000);

    it('an address nothing answers', async () => {
      const line = await submitWith(`scheduler.address=http://127.0.0.1:${await closedPort()}`);
      expect(line).toMatch(/cannot reach Nomad at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED\)/);
    }, 120_000);

    it('a datacenter with no client node', async () => {
      const line = await submitWith('scheduler.datacenters=[nowhere]');
      expect(line).toMatch(/Nomad could not place group manager: no client node is in the job's datacenters/);
    }, 120_000);

    it('a namespace that does not exist', async () => {
      const line = await submitWith('scheduler.namespace=nowhere');
      expect(line).toMatch(/answered 400 .*namespace "nowhere" does not exist; create the namespace/);
    }, 120_000);

    it('containers no node fits', async () => {
      // Three instances of 12 GiB in a container, where the one node has 32 GiB in all.
      const line = await submitWith('packing.instance.ram=12GiB', 'packing.container.ram=64GiB');
      expect(line).toMatch(/Nomad could not place group executors: memory exhausted on 1 node\(s\)/);
    }, 120_000);
  });
});
