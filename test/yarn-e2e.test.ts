/**
 * Word count on the YARN pool, through the `ardea` CLI, against the real ResourceManager and
 * NodeManager of scripts/yarn-up.sh. The cluster is examples/clusters/yarn as shipped. What the plugin
 * did is checked as an independent client would: the RM's cluster API (`/ws/v1/cluster/apps`), the
 * Services API and the NodeManager's own container list (`/ws/v1/node/containers`), and the processes
 * the NodeManager started (each has its YARN container id in CONTAINER_ID).
 */
import { describeWithService, isAlive } from '@ardea/core/testing';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
import { LOOPBACK_YARN, YARN_RM, yarnGet, YARN_USER } from './yarn.js';

const TOPOLOGY = 'word-count';
const CLUSTER = path.join(repoRoot, 'examples', 'clusters', 'yarn');
const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
/** The port examples/clusters/yarn/uploader.yaml names. */
const PACKAGE_SERVER_PORT = 8479;
/** The NodeManager's web app, as yarn-up.sh configures it. */
const NODE_MANAGER = 'http://127.0.0.1:8042';
const slow = { timeout: E2E_WAIT_MS, interval: 500 };

let home = '';
let packageServer: ChildProcess | undefined;
/** Every process a YARN container of this test ran, checked dead after kill. */
const seenPids = new Set<number>();

const ardea = (...args: string[]) => ardeaIn(home, ...args);

interface InstanceView {
  /** The Ardea container id: 0 for manager-0, i+1 for executor-i. */
  readonly containerId: number;
  readonly instance: string;
  /** The YARN container id. */
  readonly yarnId: string;
  readonly state: string;
}

interface ServiceBody {
  state?: string;
  id?: string;
  components?: {
    name: string;
    number_of_containers?: number;
    resource?: { cpus: number; memory: string };
    containers?: { id: string; state: string; component_instance_name: string }[];
  }[];
}

/** The service as the Services API shows it (404: undefined). */
async function service(name = TOPOLOGY): Promise<ServiceBody | undefined> {
  const answer = await yarnGet(`/app/v1/services/${name}`);
  if (answer.status === 404) return undefined;
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as ServiceBody;
}

function instancesOf(body: ServiceBody): InstanceView[] {
  return (body.components ?? [])
    .flatMap((component) => component.containers ?? [])
    .map((container) => {
      const [, component, index] = /^(manager|executor)-(\d+)$/.exec(container.component_instance_name) ?? [];
      return {
        containerId: component === 'manager' ? 0 : Number(index) + 1,
        instance: container.component_instance_name,
        yarnId: container.id,
        state: container.state,
      };
    })
    .sort((a, b) => a.containerId - b.containerId);
}

/** The live applications named `name` that the RM's cluster API lists. */
async function liveApplications(name = TOPOLOGY): Promise<{ id: string; state: string; runningContainers: number }[]> {
  const answer = await yarnGet('/ws/v1/cluster/apps?states=NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING&applicationTypes=yarn-service');
  expect(answer.status).toBe(200);
  const apps = (answer.body as { apps?: { app?: { id: string; name: string; state: string; runningContainers: number }[] } | null }).apps;
  return (apps?.app ?? []).filter((app) => app.name === name);
}

/** YARN container ids the NodeManager runs now. */
async function nodeManagerRunning(): Promise<Set<string>> {
  const response = await fetch(`${NODE_MANAGER}/ws/v1/node/containers`, { headers: { accept: 'application/json' } });
  const body = (await response.json()) as { containers?: { container?: { id: string; state: string }[] } | null };
  return new Set((body.containers?.container ?? []).filter((c) => c.state === 'RUNNING').map((c) => c.id));
}

/** The processes the NodeManager started for one YARN container. */
function processesOfContainer(yarnId: string): number[] {
  const pids = processesWithEnvironment(`CONTAINER_ID=${yarnId}`);
  for (const pid of pids) seenPids.add(pid);
  return pids;
}

/**
 * Waits until exactly the planned containers run as READY instances of the service, each a container
 * the NodeManager runs with a process of its own; resolves to them.
 */
async function instancesRunning(): Promise<InstanceView[]> {
  const planned = await plannedContainers(home, CLUSTER, TOPOLOGY);
  return vi.waitFor(async () => {
    const body = await service();
    expect(body?.state).toBe('STABLE');
    const instances = instancesOf(body!);
    expect(instances.map((i) => i.containerId)).toEqual(planned);
    const atNodeManager = await nodeManagerRunning();
    for (const instance of instances) {
      expect(instance.state, `state of ${instance.instance}`).toBe('READY');
      expect(atNodeManager.has(instance.yarnId), `${instance.yarnId} runs at the NodeManager`).toBe(true);
      expect(processesOfContainer(instance.yarnId).length, `processes of ${instance.yarnId}`).toBeGreaterThan(0);
    }
    return instances;
  }, slow);
}

