import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SchedulerError } from '../errors/index.js';
import { checkPackingPlan, type ContainerPlan, type PackingPlan } from '../model/packing-plan.js';
import { MiB, resources } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';
import {
  CONTAINER_INDEX_PLACEHOLDER,
  type ContainerIdentity,
  type ContainerLogChunk,
  type ContainerLogRequest,
  type ExecutorSpec,
  type Scheduler,
  type ScheduleRequest,
} from '../spi/scheduler.js';
import { isAlive } from './services.js';

export interface SchedulerConformanceFactory {
  /** A fresh scheduler for one test; the suite kills its topology and closes it afterwards. */
  create(): Promise<Scheduler>;
  /** How long to wait for containers to come up (and for other eventual conditions). Default 15 s. */
  readonly timeoutMs?: number;
  /** Whether the pool restarts a container whose process dies on its own. */
  readonly recoversCrashedContainers: boolean;
  /**
   * The identity the pool's scheduler declares (default `per-container`). A per-container pool must
   * add and remove any container id; an ordinal one must add above its highest container, remove its
   * highest ones, and refuse anything else without changing anything (see the Scheduler docs).
   */
  readonly containerIdentity?: ContainerIdentity;
  /**
   * Whether the scheduler implements the optional `containerLog` (default false). The suite checks
   * the claim, and when it is true, that the log of a container holds what its executor printed and
   * is read by byte offsets as the Scheduler docs say.
   */
  readonly servesContainerLogs?: boolean;
  /** Whether the pool reports the host of a running container in `status` (default false). */
  readonly reportsHosts?: boolean;
  /** Called once after the whole suite, e.g. to stop an emulator or remove working directories. */
  cleanup?(): Promise<void>;
}

/** What the probe executor writes when its container starts. */
export interface ProbeRecord {
  readonly containerId: number;
  readonly pid: number;
  readonly startedAt: string;
}

/**
 * Checks a {@link Scheduler} against the contract every pool must honour: scheduling container 0 and
 * the plan's containers, per-container and whole-topology restart, scaling through `update` by the
 * rule of the pool's container identity, kill, errors for unknown topologies, and (when the pool
 * claims them) recovery of crashed containers, container logs and container hosts.
 *
 * Containers run the probe executor shipped with `@ardea/core` (a Node script started with
 * `process.execPath`), so the pool must be able to start local processes, directly or through an
 * emulator, and the probes must share this machine's pid namespace and filesystem.
 */
