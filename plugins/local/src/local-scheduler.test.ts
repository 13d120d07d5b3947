import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONTAINER_INDEX_PLACEHOLDER,
  PARENT_PID_ENV,
  poolResourceName,
  processOwnerOf,
  SchedulerError,
  SilentLogger,
  type ExecutorSpec,
  type LogFields,
  type Logger,
  type PackingPlan,
  type ScheduleRequest,
} from '@ardea/core/plugin';
import { describeSchedulerConformance, isAlive } from '@ardea/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalScheduler, type LocalSchedulerOptions } from './local-scheduler.js';
import type { ProcessControl } from './process-records.js';

const conformanceDirectories: string[] = [];

describeSchedulerConformance('local', {
  async create() {
    const workingDirectory = await mkdtemp(join(tmpdir(), 'ardea-local-conformance-'));
    conformanceDirectories.push(workingDirectory);
    return new LocalScheduler({ workingDirectory, restartBackoff: { initialMs: 20, maxMs: 200 }, stopGraceMs: 2000 }, new SilentLogger());
  },
  recoversCrashedContainers: true,
  containerIdentity: 'per-container',
  servesContainerLogs: true,
  reportsHosts: true,
  async cleanup() {
    await Promise.all(conformanceDirectories.map((directory) => rm(directory, { recursive: true, force: true })));
  },
});

interface LogEntry {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields;
}

/** Keeps every line, with the bindings of the child logger that wrote it merged into its fields. */
class RecordingLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bindings: LogFields = {},
  ) {}
  debug(message: string, fields?: LogFields): void {
    this.entries.push({ level: 'debug', message, fields: { ...this.bindings, ...fields } });
  }
  info(message: string, fields?: LogFields): void {
    this.entries.push({ level: 'info', message, fields: { ...this.bindings, ...fields } });
  }
  warn(message: string, fields?: LogFields): void {
    this.entries.push({ level: 'warn', message, fields: { ...this.bindings, ...fields } });
  }
  error(message: string, fields?: LogFields): void {
    this.entries.push({ level: 'error', message, fields: { ...this.bindings, ...fields } });
  }
  child(bindings: LogFields): Logger {
    return new RecordingLogger(this.entries, { ...this.bindings, ...bindings });
  }
}

const WAIT = { timeout: 15_000, interval: 25 };
/** Runs until it is signalled; prints what the tests check about how it was started. */
const IDLE_SCRIPT = `
console.log('out', process.argv[1], process.env.ARDEA_CONTAINER_ID, process.env.EXTRA, process.cwd());
console.error('err', process.argv[1]);
setInterval(() => {}, 1 << 30);
`;

function plan(topologyName: string, containerIds: readonly number[]): PackingPlan {
  return {
    topologyId: `${topologyName}-id`,
    containers: containerIds.map((id) => ({ id, instances: [], required: { cpu: 1, ramBytes: 1 << 20, diskBytes: 0 } })),
  };
}

function request(topologyName: string, containerIds: readonly number[], executor: ExecutorSpec): ScheduleRequest {
  return {
    topology: {
      name: topologyName,
      id: `${topologyName}-id`,
      components: [{ name: 'spout', kind: 'spout', parallelism: 1, config: {}, outputs: [], inputs: [] }],
      config: {},
    },
    packingPlan: plan(topologyName, containerIds),
    packageUri: 'file:///nonexistent/topology.tgz',
    executor,
  };
}

const idleExecutor = (argv0: string = process.execPath): ExecutorSpec => ({
  argv: [argv0, '-e', IDLE_SCRIPT, CONTAINER_INDEX_PLACEHOLDER],
  env: { EXTRA: 'hello' },
});

