import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CONTAINER_INDEX_PLACEHOLDER, MiB, poolResourceName, SchedulerError, SilentLogger, type ScheduleRequest } from '@ardea/core/plugin';
import { describeSchedulerConformance, describeWithService } from '@ardea/core/testing';
import type { SshSettings } from './slurm-config.js';
import { SlurmScheduler, type SlurmSchedulerOptions } from './slurm-scheduler.js';
import { cancelJobs, LOOPBACK_SLURM, foreignKnownHostsLine, liveJobs, onLoginNode, testSshSettings, unusedPort } from './test-support.js';

const logger = new SilentLogger();
/** Unique per run, so jobs of concurrent or crashed runs never mix with this run's. */
const prefix = `ardea-t${process.pid}-`;
let scratch: string | undefined;
const scratchDirectory = async () => (scratch ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-slurm-test-')));

async function scheduler(overrides: Partial<SlurmSchedulerOptions> = {}, ssh: Partial<SshSettings> = {}): Promise<SlurmScheduler> {
  return new SlurmScheduler(
    {
      ssh: testSshSettings(ssh),
      workDirectory: path.join(await scratchDirectory(), 'work'),
      jobNamePrefix: prefix,
      sbatchOptions: [],
      container0: { cpus: 1, memoryMb: 128 },
      stopTimeoutMs: 30_000,
      pollIntervalMs: 100,
      ...overrides,
    },
    logger,
  );
}

await describeWithService(LOOPBACK_SLURM, 'SlurmScheduler on the loopback Slurm cluster', () => {
  afterAll(async () => {
    await cancelJobs(prefix).catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  describeSchedulerConformance('slurm', {
    create: () => scheduler(),
    recoversCrashedContainers: false,
    containerIdentity: 'per-container',
    servesContainerLogs: true,
    reportsHosts: true,
    timeoutMs: 30_000,
  });

  describe('jobs', () => {
    let topology = '';
    let counter = 0;
    const shellRequest = (name: string, script: string, env: Record<string, string> = {}): ScheduleRequest => ({
      topology: { name, id: `${name}-id`, components: [], config: {} },
      packingPlan: {
        topologyId: `${name}-id`,
        containers: [{ id: 1, instances: [], required: { cpu: 1.5, ramBytes: 300 * MiB, diskBytes: 0 } }],
      },
      packageUri: 'file:///nowhere',
      executor: { argv: ['/bin/sh', '-c', script, 'container', CONTAINER_INDEX_PLACEHOLDER], env },
    });
    let current: SlurmScheduler | undefined;

    afterEach(async () => {
      await current?.kill(topology);
      await current?.close();
      current = undefined;
    });

    it('runs one job per container, sized from the packing plan, with the executor argv and environment quoted intact', async () => {
      topology = `jobs-${++counter}`;
      current = await scheduler();
      const markers = await scratchDirectory();
      const tricky = `it's "quoted" $HOME \`x\` \\ ; & |`;
      await current.schedule(
        shellRequest(
          topology,
          `printf '%s|%s|%s\\n' "$ARDEA_TRICKY" "$ARDEA_CONTAINER_ID" "$1" > "${markers}/${topology}-$1.out"; exec sleep 300`,
          { ARDEA_TRICKY: tricky },
        ),
      );
      await vi.waitFor(async () => expect((await current!.status(topology)).map((c) => c.state)).toEqual(['running', 'running']), {
        timeout: 30_000,
        interval: 200,
      });
      for (const id of [0, 1]) {
        expect(await readFile(path.join(markers, `${topology}-${id}.out`), 'utf8')).toBe(`${tricky}|${id}|${id}\n`);
      }
      const status = await current.status(topology);
      const details = await onLoginNode(`scontrol show job --oneliner ${status[1]!.handle}`);
      expect(details).toContain(`JobName=${prefix}${topology}-1 `);
      // The host reported is the node Slurm runs the job's batch script on.
      expect(status[1]!.host).toMatch(/\S/);
      expect(details).toContain(` BatchHost=${status[1]!.host}`);
      // 1.5 CPUs round up to 2; 300 MiB is 300 MB in Slurm's units.
      expect(details).toMatch(/ NumCPUs=2 /);
      expect(details).toMatch(/ MinMemoryNode=300M /);
      expect(details).toContain(`StdOut=${path.join(await scratchDirectory(), 'work', topology, 'logs', 'container-1.log')}`);
      const master = await onLoginNode(`scontrol show job --oneliner ${status[0]!.handle}`);
      expect(master).toMatch(/ NumCPUs=1 /);
      expect(master).toMatch(/ MinMemoryNode=128M /);
      // Job scripts export the executor's environment, the cluster config by value among it.
      for (const id of [0, 1]) {
        const script = path.join(await scratchDirectory(), 'work', topology, 'jobs', `container-${id}.sh`);
        expect(((await stat(script)).mode & 0o777).toString(8)).toBe('600');
      }
    }, 60_000);

    it("reads a container's job output file over SFTP on the login node, in whole UTF-8 characters", async () => {
      topology = `jobs-${++counter}`;
      current = await scheduler();
      await current.schedule(shellRequest(topology, `printf 'container %s: prix 5 \\342\\202\\254\\n' "$1"; exec sleep 300`));
      const logFile = path.join(await scratchDirectory(), 'work', topology, 'logs', 'container-1.log');
      const tail = await vi.waitFor(
        async () => {
          const chunk = await current!.containerLog(topology, 1, { maxBytes: 4096 });
          expect(chunk.text).toContain('container 1: prix 5 €\n');
          return chunk;
        },
        { timeout: 30_000, interval: 200 },
      );
      expect(tail).toMatchObject({ containerId: 1, source: `root@127.0.0.1:${testSshSettings().port}:${logFile}` });
      expect(tail.end).toBe((await stat(logFile)).size);
      // Up to the middle of '€': the chunk stops before it, and the next read from there has it whole.
      const cut = await current.containerLog(topology, 1, { fromOffset: tail.end - 5, maxBytes: 3 });
      expect(cut).toMatchObject({ text: ' ', start: tail.end - 5, end: tail.end - 4 });
      const euro = await current.containerLog(topology, 1, { fromOffset: cut.end, maxBytes: 3 });
      expect(euro).toMatchObject({ text: '€', start: tail.end - 4, end: tail.end - 1 });
      await expect(current.containerLog(topology, 4, { maxBytes: 10 })).rejects.toThrow(/has no container 4; its containers are 0, 1/);
    }, 60_000);

    it('reports a container whose job ended on its own as failed, with what Slurm says', async () => {
      topology = `jobs-${++counter}`;
      current = await scheduler();
      await current.schedule(shellRequest(topology, 'if [ "$1" = 1 ]; then exit 3; fi; exec sleep 300'));
      await vi.waitFor(
        async () => {
          const [master, worker] = await current!.status(topology);
          expect(master!.state).toBe('running');
          expect(worker!.state).toBe('failed');
          expect(worker!.message).toMatch(/^Slurm job \d+ is FAILED \(exit code 3:0/);
          expect(worker!.message).toContain('container-1.log');
        },
        { timeout: 30_000, interval: 200 },
      );
    }, 60_000);

    it("uses a job template from the cluster config, whose #SBATCH lines come after Ardea's", async () => {
      topology = `jobs-${++counter}`;
      const template = path.join(await scratchDirectory(), 'template.sh');
      await writeFile(
        template,
        '#!/bin/bash\n#SBATCH --comment=from-the-template\necho "template for ' +
          '{{jobName}} with {{cpus}} CPUs"\n{{environment}}\nexec {{command}}\n',
      );
      current = await scheduler({ jobTemplatePath: template });
      await current.schedule(shellRequest(topology, 'exec sleep 300'));
      await vi.waitFor(async () => expect((await current!.status(topology)).map((c) => c.state)).toEqual(['running', 'running']), {
        timeout: 30_000,
        interval: 200,
      });
      const log = path.join(await scratchDirectory(), 'work', topology, 'logs', 'container-1.log');
      await vi.waitFor(async () => expect(await readFile(log, 'utf8')).toContain(`template for ${prefix}${topology}-1 with 2 CPUs`), {
        timeout: 10_000,
        interval: 100,
      });
      expect(await onLoginNode(`scontrol show job --oneliner ${(await current.status(topology))[1]!.handle}`)).toContain(
        'Comment=from-the-template',
      );
    }, 60_000);

    it('runs Word_Count under job names and a directory that are DNS labels, apart from word-count', async () => {
      current = await scheduler();
      const stem = poolResourceName('Word_Count');
      expect(stem).toMatch(/^word-count-[0-9a-f]{8}$/);
      const jobNames = async () => (await liveJobs(`${prefix}word-count`)).map((job) => job.name).sort();
      try {
        for (const name of ['Word_Count', 'word-count']) await current.schedule(shellRequest(name, 'exec sleep 300'));
        await vi.waitFor(
          async () => {
            for (const name of ['Word_Count', 'word-count'])
              expect(
                (await current!.status(name)).map((c) => c.state),
                name,
              ).toEqual(['running', 'running']);
          },
          { timeout: 30_000, interval: 200 },
        );
        expect(await jobNames()).toEqual(
          [`${prefix}${stem}-0`, `${prefix}${stem}-1`, `${prefix}word-count-0`, `${prefix}word-count-1`].sort(),
        );
        const work = path.join(await scratchDirectory(), 'work');
        expect(existsSync(path.join(work, stem, 'jobs', 'container-1.sh'))).toBe(true);
        expect(existsSync(path.join(work, 'word-count', 'jobs', 'container-1.sh'))).toBe(true);
        await current.kill('Word_Count');
        expect(await jobNames()).toEqual([`${prefix}word-count-0`, `${prefix}word-count-1`]);
        await expect(current.status('Word_Count')).rejects.toBeInstanceOf(SchedulerError);
        expect((await current.status('word-count')).map((c) => c.state)).toEqual(['running', 'running']);
      } finally {
        for (const name of ['Word_Count', 'word-count']) await current.kill(name);
      }
    }, 90_000);

    it('rejects a job template without {{command}} before submitting anything', async () => {
      topology = `jobs-${++counter}`;
      const template = path.join(await scratchDirectory(), 'broken-template.sh');
      await writeFile(template, '#!/bin/bash\necho {{jobname}}\n');
      current = await scheduler({ jobTemplatePath: template });
      await expect(current.schedule(shellRequest(topology, 'exec sleep 300'))).rejects.toThrow(/unknown placeholder \{\{jobname\}\}/);
      expect(await liveJobs(`${prefix}${topology}-`)).toEqual([]);
    });
  });

  describe('errors', () => {
    const request = (name: string): ScheduleRequest => ({
      topology: { name, id: `${name}-id`, components: [], config: {} },
      packingPlan: {
        topologyId: `${name}-id`,
        containers: [{ id: 1, instances: [], required: { cpu: 1, ramBytes: 64 * MiB, diskBytes: 0 } }],
      },
      packageUri: 'file:///nowhere',
      executor: { argv: ['/bin/sleep', '300'], env: {} },
    });

    /** Runs a schedule that must fail, checks it failed once with a clear SchedulerError, and that nothing was left. */
    async function failsCleanly(name: string, current: SlurmScheduler, message: RegExp, code?: string): Promise<SchedulerError> {
      let error: unknown;
      try {
        await current.schedule(request(name));
      } catch (caught) {
        error = caught;
      } finally {
        await current.close();
      }
      expect(error).toBeInstanceOf(SchedulerError);
      const failure = error as SchedulerError;
      expect(failure.message).toMatch(message);
      expect(failure.message).not.toContain('\n');
      if (code) expect(failure.code).toBe(code);
      expect(await liveJobs(`${prefix}${name}-`)).toEqual([]);
      expect(existsSync(path.join(await scratchDirectory(), 'work', name))).toBe(false);
      return failure;
    }

    it('refuses a login node whose host key does not match known_hosts', async () => {
      const knownHosts = path.join(await scratchDirectory(), 'spoofed_known_hosts');
      await writeFile(knownHosts, foreignKnownHostsLine());
      await failsCleanly(
        'wrong-host-key',
        await scheduler({}, { knownHostsPath: knownHosts }),
        new RegExp(
          String.raw`^cannot schedule topology 'wrong-host-key' on Slurm: the host key of 127\.0\.0\.1:\d+ \(ssh-ed25519 ` +
            String.raw`SHA256:\S+\) does not match known_hosts file .*spoofed_known_hosts`,
        ),
        'ssh.host-key',
      );
    });

    it('refuses a login node that is not in known_hosts', async () => {
      const knownHosts = path.join(await scratchDirectory(), 'empty_known_hosts');
      await writeFile(knownHosts, '# nothing known\n');
      await failsCleanly(
        'unknown-host',
        await scheduler({}, { knownHostsPath: knownHosts }),
        new RegExp(
          String.raw`\[127\.0\.0\.1\]:\d+ is not in known_hosts file \S+empty_known_hosts, so the login node's host key ` +
            String.raw`\(ssh-ed25519 SHA256:\S+\) cannot be verified; check that fingerprint .* then run: ssh-keyscan -p \d+ ` +
            String.raw`127\.0\.0\.1 >>`,
        ),
        'ssh.unknown-host',
      );
    });

    it('reports a login the node refuses', async () => {
      await failsCleanly(
        'wrong-user',
        await scheduler({}, { user: 'no-such-ardea-user' }),
        /refused SSH login as 'no-such-ardea-user' with the key \S+client_key; check scheduler\.user/,
        'ssh.auth',
      );
    });

    it('reports a login node that does not answer', async () => {
      const port = await unusedPort();
      await failsCleanly(
        'unreachable',
        await scheduler({}, { port }),
        new RegExp(
          `cannot reach the login node at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); check scheduler\\.host and scheduler\\.port`,
        ),
        'ssh.unreachable',
      );
    });

    it('reports the job Slurm refuses: an unknown partition', async () => {
      const error = await failsCleanly(
        'bad-partition',
        await scheduler({ partition: 'no-such-partition' }),
        new RegExp(
          String.raw`Slurm refused the job of container 0 \(ardea-t\d+-bad-partition-0\): sbatch: error: invalid partition ` +
            String.raw`specified: no-such-partition`,
        ),
        'slurm.sbatch',
      );
      expect(error.message).toContain('check partition, account, timeLimit and sbatchOptions');
    });

    it('rolls back the accepted jobs when a later container is refused', async () => {
      const current = await scheduler();
      // Container 0 goes through; container 1 asks for more memory than the node has.
      const name = 'too-big';
      const big: ScheduleRequest = {
        ...request(name),
        packingPlan: {
          topologyId: `${name}-id`,
          containers: [{ id: 1, instances: [], required: { cpu: 1, ramBytes: 1024 * 1024 * MiB, diskBytes: 0 } }],
        },
      };
      let error: unknown;
      try {
        await current.schedule(big);
      } catch (caught) {
        error = caught;
      } finally {
        await current.close();
      }
      expect(error).toBeInstanceOf(SchedulerError);
      expect((error as Error).message).toMatch(
        /Slurm refused the job of container 1 \(ardea-t\d+-too-big-1\): sbatch: error: .*(memory|configuration)/i,
      );
      expect(await liveJobs(`${prefix}${name}-`)).toEqual([]);
      expect(existsSync(path.join(await scratchDirectory(), 'work', name))).toBe(false);
    });

    it('rejects status, restart and update of a topology it does not run, and kill resolves', async () => {
      const current = await scheduler();
      try {
        await expect(current.status('never-scheduled')).rejects.toThrow(
          /topology 'never-scheduled' is not scheduled on the Slurm cluster at 127\.0\.0\.1:\d+/,
        );
        await expect(current.restart('never-scheduled', 1)).rejects.toBeInstanceOf(SchedulerError);
        const plan = request('never-scheduled').packingPlan;
        await expect(
          current.update({ topologyName: 'never-scheduled', current: plan, proposed: plan, executor: request('x').executor }),
        ).rejects.toBeInstanceOf(SchedulerError);
        await expect(current.kill('never-scheduled')).resolves.toBeUndefined();
      } finally {
        await current.close();
      }
    });
  });
});