export function describeSchedulerConformance(name: string, factory: SchedulerConformanceFactory): void {
  const timeoutMs = factory.timeoutMs ?? 15_000;
  const waitOptions = { timeout: timeoutMs, interval: 50 };
  // A test waits for several eventual conditions in a row, each bounded by timeoutMs.
  const testTimeout = Math.max(30_000, timeoutMs * 4);
  const identity = factory.containerIdentity ?? 'per-container';
  const servesLogs = factory.servesContainerLogs ?? false;

  describe(`Scheduler conformance: ${name}`, () => {
    let scheduler: Scheduler | undefined;
    let probeDirectory = '';
    let topologyName = '';
    let testNumber = 0;
    const seenPids = new Set<number>();

    const current = (): Scheduler => {
      if (!scheduler) throw new Error('scheduler was not created');
      return scheduler;
    };

    const readProbe = async (containerId: number): Promise<ProbeRecord> => {
      const record = JSON.parse(await readFile(join(probeDirectory, `container-${containerId}.json`), 'utf8')) as ProbeRecord;
      seenPids.add(record.pid);
      return record;
    };

    /** Waits until container `containerId`'s probe has written its record and `accept` likes it. */
    const waitForProbe = (containerId: number, accept: (record: ProbeRecord) => boolean = () => true): Promise<ProbeRecord> =>
      vi.waitFor(async () => {
        const record = await readProbe(containerId);
        expect(record.containerId).toBe(containerId);
        if (!accept(record)) throw new Error(`container ${containerId}'s probe (pid ${record.pid}) is not the expected one yet`);
        expect(isAlive(record.pid)).toBe(true);
        return record;
      }, waitOptions);

    const waitForDeath = (pid: number): Promise<void> =>
      vi.waitFor(() => {
        if (isAlive(pid)) throw new Error(`process ${pid} is still alive`);
      }, waitOptions);

    const waitForRunning = (containerIds: readonly number[]): Promise<void> =>
      vi.waitFor(async () => {
        const status = await current().status(topologyName);
        expect(status.map((container) => container.containerId)).toEqual(containerIds);
        for (const container of status) expect(container.state, `state of container ${container.containerId}`).toBe('running');
      }, waitOptions);

    const topologyId = (): string => `${topologyName}-id`;

    const request = (containerIds: readonly number[] = [1, 2]): ScheduleRequest => ({
      topology: { ...PROBE_TOPOLOGY, name: topologyName, id: topologyId() },
      packingPlan: probePlan(topologyId(), containerIds),
      packageUri: `file://${join(probeDirectory, 'topology.tgz')}`,
      executor: probeExecutor(probeDirectory),
    });

    const scheduleAndWait = async (containerIds: readonly number[] = [1, 2]): Promise<Map<number, ProbeRecord>> => {
      await current().schedule(request(containerIds));
      const probes = new Map<number, ProbeRecord>();
      for (const id of [0, ...containerIds]) probes.set(id, await waitForProbe(id));
      return probes;
    };

    const update = (from: readonly number[], to: readonly number[]): Promise<PackingPlan> =>
      current().update({
        topologyName,
        current: probePlan(topologyId(), from),
        proposed: probePlan(topologyId(), to),
        executor: probeExecutor(probeDirectory),
      });

    /** Each of `ids` still runs the process it ran in `before`. */
    const untouched = async (before: ReadonlyMap<number, ProbeRecord>, ids: readonly number[]): Promise<void> => {
      for (const id of ids) {
        expect((await readProbe(id)).pid, `pid of container ${id}`).toBe(before.get(id)!.pid);
        expect(isAlive(before.get(id)!.pid), `container ${id} alive`).toBe(true);
      }
    };

    beforeEach(async () => {
      probeDirectory = await mkdtemp(join(tmpdir(), 'ardea-probe-'));
      topologyName = `conformance-${process.pid}-${++testNumber}`;
      seenPids.clear();
      scheduler = await factory.create();
    });

    afterEach(async () => {
      try {
        if (scheduler) {
          try {
            await scheduler.kill(topologyName);
          } finally {
            await scheduler.close();
            scheduler = undefined;
          }
        }
        // Whatever a test left running must be gone once the topology is killed.
        for (const file of await readdir(probeDirectory).catch(() => [] as string[])) {
          if (!/^container-\d+\.json$/.test(file)) continue;
          const record = JSON.parse(await readFile(join(probeDirectory, file), 'utf8')) as ProbeRecord;
          seenPids.add(record.pid);
        }
        for (const pid of seenPids) await waitForDeath(pid);
      } finally {
        await rm(probeDirectory, { recursive: true, force: true });
      }
    }, testTimeout);

    afterAll(async () => {
      await factory.cleanup?.();
    });

    it(
      'schedule starts container 0 and every container of the plan',
      async () => {
        const probes = await scheduleAndWait();
        expect(new Set([...probes.values()].map((probe) => probe.pid)).size).toBe(3);
        await waitForRunning([0, 1, 2]);
        const status = await current().status(topologyName);
        for (const container of status) {
          expect(container.handle, `handle of container ${container.containerId}`).toMatch(/\S/);
          expect(container.restarts).toBe(0);
        }
        expect(Array.isArray(await current().jobLinks(topologyName))).toBe(true);
      },
      testTimeout,
    );

    it(
      'rejects scheduling a topology that is already scheduled, leaving the first one running',
      async () => {
        const probes = await scheduleAndWait();
        await expect(current().schedule(request())).rejects.toBeInstanceOf(SchedulerError);
        for (const id of [0, 1, 2]) expect((await readProbe(id)).pid).toBe(probes.get(id)!.pid);
        for (const probe of probes.values()) expect(isAlive(probe.pid)).toBe(true);
        await waitForRunning([0, 1, 2]);
      },
      testTimeout,
    );

    it(
      'restart of one container replaces only that container',
      async () => {
        const before = await scheduleAndWait();
        await current().restart(topologyName, 1);
        await waitForProbe(1, (probe) => probe.pid !== before.get(1)!.pid);
        await waitForDeath(before.get(1)!.pid);
        for (const id of [0, 2]) {
          expect((await readProbe(id)).pid, `pid of container ${id}`).toBe(before.get(id)!.pid);
          expect(isAlive(before.get(id)!.pid)).toBe(true);
        }
        await waitForRunning([0, 1, 2]);
      },
      testTimeout,
    );

    it(
      'restart without a container id replaces every container',
      async () => {
        const before = await scheduleAndWait();
        await current().restart(topologyName);
        for (const id of [0, 1, 2]) {
          await waitForProbe(id, (probe) => probe.pid !== before.get(id)!.pid);
          await waitForDeath(before.get(id)!.pid);
        }
        await waitForRunning([0, 1, 2]);
      },
      testTimeout,
    );

    it(`declares its container identity (${identity})`, () => {
      expect(current().containerIdentity ?? 'per-container').toBe(identity);
    });

    it(`${servesLogs ? 'serves' : 'does not serve'} container logs, as the suite was told`, () => {
      expect(typeof current().containerLog === 'function').toBe(servesLogs);
    });

    if (servesLogs) {
      it(
        'containerLog reads what a container printed by byte ranges, and follows it across a restart',
        async () => {
          const probes = await scheduleAndWait();
          const startLine = (id: number, pid: number): string => `probe-executor: container ${id} started (pid ${pid})`;
          const readLog = (id: number, request: ContainerLogRequest): Promise<ContainerLogChunk> =>
            current().containerLog!(topologyName, id, request);
          const tail = await vi.waitFor(async () => {
            const chunk = await readLog(1, { maxBytes: 64 * 1024 });
            expect(chunk.text).toContain(startLine(1, probes.get(1)!.pid));
            return chunk;
          }, waitOptions);
          expect(tail.containerId).toBe(1);
          expect(tail.source).toMatch(/\S/);
          expect(tail.end - tail.start).toBe(Buffer.byteLength(tail.text));
          const container2 = await vi.waitFor(async () => {
            const chunk = await readLog(2, { maxBytes: 64 * 1024 });
            expect(chunk.text).toContain(startLine(2, probes.get(2)!.pid));
            return chunk;
          }, waitOptions);
          expect(container2.text).not.toContain(startLine(1, probes.get(1)!.pid));

          // Bytes from an offset: the first ten, then the rest from where they ended.
          const head = await readLog(1, { fromOffset: 0, maxBytes: 10 });
          expect(head).toMatchObject({ containerId: 1, start: 0, end: 10 });
          const rest = await readLog(1, { fromOffset: head.end, maxBytes: 64 * 1024 });
          expect(rest.start).toBe(10);
          expect(head.text + rest.text).toContain(startLine(1, probes.get(1)!.pid));
          // At the end there is nothing (yet); past the end the log is read from its start, as after a rotation.
          const atEnd = await readLog(1, { fromOffset: rest.end, maxBytes: 1024 });
          expect(atEnd.start).toBe(rest.end);
          const beyond = await readLog(1, { fromOffset: rest.end + 1_000_000, maxBytes: 1024 });
          expect(beyond.start).toBe(0);

          // A follower from the old end sees the restarted container's line, appended to the same log or
          // in a new one: a new log is one that is shorter than the offset or has another source.
          await current().restart(topologyName, 1);
          const restarted = await waitForProbe(1, (probe) => probe.pid !== probes.get(1)!.pid);
          await vi.waitFor(async () => {
            let chunk = await readLog(1, { fromOffset: rest.end, maxBytes: 64 * 1024 });
            if (chunk.start < rest.end || chunk.source !== rest.source) chunk = await readLog(1, { fromOffset: 0, maxBytes: 64 * 1024 });
            expect(chunk.text).toContain(startLine(1, restarted.pid));
          }, waitOptions);

          await expect(readLog(7, { maxBytes: 1024 })).rejects.toBeInstanceOf(SchedulerError);
          await expect(current().containerLog!(`${topologyName}-unknown`, 1, { maxBytes: 1024 })).rejects.toBeInstanceOf(SchedulerError);
        },
        testTimeout,
      );
    }

    if (factory.reportsHosts) {
      it(
        'status names the host of every running container',
        async () => {
          await scheduleAndWait();
          await waitForRunning([0, 1, 2]);
          for (const container of await current().status(topologyName)) {
            expect(container.host, `host of container ${container.containerId}`).toMatch(/\S/);
          }
        },
        testTimeout,
      );
    }

    if (identity === 'per-container') {
      it(
        'update adds and removes any containers and leaves the others alone',
        async () => {
          const before = await scheduleAndWait();
          // Repacking emptied container 2 and opened 3; container 1 stays as it is.
          const realised = await update([1, 2], [1, 3]);
          expect(realised.containers.map((container) => container.id)).toEqual([1, 3]);
          await waitForProbe(3);
          await waitForDeath(before.get(2)!.pid);
          await untouched(before, [0, 1]);
          await waitForRunning([0, 1, 3]);
        },
        testTimeout,
      );
    } else {
      it(
        'update removes the highest containers and leaves the others alone',
        async () => {
          const before = await scheduleAndWait([1, 2, 3]);
          const realised = await update([1, 2, 3], [1]);
          expect(realised.containers.map((container) => container.id)).toEqual([1]);
          for (const id of [2, 3]) await waitForDeath(before.get(id)!.pid);
          await untouched(before, [0, 1]);
          await waitForRunning([0, 1]);
        },
        testTimeout,
      );

      it(
        'update adds containers above the highest and leaves the others alone',
        async () => {
          const before = await scheduleAndWait();
          const realised = await update([1, 2], [1, 2, 3, 4]);
          expect(realised.containers.map((container) => container.id)).toEqual([1, 2, 3, 4]);
          await waitForProbe(3);
          await waitForProbe(4);
          await untouched(before, [0, 1, 2]);
          await waitForRunning([0, 1, 2, 3, 4]);
        },
        testTimeout,
      );

      it(
        'update refuses to remove a container below the highest, or to put a new id in its place, and changes nothing',
        async () => {
          const before = await scheduleAndWait([1, 2, 3]);
          // Removing 2 would leave a gap; swapping 3 for 4 is what a count cannot do (it would bring 3 back).
          for (const proposed of [
            [1, 3],
            [1, 2, 4],
            [2, 3],
          ]) {
            await expect(update([1, 2, 3], proposed), `update to ${proposed.join(', ')}`).rejects.toBeInstanceOf(SchedulerError);
          }
          await untouched(before, [0, 1, 2, 3]);
          await waitForRunning([0, 1, 2, 3]);
        },
        testTimeout,
      );
    }

    it(
      'kill stops every container and is idempotent',
      async () => {
        const probes = await scheduleAndWait();
        await current().kill(topologyName);
        for (const probe of probes.values()) await waitForDeath(probe.pid);
        await expect(current().kill(topologyName)).resolves.toBeUndefined();
        await expect(current().kill(`${topologyName}-never-scheduled`)).resolves.toBeUndefined();
      },
      testTimeout,
    );

    it(
      'status and restart of an unknown topology reject with SchedulerError',
      async () => {
        await expect(current().status(`${topologyName}-unknown`)).rejects.toBeInstanceOf(SchedulerError);
        await expect(current().restart(`${topologyName}-unknown`)).rejects.toBeInstanceOf(SchedulerError);
        await expect(current().restart(`${topologyName}-unknown`, 1)).rejects.toBeInstanceOf(SchedulerError);
      },
      testTimeout,
    );

    if (factory.recoversCrashedContainers) {
      it(
        'restarts a container whose process dies and counts the restart',
        async () => {
          const before = await scheduleAndWait();
          process.kill(before.get(1)!.pid, 'SIGKILL');
          await waitForProbe(1, (probe) => probe.pid !== before.get(1)!.pid);
          await vi.waitFor(async () => {
            const container = (await current().status(topologyName)).find((c) => c.containerId === 1);
            expect(container?.restarts).toBeGreaterThanOrEqual(1);
            expect(container?.state).toBe('running');
          }, waitOptions);
          for (const id of [0, 2]) expect((await readProbe(id)).pid, `pid of container ${id}`).toBe(before.get(id)!.pid);
        },
        testTimeout,
      );
    }
  });
}