describe('LocalScheduler', () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(options: Partial<LocalSchedulerOptions> = {}) {
    const workingDirectory = options.workingDirectory ?? (await realpath(await mkdtemp(join(tmpdir(), 'ardea-local-'))));
    const logger = new RecordingLogger();
    const scheduler = new LocalScheduler(
      { workingDirectory, restartBackoff: { initialMs: 20, maxMs: 200 }, stopGraceMs: 2000, ...options },
      logger,
    );
    cleanups.push(async () => {
      await scheduler.close();
      await rm(workingDirectory, { recursive: true, force: true });
    });
    /** Pids of every process the scheduler started for `containerId`, oldest first. */
    const startedPids = (topology: string, containerId: number): number[] =>
      logger.entries
        .filter((e) => e.message === 'container started' && e.fields['topology'] === topology && e.fields['containerId'] === containerId)
        .map((e) => e.fields['pid'] as number);
    const logFile = (topology: string, containerId: number) => join(workingDirectory, topology, 'logs', `container-${containerId}.log`);
    return { scheduler, logger, workingDirectory, startedPids, logFile };
  }

  /** A directory of `node-<id>` links to node for the given ids: any other container's command does not exist. */
  async function nodeLinks(directory: string, ids: readonly number[]): Promise<string> {
    const bin = join(directory, 'bin');
    await mkdir(bin, { recursive: true });
    for (const id of ids) await symlink(process.execPath, join(bin, `node-${id}`));
    return join(bin, `node-${CONTAINER_INDEX_PLACEHOLDER}`);
  }

  it('reports service mode', async () => {
    const { scheduler } = await setUp();
    expect(scheduler.mode).toBe('service');
  });

  it('starts each container in its own directory with the executor env and appends its output to its log file', async () => {
    const { scheduler, workingDirectory, logFile } = await setUp();
    await scheduler.schedule(request('logs', [1], idleExecutor()));
    for (const id of [0, 1]) {
      await vi.waitFor(async () => {
        const log = await readFile(logFile('logs', id), 'utf8');
        expect(log).toContain(`out ${id} ${id} hello ${join(workingDirectory, 'logs', `container-${id}`)}\n`);
        expect(log).toContain(`err ${id}\n`);
      }, WAIT);
    }
    await scheduler.kill('logs');
    await vi.waitFor(
      async () => expect(await readFile(logFile('logs', 1), 'utf8')).toMatch(/container 1 \(pid \d+\) exited with signal SIGTERM/),
      WAIT,
    );
  });

  it('serves byte ranges of a container log in whole UTF-8 characters, from the start again once the log shrank', async () => {
    const { scheduler, logFile } = await setUp();
    await scheduler.schedule(request('tail', [1], idleExecutor()));
    const path = logFile('tail', 1);
    await vi.waitFor(async () => expect(await readFile(path, 'utf8')).toContain('err 1\n'), WAIT);
    // The idle executor prints nothing more; what follows is appended as a container would write it.
    await appendFile(path, 'prix: 5 €\n');
    const size = (await stat(path)).size;

    const whole = await scheduler.containerLog('tail', 1, { fromOffset: 0, maxBytes: 1 << 20 });
    expect(whole).toEqual({ containerId: 1, text: await readFile(path, 'utf8'), start: 0, end: size, source: path });
    // The last 3 bytes are '€' cut after its first byte, then '\n': the tail starts after the cut.
    expect(await scheduler.containerLog('tail', 1, { maxBytes: 3 })).toMatchObject({ text: '\n', start: size - 1, end: size });
    // Reading up to the middle of '€' stops before it; the next read from there gets it whole.
    const cut = await scheduler.containerLog('tail', 1, { fromOffset: size - 7, maxBytes: 4 });
    expect(cut).toMatchObject({ text: ' 5 ', start: size - 7, end: size - 4 });
    expect(await scheduler.containerLog('tail', 1, { fromOffset: cut.end, maxBytes: 100 })).toMatchObject({
      text: '€\n',
      start: size - 4,
      end: size,
    });
    expect(await scheduler.containerLog('tail', 1, { fromOffset: size, maxBytes: 100 })).toMatchObject({
      text: '',
      start: size,
      end: size,
    });

    await writeFile(path, 'rotated\n');
    expect(await scheduler.containerLog('tail', 1, { fromOffset: size, maxBytes: 100 })).toMatchObject({
      text: 'rotated\n',
      start: 0,
      end: 8,
    });
    await rm(path);
    expect(await scheduler.containerLog('tail', 1, { fromOffset: 8, maxBytes: 100 })).toMatchObject({ text: '', start: 0, end: 0 });
  });

  it('rejects a log request for an unknown container or topology, naming what there is', async () => {
    const { scheduler } = await setUp();
    await scheduler.schedule(request('nolog', [1], idleExecutor()));
    const unknown = scheduler.containerLog('nolog', 5, { maxBytes: 100 });
    await expect(unknown).rejects.toBeInstanceOf(SchedulerError);
    await expect(unknown).rejects.toThrow(/no container 5; its containers are 0, 1/);
    await expect(scheduler.containerLog('other', 1, { maxBytes: 100 })).rejects.toThrow(/'other' is not scheduled on the local pool/);
  });

  it('names this machine as the host of every container', async () => {
    const { scheduler } = await setUp();
    await scheduler.schedule(request('host', [1], idleExecutor()));
    expect((await scheduler.status('host')).map((container) => container.host)).toEqual([hostname(), hostname()]);
  });

  it('keeps container directories and logs for their owner only, whatever the umask', async () => {
    const { scheduler, workingDirectory, logFile } = await setUp();
    const umask = process.umask(0o022);
    try {
      await mkdir(join(workingDirectory, 'private', 'logs'), { recursive: true, mode: 0o755 });
      await writeFile(logFile('private', 0), 'from an older run\n', { mode: 0o644 });
      await chmod(workingDirectory, 0o755);
      await scheduler.schedule(request('private', [1], idleExecutor()));
    } finally {
      process.umask(umask);
    }
    const modes = await Promise.all(
      [
        '',
        'private',
        'private/logs',
        'private/logs/container-0.log',
        'private/logs/container-1.log',
        'private/container-0',
        'private/container-1',
      ].map(async (entry) => `${entry} ${((await stat(join(workingDirectory, entry))).mode & 0o777).toString(8)}`),
    );
    expect(modes).toEqual([
      ' 700',
      'private 700',
      'private/logs 700',
      'private/logs/container-0.log 600',
      'private/logs/container-1.log 600',
      'private/container-0 700',
      'private/container-1 700',
    ]);
    await scheduler.kill('private');
  });

  it('rejects when an executor cannot be spawned, naming the container, and leaves no process behind', async () => {
    const { scheduler, workingDirectory, startedPids } = await setUp();
    const command = await nodeLinks(workingDirectory, [0, 1]);
    const failure = scheduler.schedule(request('broken', [1, 2], idleExecutor(command)));
    await expect(failure).rejects.toBeInstanceOf(SchedulerError);
    await expect(failure).rejects.toThrow(/topology 'broken': could not start container 2: .*ENOENT/);
    const started = [...startedPids('broken', 0), ...startedPids('broken', 1)];
    expect(started).toHaveLength(2);
    for (const pid of started) expect(isAlive(pid), `process ${pid}`).toBe(false);
    await expect(scheduler.status('broken')).rejects.toBeInstanceOf(SchedulerError);
    // The failed attempt leaves nothing behind that would block a corrected one.
    await scheduler.schedule(request('broken', [1], idleExecutor(command)));
    expect((await scheduler.status('broken')).map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('names an executor command that is not on PATH and how to set another, starting nothing', async () => {
    const { scheduler, startedPids } = await setUp();
    const failure = scheduler.schedule(
      request('unnamed', [1], { argv: ['no-such-ardea-executor', '--container', CONTAINER_INDEX_PLACEHOLDER], env: {} }),
    );
    await expect(failure).rejects.toBeInstanceOf(SchedulerError);
    await expect(failure).rejects.toThrow(
      new RegExp(
        String.raw`topology 'unnamed': could not start container 0: the executor command 'no-such-ardea-executor' is not on this ` +
          String.raw`machine's PATH \(.*\); install it there, or set scheduler\.executorCommand`,
      ),
    );
    expect(startedPids('unnamed', 0)).toEqual([]);
  });

  it('restarts a crashing container with a backoff that doubles up to the maximum', async () => {
    const { scheduler, logger, logFile } = await setUp({ restartBackoff: { initialMs: 20, maxMs: 160 } });
    await scheduler.schedule(request('crashy', [], { argv: ['sh', '-c', 'echo crashing; exit 3'], env: {} }));
    await vi.waitFor(async () => expect((await scheduler.status('crashy'))[0]!.restarts).toBeGreaterThanOrEqual(5), WAIT);
    await scheduler.kill('crashy');
    const crashes = logger.entries.filter(
      (e) => e.level === 'warn' && e.message === 'container exited unexpectedly; restarting after backoff',
    );
    expect(crashes.slice(0, 5).map((e) => e.fields['delayMs'])).toEqual([20, 40, 80, 160, 160]);
    expect(crashes.slice(0, 5).map((e) => e.fields['restart'])).toEqual([1, 2, 3, 4, 5]);
    for (const crash of crashes) {
      expect(crash.fields).toMatchObject({ topology: 'crashy', containerId: 0, exitCode: 3 });
    }
    const log = await readFile(logFile('crashy', 0), 'utf8');
    expect(log.match(/^crashing$/gm)!.length).toBeGreaterThanOrEqual(5);
    expect(log).toMatch(/container 0 \(pid \d+\) exited with exit code 3/);
  });

  it('reports a crashed container as restarting during its backoff, and restart brings it back at once without counting', async () => {
    const { scheduler, startedPids } = await setUp({ restartBackoff: { initialMs: 60_000, maxMs: 120_000 } });
    await scheduler.schedule(request('backoff', [1], idleExecutor()));
    const [pid] = startedPids('backoff', 1);
    process.kill(pid!, 'SIGKILL');
    await vi.waitFor(async () => {
      const container = (await scheduler.status('backoff'))[1]!;
      expect(container).toMatchObject({ containerId: 1, state: 'restarting', restarts: 0 });
      expect(container.handle).toBeUndefined();
      expect(container.message).toMatch(/signal SIGKILL; restarting in 60000 ms/);
    }, WAIT);
    await scheduler.restart('backoff', 1);
    const status = await scheduler.status('backoff');
    expect(status.map((c) => [c.containerId, c.state, c.restarts])).toEqual([
      [0, 'running', 0],
      [1, 'running', 0],
    ]);
    expect(status[1]!.handle).toBe(String(startedPids('backoff', 1)[1]));
  });

  it('restart counts no crash and rejects an unknown container, naming the known ones', async () => {
    const { scheduler, startedPids } = await setUp();
    await scheduler.schedule(request('restart', [1, 2], idleExecutor()));
    await scheduler.restart('restart', 1);
    const [first, second] = startedPids('restart', 1);
    expect(isAlive(first!)).toBe(false);
    const status = await scheduler.status('restart');
    expect(status.map((c) => c.restarts)).toEqual([0, 0, 0]);
    expect(status[1]!.handle).toBe(String(second));
    const unknown = scheduler.restart('restart', 7);
    await expect(unknown).rejects.toBeInstanceOf(SchedulerError);
    await expect(unknown).rejects.toThrow(/no container 7; its containers are 0, 1, 2/);
  });

  it('update rolls back the containers it added when one cannot be started', async () => {
    const { scheduler, workingDirectory, startedPids } = await setUp();
    const command = await nodeLinks(workingDirectory, [0, 1, 2, 3]);
    await scheduler.schedule(request('scale', [1, 2], idleExecutor(command)));
    const before = await scheduler.status('scale');
    const update = scheduler.update({
      topologyName: 'scale',
      current: plan('scale', [1, 2]),
      proposed: plan('scale', [1, 3, 4]),
      executor: idleExecutor(command),
    });
    await expect(update).rejects.toBeInstanceOf(SchedulerError);
    await expect(update).rejects.toThrow(/could not start container 4/);
    const [added] = startedPids('scale', 3);
    expect(isAlive(added!)).toBe(false);
    expect(await scheduler.status('scale')).toEqual(before);
  });

  it('update rejects adding a container that already exists', async () => {
    const { scheduler } = await setUp();
    await scheduler.schedule(request('clash', [1, 2], idleExecutor()));
    const update = scheduler.update({
      topologyName: 'clash',
      current: plan('clash', [1]),
      proposed: plan('clash', [1, 2]),
      executor: idleExecutor(),
    });
    await expect(update).rejects.toThrow(/container 2 already exists/);
  });

  it('escalates to SIGKILL when a container ignores SIGTERM for the grace period', async () => {
    const { scheduler, startedPids, logFile } = await setUp({ stopGraceMs: 100 });
    const stubborn = "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1 << 30);";
    await scheduler.schedule(request('stubborn', [], { argv: [process.execPath, '-e', stubborn], env: {} }));
    await vi.waitFor(async () => expect(await readFile(logFile('stubborn', 0), 'utf8')).toContain('ready\n'), WAIT);
    await scheduler.kill('stubborn');
    expect(isAlive(startedPids('stubborn', 0)[0]!)).toBe(false);
    await vi.waitFor(async () => {
      const log = await readFile(logFile('stubborn', 0), 'utf8');
      expect(log).toContain('ignoring SIGTERM\n');
      expect(log).toMatch(/exited with signal SIGKILL/);
    }, WAIT);
  });

  it('kill forgets the topology, so its name can be scheduled again', async () => {
    const { scheduler } = await setUp();
    await scheduler.schedule(request('again', [1], idleExecutor()));
    expect(await scheduler.jobLinks('again')).toEqual([]);
    await scheduler.kill('again');
    await expect(scheduler.status('again')).rejects.toBeInstanceOf(SchedulerError);
    await expect(scheduler.jobLinks('again')).rejects.toBeInstanceOf(SchedulerError);
    await scheduler.schedule(request('again', [1], idleExecutor()));
    expect((await scheduler.status('again')).map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('close stops the containers of every topology, refuses new work and is idempotent', async () => {
    const { scheduler, startedPids } = await setUp();
    await scheduler.schedule(request('one', [1], idleExecutor()));
    await scheduler.schedule(request('two', [1, 2], idleExecutor()));
    await Promise.all([scheduler.close(), scheduler.close()]);
    const pids = [0, 1].flatMap((id) => startedPids('one', id)).concat([0, 1, 2].flatMap((id) => startedPids('two', id)));
    expect(pids).toHaveLength(5);
    for (const pid of pids) expect(isAlive(pid), `process ${pid}`).toBe(false);
    await expect(scheduler.close()).resolves.toBeUndefined();
    await expect(scheduler.schedule(request('three', [], idleExecutor()))).rejects.toThrow(/closed/);
    await expect(scheduler.status('one')).rejects.toBeInstanceOf(SchedulerError);
    await expect(scheduler.kill('one')).resolves.toBeUndefined();
  });

  it("gives every executor this process's pid as its parent, and records each executor and the owner", async () => {
    const { scheduler, workingDirectory, logFile, startedPids } = await setUp();
    const script = `console.log('parent', process.env.${PARENT_PID_ENV}); setInterval(() => {}, 1 << 30);`;
    await scheduler.schedule(request('parent', [1], { argv: [process.execPath, '-e', script], env: {} }));
    await vi.waitFor(async () => expect(await readFile(logFile('parent', 1), 'utf8')).toContain(`parent ${process.pid}\n`), WAIT);
    const record = JSON.parse(await readFile(join(workingDirectory, 'parent', 'container-1', 'executor.process.json'), 'utf8')) as {
      pid: number;
    };
    expect(record.pid).toBe(startedPids('parent', 1)[0]);
    const owner = JSON.parse(await readFile(join(workingDirectory, 'parent', 'owner.process.json'), 'utf8')) as { pid: number };
    expect(owner.pid).toBe(process.pid);
  });

  describe('kill of a topology another process owns (its supervisor is gone)', () => {
    const spawned: ChildProcess[] = [];
    afterEach(() => {
      for (const child of spawned.splice(0)) child.kill('SIGKILL');
    });
    function idleProcess(): ChildProcess {
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
      spawned.push(child);
      return child;
    }

    it('stops the recorded owner, then the recorded executors, also stopped or stubborn ones', async () => {
      // The owner here never restarts what it loses, as a supervisor that is going away would not.
      const {
        scheduler: owner,
        workingDirectory,
        startedPids,
        logFile,
      } = await setUp({ restartBackoff: { initialMs: 60_000, maxMs: 60_000 } });
      const stubborn =
        "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1 << 30);";
      await owner.schedule(
        request('orphans', [1, 2], {
          argv: [
            process.execPath,
            '-e',
            `if (process.env.ARDEA_CONTAINER_ID === '2') { ${stubborn} } else setInterval(() => {}, 1 << 30);`,
          ],
          env: {},
        }),
      );
      await vi.waitFor(async () => expect(await readFile(logFile('orphans', 2), 'utf8')).toContain('ready\n'), WAIT);
      const executors = [0, 1, 2].map((id) => startedPids('orphans', id)[0]!);
      process.kill(executors[1]!, 'SIGSTOP');
      // The recorded owner stands for the lost supervisor: another process.
      const supervisor = idleProcess();
      await vi.waitFor(() => expect(isAlive(supervisor.pid!)).toBe(true), WAIT);
      await writeFile(join(workingDirectory, 'orphans', 'owner.process.json'), JSON.stringify(processOwnerOf(supervisor.pid!)));

      const { scheduler: cli } = await setUp({ workingDirectory, stopGraceMs: 500 });
      await cli.kill('orphans');
      // Gone when kill resolves; an exited child of this process is a zombie until it is reaped, just after.
      await vi.waitFor(() => {
        expect(isAlive(supervisor.pid!)).toBe(false);
        for (const pid of executors) expect(isAlive(pid), `executor ${pid}`).toBe(false);
      }, WAIT);
      await vi.waitFor(async () => {
        expect(await readFile(logFile('orphans', 1), 'utf8')).toMatch(/exited with signal SIGTERM/);
        expect(await readFile(logFile('orphans', 2), 'utf8')).toMatch(/exited with signal SIGKILL/);
      }, WAIT);
    });

    it('never signals a process the OS gave a recorded pid to since, nor itself', async () => {
      const { workingDirectory, scheduler } = await setUp();
      const stranger = idleProcess();
      await vi.waitFor(() => expect(processOwnerOf(stranger.pid!)).toBeDefined(), WAIT);
      const identity = processOwnerOf(stranger.pid!)!;
      await mkdir(join(workingDirectory, 'reused', 'container-1'), { recursive: true });
      await writeFile(
        join(workingDirectory, 'reused', 'container-1', 'executor.process.json'),
        JSON.stringify({ ...identity, startTime: identity.startTime! - 1 }),
      );
      await writeFile(join(workingDirectory, 'reused', 'owner.process.json'), JSON.stringify(processOwnerOf(process.pid)));
      await scheduler.kill('reused');
      expect(isAlive(stranger.pid!)).toBe(true);
    });

    it('rejects, naming the pids, when a recorded process is still running after SIGKILL', async () => {
      const signals: string[] = [];
      const unstoppable: ProcessControl = { liveness: () => 'alive', signal: (pid, signal) => void signals.push(`${pid} ${signal}`) };
      const { workingDirectory, scheduler } = await setUp({ stopGraceMs: 50, processControl: unstoppable });
      await mkdir(join(workingDirectory, 'stuck', 'container-3'), { recursive: true });
      await writeFile(
        join(workingDirectory, 'stuck', 'container-3', 'executor.process.json'),
        JSON.stringify({ host: 'here', pid: 4_000_000 }),
      );
      const kill = scheduler.kill('stuck');
      await expect(kill).rejects.toBeInstanceOf(SchedulerError);
      await expect(kill).rejects.toThrow(
        "topology 'stuck': pid 4000000 (container 3) still running after SIGTERM and, 50 ms later, SIGKILL; stop them by " +
          'hand, then kill the topology again',
      );
      expect(signals).toEqual(['4000000 SIGTERM', '4000000 SIGCONT', '4000000 SIGKILL']);
    });
  });

  it("gives Word_Count a directory of its own, a DNS label apart from word-count's, and kills each from another process", async () => {
    const { scheduler, workingDirectory, startedPids } = await setUp({ restartBackoff: { initialMs: 60_000, maxMs: 60_000 } });
    for (const name of ['Word_Count', 'word-count']) await scheduler.schedule(request(name, [1], idleExecutor()));
    const directories = (await readdir(workingDirectory)).sort();
    expect(directories).toEqual([poolResourceName('Word_Count'), 'word-count'].sort());
    expect(poolResourceName('Word_Count')).toMatch(/^word-count-[0-9a-f]{8}$/);
    const owner = JSON.parse(await readFile(join(workingDirectory, poolResourceName('Word_Count'), 'owner.process.json'), 'utf8')) as {
      pid: number;
    };
    expect(owner.pid).toBe(process.pid);

    // Another scheduler (as in the CLI when the supervisor is gone) kills Word_Count through its records alone.
    const { scheduler: cli } = await setUp({ workingDirectory });
    await cli.kill('Word_Count');
    await vi.waitFor(() => {
      for (const id of [0, 1]) expect(isAlive(startedPids('Word_Count', id)[0]!), `Word_Count container ${id}`).toBe(false);
    }, WAIT);
    for (const id of [0, 1]) expect(isAlive(startedPids('word-count', id)[0]!), `word-count container ${id}`).toBe(true);
  });

  it('keeps a topology whose name has path characters inside the working directory', async () => {
    const { scheduler, workingDirectory } = await setUp();
    const named = request('x', [], idleExecutor());
    await scheduler.schedule({ ...named, topology: { ...named.topology, name: '../escape' } });
    expect(await readdir(workingDirectory)).toEqual([poolResourceName('../escape')]);
    expect(poolResourceName('../escape')).toMatch(/^escape-[0-9a-f]{8}$/);
    await scheduler.kill('../escape');
  });

  it('refuses a backoff whose maximum is below its initial delay', () => {
    expect(
      () =>
        new LocalScheduler(
          { workingDirectory: tmpdir(), restartBackoff: { initialMs: 100, maxMs: 10 }, stopGraceMs: 0 },
          new SilentLogger(),
        ),
    ).toThrow(SchedulerError);
  });
});
