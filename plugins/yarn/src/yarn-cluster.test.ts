import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MiB, SchedulerError, type PackingPlan } from '@ardea/core/plugin';
import { describeWithService } from '@ardea/core/testing';
import { processesWithEnvironment, sleepRequest } from '@ardea/test-support';
import { LOOPBACK_YARN, yarnGet, YARN_USER } from '@ardea/test-support/yarn';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { serviceNameOf } from './service-spec.js';
import { schedulerFor } from './test-support.js';
import type { YarnScheduler } from './yarn-scheduler.js';

const slow = { timeout: 90_000, interval: 250 };
let stagingDirectory = '';
/** Topologies a test scheduled, killed after it whatever happened. */
const scheduled: Array<{ scheduler: YarnScheduler; topologyName: string }> = [];

function plan(topologyName: string, containers: number): PackingPlan {
  return sleepRequest(topologyName, containers).packingPlan;
}

async function scheduleSleepers(
  pool: YarnScheduler,
  topologyName: string,
  containers: number,
  env?: Record<string, string>,
): Promise<void> {
  scheduled.push({ scheduler: pool, topologyName });
  await pool.schedule(sleepRequest(topologyName, containers, 0.1, env));
}

/** Waits until containers 0..`containers` all run; resolves to their YARN container ids. */
async function allRunning(pool: YarnScheduler, topologyName: string, containers: number): Promise<string[]> {
  return vi.waitFor(async () => {
    const status = await pool.status(topologyName);
    expect(status.map((container) => container.containerId)).toEqual(Array.from({ length: containers + 1 }, (_, id) => id));
    for (const container of status) expect(container.state, `container ${container.containerId}`).toBe('running');
    return status.map((container) => container.handle!);
  }, slow);
}

/** The environment of the process the NodeManager runs for a YARN container (the executor: sleep). */
async function executorEnvironment(yarnContainerId: string): Promise<Map<string, string>> {
  return vi.waitFor(async () => {
    const pids = processesWithEnvironment(`CONTAINER_ID=${yarnContainerId}`);
    const environments = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')));
    const executor = environments.map(parseEnvironment).find((env) => env.has('ARDEA_CONTAINER_ID'));
    expect(executor, `the executor of ${yarnContainerId}`).toBeDefined();
    return executor!;
  }, slow);
}

function parseEnvironment(text: string): Map<string, string> {
  return new Map(
    text
      .split('\0')
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
}

await describeWithService(LOOPBACK_YARN, 'the yarn pool on the loopback YARN: environment, restarts, refusals', () => {
  beforeAll(async () => {
    stagingDirectory = await mkdtemp(path.join(os.tmpdir(), 'ardea-yarn-cluster-'));
  });

  afterEach(async () => {
    for (const { scheduler: owner, topologyName } of scheduled.splice(0)) await owner.kill(topologyName).catch(() => undefined);
  }, 120_000);

  afterAll(async () => {
    await rm(stagingDirectory, { recursive: true, force: true });
  });

  it('gives every container its id, its node host and the executor environment, which the service definition does not show', async () => {
    const pool = schedulerFor({ stagingDirectory });
    const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
    const config = JSON.stringify({ statemgr: { password: secret }, quoted: `it's "$HOME"` });
    await scheduleSleepers(pool, 'environment', 2, { ARDEA_CLUSTER_CONFIG: config });
    const handles = await allRunning(pool, 'environment', 2);

    const definition = await yarnGet(`/app/v1/services/${serviceNameOf('environment')}`);
    expect(definition.status).toBe(200);
    expect(JSON.stringify(definition.body)).not.toContain(secret);

    const directory = path.join(stagingDirectory, YARN_USER, serviceNameOf('environment'));
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(directory, 'ardea-executor.env'))).mode & 0o777).toBe(0o600);

    for (const [containerId, handle] of handles.entries()) {
      const env = await executorEnvironment(handle);
      expect(env.get('ARDEA_CONTAINER_ID')).toBe(String(containerId));
      expect(env.get('ARDEA_CLUSTER_CONFIG')).toBe(config);
      expect(env.get('HADOOP_USER_NAME')).toBe(YARN_USER);
      expect(env.get('ARDEA_LISTEN_HOST')).toBe(env.get('NM_HOST'));
      expect(env.get('ARDEA_LISTEN_HOST')).toMatch(/\S/);
    }
  }, 300_000);

  it("counts a container YARN replaced after its process died as a restart, but not one 'restart' asked for", async () => {
    const pool = schedulerFor({ stagingDirectory });
    await scheduleSleepers(pool, 'restarts', 2);
    const before = await allRunning(pool, 'restarts', 2);

    await pool.restart('restarts', 1);
    const replaced = await vi.waitFor(async () => {
      const handles = await allRunning(pool, 'restarts', 2);
      expect(handles[1]).not.toBe(before[1]);
      return handles;
    }, slow);
    expect(replaced[0]).toBe(before[0]);
    expect(replaced[2]).toBe(before[2]);

    const victim = processesWithEnvironment(`CONTAINER_ID=${before[2]}`);
    expect(victim.length).toBeGreaterThan(0);
    for (const pid of victim) process.kill(pid, 'SIGKILL');
    await vi.waitFor(async () => {
      const status = await pool.status('restarts');
      expect(status[2]).toMatchObject({ state: 'running', restarts: 1 });
      expect(status[2]!.handle).not.toBe(before[2]);
    }, slow);
    const status = await pool.status('restarts');
    expect(status.map((container) => container.restarts)).toEqual([0, 0, 1]);
  }, 300_000);

  it('refuses to add containers larger than the executor component, and changes nothing', async () => {
    const pool = schedulerFor({ stagingDirectory });
    await scheduleSleepers(pool, 'resize', 1);
    await allRunning(pool, 'resize', 1);
    const bigger = plan('resize', 2);
    const proposed: PackingPlan = {
      ...bigger,
      containers: [bigger.containers[0]!, { ...bigger.containers[1]!, required: { cpu: 3, ramBytes: 64 * MiB, diskBytes: 0 } }],
    };
    const update = pool.update({
      topologyName: 'resize',
      current: plan('resize', 1),
      proposed,
      executor: sleepRequest('resize', 2).executor,
    });
    await expect(update).rejects.toThrow(SchedulerError);
    await expect(update).rejects.toThrow(/added containers need 3 vcores .* every instance of component executor has 1 vcores/);
    const service = (await yarnGet(`/app/v1/services/${serviceNameOf('resize')}`)).body as {
      components: { name: string; number_of_containers: number }[];
    };
    expect(service.components.find((component) => component.name === 'executor')?.number_of_containers).toBe(1);
    expect((await pool.status('resize')).map((container) => container.containerId)).toEqual([0, 1]);
  }, 300_000);

  it('refuses a restart of a container the topology does not have, and a call on a topology YARN does not run', async () => {
    const pool = schedulerFor({ stagingDirectory });
    await scheduleSleepers(pool, 'bounds', 1);
    await expect(pool.restart('bounds', 5)).rejects.toThrow(/has no container 5; its containers are 0\.\.1/);
    await expect(pool.status('never-scheduled')).rejects.toThrow(
      /not scheduled there \(the ResourceManager has no service never-scheduled/,
    );
    await expect(pool.kill('never-scheduled')).resolves.toBeUndefined();
  }, 300_000);
});