/** The compiled probe; when vitest loads this module from source, the probe still has to be plain JavaScript. */
function probeExecutorPath(): string {
  const sibling = fileURLToPath(new URL('./probe-executor.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = fileURLToPath(new URL('../../dist/testing/probe-executor.js', import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(`the scheduler conformance suite needs the compiled probe executor (${sibling} or ${built}); build @ardea/core first`);
}

function probeExecutor(probeDirectory: string): ExecutorSpec {
  return {
    argv: [process.execPath, probeExecutorPath(), '--container', CONTAINER_INDEX_PLACEHOLDER, '--dir', probeDirectory],
    env: { ARDEA_CONFORMANCE_PROBE: '1' },
  };
}

/** Name and id are replaced per test. */
const PROBE_TOPOLOGY: TopologyDefinition = {
  name: 'conformance',
  id: 'conformance-id',
  components: [{ name: 'probe', kind: 'spout', parallelism: 2, config: {}, outputs: [{ id: 'default', fields: ['value'] }], inputs: [] }],
  config: {},
};

const INSTANCE_RESOURCES = resources(0.5, 64 * MiB, 0);

function probeContainer(id: number, taskId: number, componentIndex: number): ContainerPlan {
  return {
    id,
    instances: [{ component: 'probe', taskId, componentIndex, resources: INSTANCE_RESOURCES }],
    required: resources(1, 256 * MiB, 0),
  };
}

/**
 * One probe instance per container. Container `n` always holds task `n`, so in plans that differ
 * only in which containers they have, a container both keep is exactly the same in each.
 */
function probePlan(topologyId: string, containerIds: readonly number[]): PackingPlan {
  const plan = { topologyId, containers: containerIds.map((id) => probeContainer(id, id, id - 1)) };
  checkPackingPlan(plan);
  return plan;
}
