import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LockTimeoutError, StateConflictError, StateManagerError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { PluginContext } from '../plugin/plugin-descriptor.js';
import { StateManager } from '../spi/state-manager.js';
import { describeStateManagerConformance, sampleStateRecord } from '../testing/index.js';
import { LocalFsStateManager, localFsStateManagerPlugin } from './index.js';
import { currentProcessOwner } from './process-owner.js';

const logger = new SilentLogger();

let conformanceRoot: string | undefined;
const conformanceStore = async () => (conformanceRoot ??= await mkdtemp(path.join(os.tmpdir(), 'ardea-statemgr-conformance-')));

describeStateManagerConformance('LocalFsStateManager', {
  create: async () => new LocalFsStateManager({ rootPath: await conformanceStore(), pollIntervalMs: 50 }, logger),
  createPeer: async () => new LocalFsStateManager({ rootPath: await conformanceStore(), pollIntervalMs: 50 }, logger),
  cleanup: async () => {
    if (conformanceRoot) await rm(conformanceRoot, { recursive: true, force: true });
  },
});

describe('LocalFsStateManager on the local filesystem', () => {
  let root: string;
  const managers: LocalFsStateManager[] = [];
  const children: ChildProcess[] = [];

  const open = async (rootPath = root, options: { pollIntervalMs?: number; mutexTimeoutMs?: number } = {}) => {
    const manager = new LocalFsStateManager({ rootPath, pollIntervalMs: 50, ...options }, logger);
    managers.push(manager);
    await manager.start();
    return manager;
  };

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'ardea-statemgr-'));
  });

  afterEach(async () => {
    for (const manager of managers.splice(0)) await manager.close();
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  /** A process that runs until killed, to own files whose owner must be alive. */
  const liveProcess = async (): Promise<ChildProcess & { pid: number }> => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('error', reject);
    });
    return child as ChildProcess & { pid: number };
  };

  /** The pid of a process that has exited. */
  const deadPid = async (): Promise<number> => {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    return child.pid!;
  };

  const ownerOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return { ...currentProcessOwner(), pid, startTime, session: 'other-session' };
  };

  const nodeText = (kind: string, topology: string, value: unknown, ephemeralOwner?: object) =>
    JSON.stringify({
      format: 'ardea.state/1',
      kind,
      topology,
      writtenAt: new Date().toISOString(),
      ...(ephemeralOwner ? { ephemeralOwner } : {}),
      value,
    });

  describe('layout and files', () => {
    it('creates the directory layout on start and stores one JSON file per node', async () => {
      const sm = await open(path.join(root, 'nested', 'store'));
      const store = path.join(root, 'nested', 'store');
      for (const directory of [
        'topologies',
        'packingplans',
        'pplans',
        'executionstate',
        'tmanagers',
        'schedulers',
        'metricscaches',
        'statefulcheckpoints',
        'healthlogs',
        'locks',
      ]) {
        expect(existsSync(path.join(store, directory))).toBe(true);
      }
      const value = sampleStateRecord('executionState', 'word-count');
      await sm.set('executionState', 'word-count', value);
      const stored = JSON.parse(await readFile(path.join(store, 'executionstate', 'word-count'), 'utf8'));
      expect(stored).toMatchObject({ format: 'ardea.state/1', kind: 'executionState', topology: 'word-count', value });
      expect(stored.ephemeralOwner).toBeUndefined();

      await sm.set('topologyMaster', 'word-count', sampleStateRecord('topologyMaster', 'word-count'), { ephemeral: true });
      const ephemeral = JSON.parse(await readFile(path.join(store, 'tmanagers', 'word-count'), 'utf8'));
      expect(ephemeral.ephemeralOwner).toMatchObject({ pid: process.pid, host: os.hostname() });

      const lock = await sm.lock('word-count', 'update', { timeoutMs: 1000 });
      const lockFile = JSON.parse(await readFile(path.join(store, 'locks', 'word-count__update'), 'utf8'));
      expect(lockFile).toMatchObject({ pid: process.pid, host: os.hostname() });
      await lock.release();
      expect(existsSync(path.join(store, 'locks', 'word-count__update'))).toBe(false);
    });

    it('reports a corrupt node file as a StateManagerError naming the file', async () => {
      const sm = await open();
      const file = path.join(root, 'pplans', 'broken');
      await writeFile(file, '{"format": "ardea.state/1", "value": ');
      await expect(sm.get('physicalPlan', 'broken')).rejects.toThrow(StateManagerError);
      await expect(sm.get('physicalPlan', 'broken')).rejects.toThrow(file);
      await writeFile(file, JSON.stringify({ something: 'else' }));
      await expect(sm.get('physicalPlan', 'broken')).rejects.toThrow(/pplans\/broken is corrupt/);
      // A damaged node still exists, so it is listed and blocks create.
      expect(await sm.list('physicalPlan')).toEqual(['broken']);
    });

    it('rejects topology names that are not a single plain file name', async () => {
      const sm = await open();
      for (const name of ['', '.hidden', '../escape', 'a/b', 'a\\b', 'nul\u0000', 'x'.repeat(201)]) {
        await expect(sm.get('topology', name)).rejects.toThrow(StateManagerError);
        await expect(sm.set('topology', name, sampleStateRecord('topology', 'x'))).rejects.toThrow(/invalid topology name/);
        expect(() => sm.watch('topology', name, () => undefined)).toThrow(StateManagerError);
        await expect(sm.lock(name, 'update', { timeoutMs: 10 })).rejects.toThrow(StateManagerError);
      }
      expect(existsSync(path.join(root, 'escape'))).toBe(false);
    });

    it('ignores and, on start, removes temporary files left by a crashed writer', async () => {
      await mkdir(path.join(root, 'topologies'), { recursive: true });
      const leftover = path.join(root, 'topologies', '.word-count.1234.abcd.tmp');
      await writeFile(leftover, '{"partial');
      const sm = await open();
      expect(existsSync(leftover)).toBe(false);
      await writeFile(leftover, '{"partial');
      expect(await sm.list('topology')).toEqual([]);
    });

    it('refuses to work before start and after close', async () => {
      const sm = new LocalFsStateManager({ rootPath: root }, logger);
      await expect(sm.get('topology', 'x')).rejects.toThrow(/not started/);
      expect(() => sm.watch('topology', 'x', () => undefined)).toThrow(/not started/);
      await sm.start();
      await sm.close();
      await expect(sm.set('topology', 'x', sampleStateRecord('topology', 'x'))).rejects.toThrow(/closed/);
      await expect(sm.start()).rejects.toThrow(/closed/);
    });

    it('rejects values that are not JSON', async () => {
      const sm = await open();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(sm.set('checkpoints', 'cyclic', cyclic as never)).rejects.toThrow(/plain JSON/);
      await expect(sm.set('checkpoints', 'undef', undefined as never)).rejects.toThrow(StateManagerError);
    });
  });

  describe('crash consistency', () => {
    const journal = (id: string, writes: object[]) =>
      JSON.stringify({
        format: 'ardea.journal/1',
        id,
        writtenAt: new Date().toISOString(),
        owner: { host: os.hostname(), pid: 999_999 },
        writes,
      });

    it('completes a transaction journal left by a crashed writer on start', async () => {
      const topology = 'crashed';
      const plan = sampleStateRecord('packingPlan', topology, 1);
      const definition = sampleStateRecord('topology', topology, 1);
      const state = sampleStateRecord('executionState', topology, 1);
      await mkdir(path.join(root, '.journal'), { recursive: true });
      await mkdir(path.join(root, 'topologies'), { recursive: true });
      await mkdir(path.join(root, 'schedulers'), { recursive: true });
      // The crash came after the first write was applied, before the others.
      await writeFile(path.join(root, 'topologies', topology), nodeText('topology', topology, definition));
      await writeFile(path.join(root, 'schedulers', topology), nodeText('scheduler', topology, sampleStateRecord('scheduler', topology)));
      await writeFile(
        path.join(root, '.journal', '000000000000001-999999-aaaa.json'),
        journal('000000000000001-999999-aaaa', [
          { op: 'set', node: `topologies/${topology}`, content: nodeText('topology', topology, definition) },
          { op: 'set', node: `packingplans/${topology}`, content: nodeText('packingPlan', topology, plan) },
          { op: 'set', node: `executionstate/${topology}`, content: nodeText('executionState', topology, state) },
          { op: 'delete', node: `schedulers/${topology}` },
        ]),
      );
      // A journal that was never renamed into place belongs to a transaction that never began applying.
      const uncommitted = path.join(root, '.journal', '.000000000000002-999999-bbbb.json.999999.cccc.tmp');
      await writeFile(uncommitted, journal('000000000000002-999999-bbbb', [{ op: 'delete', node: `topologies/${topology}` }]));

      const sm = await open();
      expect(await sm.get('topology', topology)).toEqual(definition);
      expect(await sm.get('packingPlan', topology)).toEqual(plan);
      expect(await sm.get('executionState', topology)).toEqual(state);
      expect(await sm.get('scheduler', topology)).toBeUndefined();
      expect(await readdir(path.join(root, '.journal'))).toEqual([]);
    });

    it('completes a leftover journal before a later write, so replay never overwrites newer state', async () => {
      const sm = await open();
      const topology = 'replayed';
      await writeFile(
        path.join(root, '.journal', '000000000000003-999999-dddd.json'),
        journal('000000000000003-999999-dddd', [
          {
            op: 'set',
            node: `pplans/${topology}`,
            content: nodeText('physicalPlan', topology, sampleStateRecord('physicalPlan', topology, 1)),
          },
        ]),
      );
      await sm.set('physicalPlan', topology, sampleStateRecord('physicalPlan', topology, 2));
      expect(await sm.get('physicalPlan', topology)).toEqual(sampleStateRecord('physicalPlan', topology, 2));
      expect(await readdir(path.join(root, '.journal'))).toEqual([]);
    });

    it('refuses to guess about a malformed journal, naming it', async () => {
      const sm = await open();
      const file = path.join(root, '.journal', '000000000000004-999999-eeee.json');
      await writeFile(file, journal('000000000000004-999999-eeee', [{ op: 'set', node: '../../etc/passwd', content: 'x' }]));
      await expect(sm.set('topology', 'after', sampleStateRecord('topology', 'after'))).rejects.toThrow(file);
      await writeFile(file, '{"format": "ardea.journal/1"');
      await expect(sm.delete('topology', 'after')).rejects.toThrow(/not valid JSON/);
    });

    it('leaves no journal behind after a successful transaction', async () => {
      const sm = await open();
      await sm.transaction([
        { op: 'create', kind: 'topology', topology: 't', value: sampleStateRecord('topology', 't') },
        { op: 'set', kind: 'packingPlan', topology: 't', value: sampleStateRecord('packingPlan', 't') },
      ]);
      expect(await readdir(path.join(root, '.journal'))).toEqual([]);
      expect((await readdir(path.join(root, 'topologies'))).filter((name) => name.startsWith('.'))).toEqual([]);
    });
  });

  describe('ephemeral nodes of other processes', () => {
    it('treats the node of a dead process as absent and removes it', async () => {
      const sm = await open();
      const file = path.join(root, 'tmanagers', 'orphan');
      const pid = await deadPid();
      await writeFile(
        file,
        nodeText('topologyMaster', 'orphan', sampleStateRecord('topologyMaster', 'orphan'), {
          ...currentProcessOwner(),
          pid,
          startTime: 1,
          session: 's',
        }),
      );
      expect(await sm.list('topologyMaster')).toEqual([]);
      await vi.waitFor(() => expect(existsSync(file)).toBe(false), { timeout: 3000, interval: 10 });

      await writeFile(
        file,
        nodeText('topologyMaster', 'orphan', sampleStateRecord('topologyMaster', 'orphan'), {
          ...currentProcessOwner(),
          pid,
          startTime: 1,
          session: 's',
        }),
      );
      expect(await sm.get('topologyMaster', 'orphan')).toBeUndefined();
      await vi.waitFor(() => expect(existsSync(file)).toBe(false), { timeout: 3000, interval: 10 });
      await sm.create('topologyMaster', 'orphan', sampleStateRecord('topologyMaster', 'orphan', 2), { ephemeral: true });
    });

    it('treats a reused pid (same pid, different start time) as a dead owner', async () => {
      const sm = await open();
      const owner = { ...ownerOf(process.pid), startTime: ownerOf(process.pid).startTime + 1 };
      await writeFile(
        path.join(root, 'metricscaches', 'reused'),
        nodeText('metricsCache', 'reused', sampleStateRecord('metricsCache', 'reused'), owner),
      );
      expect(await sm.get('metricsCache', 'reused')).toBeUndefined();
    });

    it('keeps the node of a live process, and reports its death to watches', async () => {
      const sm = await open();
      const child = await liveProcess();
      const value = sampleStateRecord('topologyMaster', 'owned');
      const file = path.join(root, 'tmanagers', 'owned');
      await writeFile(file, nodeText('topologyMaster', 'owned', value, ownerOf(child.pid)));
      expect(await sm.get('topologyMaster', 'owned')).toEqual(value);
      expect(await sm.list('topologyMaster')).toEqual(['owned']);
      const calls: unknown[] = [];
      sm.watch('topologyMaster', 'owned', (next) => calls.push(next));

      child.kill('SIGKILL');
      await vi.waitFor(() => expect(calls).toEqual([undefined]), { timeout: 3000, interval: 10 });
      await vi.waitFor(() => expect(existsSync(file)).toBe(false), { timeout: 3000, interval: 10 });
    });

    it('keeps the node of a process on another host', async () => {
      const sm = await open();
      const value = sampleStateRecord('scheduler', 'remote');
      await writeFile(
        path.join(root, 'schedulers', 'remote'),
        nodeText('scheduler', 'remote', value, { host: `not-${os.hostname()}`, pid: 1, session: 's' }),
      );
      expect(await sm.get('scheduler', 'remote')).toEqual(value);
    });

    it('close removes only its own ephemeral nodes, not a node another client has since replaced', async () => {
      const owner = await open();
      const other = await open();
      await owner.set('topologyMaster', 'shared', sampleStateRecord('topologyMaster', 'shared', 1), { ephemeral: true });
      await other.set('topologyMaster', 'shared', sampleStateRecord('topologyMaster', 'shared', 2), { ephemeral: true });
      await owner.set('metricsCache', 'shared', sampleStateRecord('metricsCache', 'shared', 1), { ephemeral: true });
      await owner.set('metricsCache', 'shared', sampleStateRecord('metricsCache', 'shared', 2));
      await owner.close();
      expect(await other.get('topologyMaster', 'shared')).toEqual(sampleStateRecord('topologyMaster', 'shared', 2));
      expect(await other.get('metricsCache', 'shared')).toEqual(sampleStateRecord('metricsCache', 'shared', 2));
    });
  });

  describe('locks and the write mutex', () => {
    const lockText = (owner: object) =>
      JSON.stringify({ ...owner, token: 'foreign', acquiredAt: '2024-01-01T00:00:00.000Z', purpose: 'test' });

    it('takes over a lock whose holder died', async () => {
      const sm = await open();
      const file = path.join(root, 'locks', 'stale__update');
      await writeFile(file, lockText({ ...currentProcessOwner(), pid: await deadPid(), session: 's' }));
      const lock = await sm.lock('stale', 'update', { timeoutMs: 1000 });
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(process.pid);
      await lock.release();
    });

    it('times out on a lock held by a live process, naming the holder', async () => {
      const sm = await open();
      const child = await liveProcess();
      await writeFile(path.join(root, 'locks', 'held__update'), lockText(ownerOf(child.pid)));
      const failure = sm.lock('held', 'update', { timeoutMs: 150 });
      await expect(failure).rejects.toBeInstanceOf(LockTimeoutError);
      await expect(failure).rejects.toThrow(new RegExp(`held by pid ${child.pid} on host ${os.hostname()} since 2024`));
    });

    it('never takes over a lock held on another host', async () => {
      const sm = await open();
      await writeFile(path.join(root, 'locks', 'remote__update'), lockText({ host: `not-${os.hostname()}`, pid: 1 }));
      await expect(sm.lock('remote', 'update', { timeoutMs: 100 })).rejects.toThrow(/another host/);
    });

    it('does not remove a lock it no longer holds', async () => {
      const sm = await open();
      const lock = await sm.lock('moved', 'update', { timeoutMs: 1000 });
      const file = path.join(root, 'locks', 'moved__update');
      await writeFile(file, lockText({ host: 'elsewhere', pid: 1 }));
      await lock.release();
      expect(existsSync(file)).toBe(true);
    });

    it('fails a close-interrupted lock wait with a StateManagerError', async () => {
      const holder = await open();
      const waiter = await open();
      await holder.lock('busy', 'update', { timeoutMs: 1000 });
      const waiting = waiter.lock('busy', 'update', { timeoutMs: 10_000 });
      await waiter.close();
      await expect(waiting).rejects.toThrow(/closed while waiting/);
    });

    it('takes over the write mutex of a dead writer', async () => {
      const sm = await open();
      await writeFile(path.join(root, '.txn.lock'), lockText({ ...currentProcessOwner(), pid: await deadPid() }));
      await sm.set('topology', 'after-crash', sampleStateRecord('topology', 'after-crash'));
      expect(existsSync(path.join(root, '.txn.lock'))).toBe(false);
    });

    it('waits for the write mutex of a live writer and names it on timeout', async () => {
      const sm = await open(root, { mutexTimeoutMs: 100 });
      const child = await liveProcess();
      await writeFile(path.join(root, '.txn.lock'), lockText(ownerOf(child.pid)));
      await expect(sm.set('topology', 'blocked', sampleStateRecord('topology', 'blocked'))).rejects.toThrow(
        new RegExp(`write mutex .*held by pid ${child.pid}`),
      );
      await rm(path.join(root, '.txn.lock'));
      await sm.set('topology', 'blocked', sampleStateRecord('topology', 'blocked'));
    });
    it('starts and answers while a live writer holds the write mutex, which may be a stopped or hung one', async () => {
      const first = await open(root);
      await first.set('topology', 'kept', sampleStateRecord('topology', 'kept'));
      const child = await liveProcess();
      await writeFile(path.join(root, '.txn.lock'), lockText(ownerOf(child.pid)));
      await writeFile(path.join(root, 'topologies', '.litter.tmp'), 'left by a crashed writer');
      const sm = await open(root, { mutexTimeoutMs: 200 });
      expect(await sm.get('topology', 'kept')).toEqual(sampleStateRecord('topology', 'kept'));
      await expect(sm.set('topology', 'blocked', sampleStateRecord('topology', 'blocked'))).rejects.toThrow(/write mutex/);
      // Once the mutex is free, the next start removes the litter.
      await rm(path.join(root, '.txn.lock'));
      await open(root);
      expect(existsSync(path.join(root, 'topologies', '.litter.tmp'))).toBe(false);
    });

    it('lets readers of a dead ephemeral node answer without waiting for the write mutex', async () => {
      const sm = await open(root, { mutexTimeoutMs: 300 });
      const child = await liveProcess();
      await writeFile(path.join(root, '.txn.lock'), lockText(ownerOf(child.pid)));
      const file = path.join(root, 'tmanagers', 'orphan');
      await writeFile(
        file,
        nodeText('topologyMaster', 'orphan', sampleStateRecord('topologyMaster', 'orphan'), {
          ...currentProcessOwner(),
          pid: await deadPid(),
          session: 's',
        }),
      );
      const started = Date.now();
      expect(await sm.get('topologyMaster', 'orphan')).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(300);
      // The removal waits for the mutex, and close() waits for the removal.
      await sm.close();
      expect(existsSync(file)).toBe(true);
    });
  });

  describe('instances that reach the store through different paths, as separate processes do', () => {
    // Instances of one process queue on the resolved root path before the mutex file; a symlinked
    // path gets its own queue, so only the mutex file arbitrates, exactly as between processes.
    const aliases = async (count: number) => {
      const paths = [root];
      for (let i = 1; i < count; i++) {
        const alias = path.join(os.tmpdir(), `ardea-statemgr-alias-${process.pid}-${Date.now()}-${i}`);
        await symlink(root, alias);
        paths.push(alias);
      }
      return paths;
    };
    let links: string[] = [];
    afterEach(async () => {
      for (const link of links.splice(1)) await rm(link, { force: true });
    });

    it('let exactly one concurrent create win', async () => {
      links = await aliases(4);
      const clients = await Promise.all(links.map((rootPath) => open(rootPath)));
      for (let round = 0; round < 15; round++) {
        const topology = `race-${round}`;
        const results = await Promise.allSettled(
          clients.map((client, i) => client.create('topology', topology, sampleStateRecord('topology', topology, i))),
        );
        const winners = results.filter((result) => result.status === 'fulfilled');
        expect(winners).toHaveLength(1);
        for (const result of results) if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(StateConflictError);
      }
    });

    it('keep transactions all-or-nothing against concurrent creates', async () => {
      links = await aliases(3);
      const clients = await Promise.all(links.map((rootPath) => open(rootPath)));
      for (let round = 0; round < 10; round++) {
        const topology = `submit-${round}`;
        const submit = (client: LocalFsStateManager, variant: number) =>
          client.transaction([
            { op: 'create', kind: 'topology', topology, value: sampleStateRecord('topology', topology, variant) },
            { op: 'create', kind: 'packingPlan', topology, value: sampleStateRecord('packingPlan', topology, variant) },
            { op: 'create', kind: 'executionState', topology, value: sampleStateRecord('executionState', topology, variant) },
          ]);
        const results = await Promise.allSettled([
          submit(clients[0]!, 0),
          submit(clients[1]!, 1),
          clients[2]!.create('packingPlan', topology, sampleStateRecord('packingPlan', topology, 2)),
        ]);
        const won = results.findIndex((result) => result.status === 'fulfilled');
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        // Whoever won, every node holds that winner's value: no mix of two submissions.
        expect(await clients[0]!.get('packingPlan', topology)).toEqual(sampleStateRecord('packingPlan', topology, won));
        if (won < 2) {
          expect(await clients[0]!.get('topology', topology)).toEqual(sampleStateRecord('topology', topology, won));
          expect(await clients[0]!.get('executionState', topology)).toEqual(sampleStateRecord('executionState', topology, won));
        } else {
          expect(await clients[0]!.get('topology', topology)).toBeUndefined();
        }
      }
    });

    it('exclude each other from a lock', async () => {
      links = await aliases(2);
      const [a, b] = await Promise.all(links.map((rootPath) => open(rootPath)));
      const lock = await a!.lock('shared', 'update', { timeoutMs: 1000 });
      await expect(b!.lock('shared', 'update', { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
      await lock.release();
      await (await b!.lock('shared', 'update', { timeoutMs: 1000 })).release();
    });
  });

  describe('separate processes (running the built module in core/dist)', () => {
    const built = (module: string) => fileURLToPath(new URL(`../../dist/${module}`, import.meta.url));
    /** Runs `body` in a child process with `sm` started on the test's root; resolves its stdout lines. */
    const inChild = (body: string, onLine?: (line: string, child: ChildProcess) => void) => {
      const script = `
        const { LocalFsStateManager } = await import(process.argv[1]);
        const { SilentLogger } = await import(process.argv[2]);
        const sm = new LocalFsStateManager({ rootPath: process.argv[3], pollIntervalMs: 50 }, new SilentLogger());
        await sm.start();
        ${body}
      `;
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', script, built('statemgr/index.js'), built('logging/index.js'), root],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      const lines: string[] = [];
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let buffered = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        for (const line of parts) {
          lines.push(line);
          onLine?.(line, child);
        }
      });
      return new Promise<string[]>((resolve, reject) =>
        child.once('exit', (code, signal) =>
          code === 0 || signal === 'SIGKILL' ? resolve(lines) : reject(new Error(`child failed (${code}): ${stderr}`)),
        ),
      );
    };

    it('let exactly one of several processes create a node', async () => {
      await open();
      const topologies = Array.from({ length: 8 }, (_, i) => `proc-race-${i}`);
      const body = `
        const won = [];
        await Promise.all(${JSON.stringify(topologies)}.map(async (t) => {
          try { await sm.create('executionState', t, { topologyName: t, pid: process.pid }); won.push(t); }
          catch (error) { if (error.name !== 'StateConflictError') throw error; }
        }));
        await sm.close();
        console.log(JSON.stringify(won));
      `;
      const results = await Promise.all([inChild(body), inChild(body), inChild(body)]);
      const wins = results.flatMap((lines) => JSON.parse(lines[0]!) as string[]);
      expect(wins.sort()).toEqual([...topologies].sort());
    });

    it('leave a transaction all-or-nothing when its process is killed part-way', async () => {
      const kinds = ['topology', 'packingPlan', 'physicalPlan', 'executionState', 'scheduler', 'checkpoints'] as const;
      for (let round = 0; round < 3; round++) {
        // The child commits transactions in a loop until it is killed at an arbitrary point of one.
        await inChild(
          `
          for (let variant = 0; ; variant++) {
            const value = { variant, padding: 'x'.repeat(20000) };
            await sm.transaction(${JSON.stringify(kinds)}.map((kind) => ({ op: 'set', kind, topology: 'killed-mid', value })));
            if (variant === 2) console.log('running');
          }
        `,
          (line, child) => {
            if (line === 'running') setTimeout(() => child.kill('SIGKILL'), 5 + round * 7);
          },
        );
        const sm = await open();
        const variants = await Promise.all(
          kinds.map(async (kind) => ((await sm.get(kind, 'killed-mid')) as unknown as { variant: number }).variant),
        );
        expect(new Set(variants).size, `variants after the kill: ${variants.join(', ')}`).toBe(1);
        expect(await readdir(path.join(root, '.journal'))).toEqual([]);
      }
    });

    it('see the ephemeral node of a killed process disappear', async () => {
      const sm = await open();
      const calls: unknown[] = [];
      sm.watch('topologyMaster', 'killed', (value) => calls.push(value));
      const exited = inChild(
        `
        await sm.set('topologyMaster', 'killed', { topologyName: 'killed', pid: process.pid }, { ephemeral: true });
        console.log('written');
        setInterval(() => {}, 1000);
      `,
        (line, child) => {
          if (line === 'written') child.kill('SIGKILL');
        },
      );
      await exited;
      await vi.waitFor(() => expect(calls.at(-1)).toBeUndefined(), { timeout: 3000, interval: 10 });
      expect(calls[0]).toMatchObject({ topologyName: 'killed' });
      expect(await sm.get('topologyMaster', 'killed')).toBeUndefined();
      await sm.create('topologyMaster', 'killed', sampleStateRecord('topologyMaster', 'killed'), { ephemeral: true });
    });

    it('take over the update lock of a killed process', async () => {
      const sm = await open();
      await inChild(
        `
        await sm.lock('orphaned', 'update', { timeoutMs: 1000 });
        console.log('locked');
        setInterval(() => {}, 1000);
      `,
        (line, child) => {
          if (line === 'locked') child.kill('SIGKILL');
        },
      );
      const lock = await sm.lock('orphaned', 'update', { timeoutMs: 2000 });
      await lock.release();
    });
  });

  describe('privacy', () => {
    let umask: number;
    beforeEach(() => {
      umask = process.umask(0o022);
    });
    afterEach(() => {
      process.umask(umask);
    });

    const openToOthers = async (directory: string): Promise<string[]> => {
      const open: string[] = [];
      for (const entry of ['', ...(await readdir(directory, { recursive: true }))]) {
        const mode = (await stat(path.join(directory, entry))).mode;
        if ((mode & 0o077) !== 0) open.push(`${entry || '.'} ${(mode & 0o777).toString(8)}`);
      }
      return open;
    };

    it('writes nodes, journals and locks for its owner only, whatever the umask', async () => {
      const store = path.join(root, 'fresh', 'state');
      const sm = await open(store);
      await sm.create('executionState', 'private', sampleStateRecord('executionState', 'private'));
      await sm.set('topologyMaster', 'private', sampleStateRecord('topologyMaster', 'private'), { ephemeral: true });
      await sm.transaction([{ op: 'set', kind: 'packingPlan', topology: 'private', value: sampleStateRecord('packingPlan', 'private') }]);
      const lock = await sm.lock('private', 'update', { timeoutMs: 1000 });
      expect(await openToOthers(path.join(root, 'fresh'))).toEqual([]);
      await lock.release();
    });

    it('makes a store an older version left open private again at start', async () => {
      const node = path.join(root, 'executionstate', 'old');
      await mkdir(path.dirname(node), { recursive: true });
      await writeFile(node, nodeText('executionState', 'old', sampleStateRecord('executionState', 'old')));
      await chmod(root, 0o755);
      await chmod(path.dirname(node), 0o755);
      await chmod(node, 0o644);
      const sm = await open();
      expect(await openToOthers(root)).toEqual([]);
      expect(await sm.get('executionState', 'old')).toEqual(sampleStateRecord('executionState', 'old'));
    });

    it('leaves a configured root outside ARDEA_HOME as it is, with one warning, and keeps its content private', async () => {
      const warnings: string[] = [];
      const recording: Logger = {
        debug() {},
        info() {},
        error() {},
        warn: (message: string) => void warnings.push(message),
        child: () => recording,
      };
      await chmod(root, 0o755);
      for (let i = 0; i < 2; i++) {
        const manager = new LocalFsStateManager({ rootPath: root, pollIntervalMs: 50, repairRoot: false }, recording);
        managers.push(manager);
        await manager.start();
      }
      expect(((await stat(root)).mode & 0o777).toString(8)).toBe('755');
      expect((await openToOthers(root)).filter((entry) => !entry.startsWith('. '))).toEqual([]);
      expect(warnings.filter((line) => line.includes('can be entered by other users'))).toHaveLength(1);
    });
  });

  describe('plugin descriptor', () => {
    const context: PluginContext = { cluster: 'lab', home: '/srv/ardea', clusterDirectory: undefined, logger };

    it('validates its config strictly', () => {
      expect(localFsStateManagerPlugin.configSchema.safeParse({}).success).toBe(true);
      expect(localFsStateManagerPlugin.configSchema.safeParse({ rootPath: '/x', pollIntervalMs: 100 }).success).toBe(true);
      expect(localFsStateManagerPlugin.configSchema.safeParse({ rootpath: '/x' }).success).toBe(false);
      expect(localFsStateManagerPlugin.configSchema.safeParse({ pollIntervalMs: 0 }).success).toBe(false);
      expect(localFsStateManagerPlugin).toMatchObject({ name: 'localfs', kind: 'statemgr' });
    });

    it('binds one LocalFsStateManager under $ARDEA_HOME/state/<cluster> by default', async () => {
      const container = new Container();
      container.bind<Logger>(Logger).toConstantValue(logger);
      await container.loadAsync(localFsStateManagerPlugin.createModule({}, context));
      const sm = container.get<StateManager>(StateManager);
      expect(sm).toBeInstanceOf(LocalFsStateManager);
      expect(container.get<StateManager>(StateManager)).toBe(sm);
      expect((sm as LocalFsStateManager).rootPath).toBe(path.resolve('/srv/ardea/state/lab'));
    });

    it('takes rootPath from config, relative to $ARDEA_HOME', async () => {
      const container = new Container();
      container.bind<Logger>(Logger).toConstantValue(logger);
      await container.loadAsync(localFsStateManagerPlugin.createModule({ rootPath: 'custom' }, context));
      expect(container.get<LocalFsStateManager>(StateManager).rootPath).toBe(path.resolve('/srv/ardea/custom'));
      const absolute = new Container();
      absolute.bind<Logger>(Logger).toConstantValue(logger);
      await absolute.loadAsync(localFsStateManagerPlugin.createModule({ rootPath: root }, context));
      const sm = absolute.get<LocalFsStateManager>(StateManager);
      expect(sm.rootPath).toBe(root);
      managers.push(sm);
      await sm.start();
      await sm.set('scheduler', 'bound', sampleStateRecord('scheduler', 'bound'));
      expect(existsSync(path.join(root, 'schedulers', 'bound'))).toBe(true);
    });
  });
});