/** Kills the topology if the cluster's state (ZooKeeper, shared by every run) still has it. */
async function killLeftover(): Promise<void> {
  if (!(await ardea('list', CLUSTER)).stdout.includes(TOPOLOGY)) return;
  const kill = await ardea('kill', CLUSTER, TOPOLOGY);
  expect(kill.code, kill.stderr).toBe(0);
}

await describeWithService(LOOPBACK_YARN, 'word count on YARN through the CLI', () => {
  beforeAll(async () => {
    home = freshHome('ardea-yarn-e2e-');
    await killLeftover();
    packageServer = await startPackageServer(home, PACKAGE_SERVER_PORT);
    // The scaling checked first is the test's own; the health manager's comes last.
    const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SCALED_BY_THE_TEST);
    expect(submit.code, submit.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await killLeftover().catch(() => undefined);
    await stopPackageServer(packageServer);
    await removeHome(home, []);
  }, 300_000);

  it('runs every container as an instance of one YARN service that the NodeManager started, and counts words', async () => {
    const instances = await instancesRunning();
    const body = (await service())!;
    expect(body.components!.map((c) => [c.name, c.number_of_containers])).toEqual([
      ['manager', 1],
      ['executor', instances.length - 1],
    ]);
    // The RM's own API: one RUNNING yarn-service application, its AM plus one container per instance.
    const apps = await liveApplications();
    expect(apps).toHaveLength(1);
    expect(apps[0]).toMatchObject({ id: body.id, state: 'RUNNING', runningContainers: instances.length + 1 });
    // Each container's executor got its container id from the instance index.
    for (const instance of instances) {
      const environments = processesOfContainer(instance.yarnId).map((pid) =>
        readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean),
      );
      expect(
        environments.some((env) => env.includes(`ARDEA_CONTAINER_ID=${instance.containerId}`)),
        instance.instance,
      ).toBe(true);
    }
    const described = await ardea('describe', CLUSTER, TOPOLOGY, '--json');
    expect(described.code, described.stderr).toBe(0);
    const { jobLinks } = (JSON.parse(described.stdout) as { scheduler: { jobLinks: string[] } }).scheduler;
    expect(jobLinks).toContain(`${YARN_RM}/cluster/app/${body.id}`);
    await countsGrow(home, TOPOLOGY, CLUSTER);
  }, 300_000);

  it('update flexes the executor component to scale count to 6 and back, keeping the containers that stay, losing nothing', async () => {
    const before = await instancesRunning();
    const up = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:6');
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^ {2}count: 2 -> 6 instances$/m);
    const scaled = await instancesRunning();
    expect(scaled.length).toBeGreaterThan(before.length);
    const executor = (await service())!.components!.find((c) => c.name === 'executor')!;
    expect(executor.number_of_containers).toBe(scaled.length - 1);
    for (const instance of before)
      expect(scaled.find((i) => i.instance === instance.instance)?.yarnId, instance.instance).toBe(instance.yarnId);
    await countsGrow(home, TOPOLOGY, CLUSTER);

    const down = await ardea('update', CLUSTER, TOPOLOGY, '--component-parallelism', 'count:2');
    expect(down.code, down.stderr).toBe(0);
    const after = await instancesRunning();
    expect(after.map((i) => i.yarnId)).toEqual(before.map((i) => i.yarnId));
    const removed = scaled.filter((i) => !after.some((kept) => kept.yarnId === i.yarnId));
    const stillRunning = await nodeManagerRunning();
    for (const instance of removed) expect(stillRunning.has(instance.yarnId), `${instance.yarnId} stopped`).toBe(false);
    await countsGrow(home, TOPOLOGY, CLUSTER);

    await expectWordCountDrainedWithoutLoss(home, CLUSTER, TOPOLOGY);
  }, 600_000);

  it('restart of container 1 replaces only its YARN container', async () => {
    const before = await instancesRunning();
    const oldProcesses = processesOfContainer(before.find((i) => i.containerId === 1)!.yarnId);
    const restart = await ardea('restart', CLUSTER, TOPOLOGY, '1');
    expect(restart.code, restart.stderr).toBe(0);
    const after = await vi.waitFor(async () => {
      const instances = await instancesRunning();
      expect(instances.find((i) => i.containerId === 1)!.yarnId).not.toBe(before.find((i) => i.containerId === 1)!.yarnId);
      return instances;
    }, slow);
    for (const instance of before.filter((i) => i.containerId !== 1))
      expect(after.find((i) => i.containerId === instance.containerId)!.yarnId, instance.instance).toBe(instance.yarnId);
    expect(oldProcesses.filter(isAlive), 'processes of the replaced container').toEqual([]);
    await countsGrow(home, TOPOLOGY, CLUSTER);
  }, 300_000);

  it('kill leaves no running application and no process behind', async () => {
    const running = await instancesRunning();
    const appId = (await service())!.id!;
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
    expect(await liveApplications()).toEqual([]);
    expect(await service()).toBeUndefined();
    const app = await yarnGet(`/ws/v1/cluster/apps/${appId}`);
    expect((app.body as { app: { state: string } }).app.state).toMatch(/^(FINISHED|KILLED)$/);
    const atNodeManager = await nodeManagerRunning();
    for (const instance of running) expect(atNodeManager.has(instance.yarnId), instance.yarnId).toBe(false);
    await vi.waitFor(() => {
      const alive = [...seenPids].filter(isAlive);
      expect(alive, 'processes of the topology still alive').toEqual([]);
    }, slow);
  }, 300_000);

  it('the health manager, in container 0, scales a saturated count bolt through the Services API', async () => {
    const submit = await ardea('submit', CLUSTER, WORD_COUNT, ...SATURATED_COUNT);
    expect(submit.code, submit.stderr).toBe(0);
    const initial = await instancesRunning();
    await expectHealthManagerScaledCount(home, CLUSTER, TOPOLOGY);
    // The repacked plan has more containers, which only flexing the executor component adds.
    const scaled = await instancesRunning();
    expect(scaled.length).toBeGreaterThan(initial.length);
    const executor = (await service())!.components!.find((c) => c.name === 'executor')!;
    expect(executor.number_of_containers).toBe(scaled.length - 1);
    for (const instance of initial)
      expect(scaled.find((i) => i.instance === instance.instance)?.yarnId, instance.instance).toBe(instance.yarnId);
    const kill = await ardea('kill', CLUSTER, TOPOLOGY);
    expect(kill.code, kill.stderr).toBe(0);
  }, 900_000);

  describe('bad input gets one clear ardea: line and leaves nothing behind', () => {
    let name = TOPOLOGY;
    const submitWith = (cluster: string, ...args: string[]) => submitFailsWithOneLine(home, cluster, WORD_COUNT, ...args);

    beforeAll(async () => {
      // Whatever an earlier test of this file left running would make every submit here fail for that reason.
      await killLeftover();
    }, 300_000);

    afterEach(async () => {
      expect(await liveApplications(name), 'applications left behind').toEqual([]);
      expect(await service(name), 'service left behind').toBeUndefined();
      expect(existsSync(path.join('/var/tmp/ardea-yarn', YARN_USER, name)), 'staged files left behind').toBe(false);
      const list = await ardea('list', CLUSTER);
      expect(list.stdout).not.toContain(name);
      const stored = readdirSync(path.join(home, 'package-server'), { recursive: true, withFileTypes: true });
      expect(stored.filter((entry) => entry.isFile() && !entry.name.startsWith('.')).map((entry) => entry.name)).toEqual([]);
      name = TOPOLOGY;
    }, 120_000);

    it('a ResourceManager that does not answer', async () => {
      const line = await submitWith(CLUSTER, ...configProperties(`scheduler.resourceManager=http://127.0.0.1:${await closedPort()}`));
      expect(line).toMatch(/cannot reach the YARN ResourceManager at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED\)/);
      expect(line).toMatch(/yarn-up\.sh|resourceManager in scheduler\.yaml/);
    }, 120_000);

    it('an unknown queue', async () => {
      const line = await submitWith(CLUSTER, ...configProperties('scheduler.queue=nowhere'));
      expect(line).toMatch(/has no queue 'nowhere' \(its queues: .*default/);
    }, 120_000);

    it('a container larger than the largest YARN allocates', async () => {
      // Three instances of 3 GiB in one container: more than yarn.scheduler.maximum-allocation-mb (4096).
      const line = await submitWith(CLUSTER, ...configProperties('packing.instance.ram=3GiB', 'packing.container.ram=64GiB'));
      expect(line).toMatch(/larger than configured max container memory size \(4096\)/);
      expect(line).toMatch(/fewer resources/);
    }, 300_000);

    it('a service name YARN refuses', async () => {
      name = 'executor';
      const line = await submitWith(CLUSTER, '--name', name);
      expect(line).toMatch(/answered 400 .*Component name executor must not be same as service name executor/);
      expect(line).toMatch(/rename the topology/);
    }, 120_000);
  });
});
