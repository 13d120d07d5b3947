import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zookeeper from 'node-zookeeper-client';
import type { Client, Option, Stat } from 'node-zookeeper-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  LockTimeoutError,
  StateManagerError,
  STATE_KINDS,
  STATE_LAYOUT,
  TOPOLOGY_REMOVAL_ORDER,
  type StateKind,
  type StateRecords,
} from '@ardea/core/plugin';
import { describeStateManagerConformance, describeWithService, sampleStateRecord } from '@ardea/core/testing';
import { ZooKeeperStateManager, type ZooKeeperStateManagerConfig } from './zookeeper-state-manager.js';

const connectString = process.env.ZK_CONNECT ?? '127.0.0.1:2181';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const runId = randomUUID().slice(0, 8);
const waitOptions = { timeout: 20_000, interval: 20 };

/** A raw client, for looking at the tree behind the state manager's back. */
async function rawClient(
  connect = connectString,
  options: Partial<Option> & { sessionId?: Buffer; sessionPassword?: Buffer } = {},
  timeoutMs = 5000,
) {
  const client = zookeeper.createClient(connect, { sessionTimeout: 10_000, spinDelay: 200, ...options } as Partial<Option>);
  const outcome = await new Promise<'connected' | 'expired' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    client.once('connected', () => (clearTimeout(timer), resolve('connected')));
    client.once('expired', () => (clearTimeout(timer), resolve('expired')));
    client.connect();
  });
  return { client, outcome };
}

async function closeRaw(client: Client): Promise<void> {
  if (client.getState() !== zookeeper.State.SYNC_CONNECTED) {
    client.close();
    return;
  }
  const hungUp = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
  client.close();
  await hungUp;
}

const call = <T>(run: (done: (error: unknown, result?: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => run((error, result) => (error ? reject(error) : resolve(result as T))));

async function removeTree(root: string, credentials?: string): Promise<void> {
  const { client, outcome } = await rawClient();
  if (outcome !== 'connected') return;
  try {
    if (credentials) client.addAuthInfo('digest', Buffer.from(credentials));
    await removeNode(client, root);
  } finally {
    await closeRaw(client);
  }
}

async function removeNode(client: Client, node: string): Promise<void> {
  let children: string[];
  try {
    children = await call<string[]>((done) => client.getChildren(node, (e, c) => done(e, c)));
  } catch (error) {
    if (zkCode(error) === zookeeper.Exception.NO_NODE) return;
    throw error;
  }
  for (const child of children) await removeNode(client, `${node}/${child}`);
  await call<void>((done) => client.remove(node, -1, (error) => done(zkCode(error) === zookeeper.Exception.NO_NODE ? null : error)));
}

function zkCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'getCode' in error ? (error as { getCode(): number }).getCode() : undefined;
}

/** Why the ZooKeeper at ZK_CONNECT cannot be used, or undefined when it can. */
async function probe(): Promise<string | undefined> {
  const { client, outcome } = await rawClient(connectString, {}, 3000);
  await closeRaw(client);
  return outcome === 'connected' ? undefined : `no session with ${connectString} (${outcome}); set ZK_CONNECT for another server`;
}

await describeWithService({ name: 'ZooKeeper', probe, startHint: 'bash scripts/zk-up.sh' }, 'ZooKeeperStateManager', () => {
  const conformanceRoot = `/ardea-test-${runId}`;
  const config = (overrides: Partial<ZooKeeperStateManagerConfig> = {}): ZooKeeperStateManagerConfig => ({
    connectString,
    rootPath: conformanceRoot,
    sessionTimeoutMs: 10_000,
    connectTimeoutMs: 5000,
    ...overrides,
  });

  describeStateManagerConformance('conformance', {
    create: async () => new ZooKeeperStateManager(config()),
    createPeer: async () => new ZooKeeperStateManager(config()),
    cleanup: () => removeTree(conformanceRoot),
  });

  describe('ZooKeeper specifics', () => {
    const root = `/ardea-test-${runId}-zk`;
    const managers: ZooKeeperStateManager[] = [];
    let counter = 0;
    const topologyName = (suffix = 'topo') => `zk${runId}${counter++}-${suffix}`;
    const sample = sampleStateRecord;

    const open = async (overrides: Partial<ZooKeeperStateManagerConfig> = {}): Promise<ZooKeeperStateManager> => {
      const manager = new ZooKeeperStateManager(config({ rootPath: root, ...overrides }));
      managers.push(manager);
      await manager.start();
      return manager;
    };

    afterEach(async () => {
      for (const manager of managers.splice(0)) await manager.close();
    });
    afterAll(() => removeTree(root));

    /** Writes probe values until the recorder has seen one, which proves the watch is registered. */
    const prime = async <K extends StateKind>(
      writer: ZooKeeperStateManager,
      kind: K,
      topology: string,
      calls: unknown[],
      options?: { ephemeral: boolean },
    ): Promise<void> => {
      let variant = 500;
      await vi.waitFor(async () => {
        if (calls.length > 0) return;
        await writer.set(kind, topology, sample(kind, topology, variant++), options);
        throw new Error(`the watch on ${kind}/${topology} has not reported a probe yet`);
      }, waitOptions);
    };

    /**
     * Closes the manager's session from a second client holding the same id and password, as
     * ZooKeeper's own tests do. The manager talks through a proxy that is cut meanwhile: otherwise it
     * reconnects at once and takes its session back before the second client can close it.
     */
    const expireSession = async (manager: ZooKeeperStateManager, proxy: TcpProxy): Promise<void> => {
      const old = manager.session!;
      expect(old).toBeDefined();
      proxy.cut();
      const { client, outcome } = await rawClient(connectString, { sessionId: old.idBytes, sessionPassword: old.password });
      expect(outcome).toBe('connected');
      await closeRaw(client);
      proxy.restore();
      await vi.waitFor(() => {
        expect(manager.session?.id).toBeDefined();
        expect(manager.session!.id).not.toBe(old.id);
      }, waitOptions);
    };
    let proxy: TcpProxy;
    beforeAll(async () => {
      proxy = await TcpProxy.start(connectString);
    });
    afterAll(() => proxy.close());

    it('names the connect string and points at the start script when no server answers within the connect timeout', async () => {
      const manager = new ZooKeeperStateManager({ connectString: '127.0.0.1:1', rootPath: root, connectTimeoutMs: 1000 });
      const failure = manager.start();
      await expect(failure).rejects.toBeInstanceOf(StateManagerError);
      await expect(failure).rejects.toThrow(
        'could not connect to ZooKeeper at 127.0.0.1:1 within 1000 ms; is it running? start one with scripts/zk-up.sh',
      );
      await expect(manager.get('topology', 'anything')).rejects.toBeInstanceOf(StateManagerError);
      await manager.close();
      await manager.close();
    });

    it('creates Heron’s layout under the root', async () => {
      await open();
      const { client } = await rawClient();
      try {
        const children = await call<string[]>((done) => client.getChildren(root, (e, c) => done(e, c)));
        expect([...children].sort()).toEqual([...Object.values(STATE_LAYOUT), 'locks'].sort());
      } finally {
        await closeRaw(client);
      }
    });

    it('stores each record as JSON in /<root>/<directory>/<topology>, ephemeral ones owned by the writer’s session', async () => {
      const manager = await open();
      const topology = topologyName();
      await manager.set('packingPlan', topology, sample('packingPlan', topology));
      await manager.set('topologyMaster', topology, sample('topologyMaster', topology), { ephemeral: true });
      const { client } = await rawClient();
      try {
        const [data, stat] = await call<[Buffer, Stat]>((done) =>
          client.getData(`${root}/packingplans/${topology}`, (e, d, s) => done(e, [d, s])),
        );
        expect(JSON.parse(data.toString('utf8'))).toEqual(sample('packingPlan', topology));
        expect(stat.ephemeralOwner.every((byte) => byte === 0)).toBe(true);
        const ephemeral = await call<Stat>((done) => client.exists(`${root}/tmanagers/${topology}`, (e, s) => done(e, s)));
        expect(ephemeral.ephemeralOwner.equals(manager.session!.idBytes)).toBe(true);
      } finally {
        await closeRaw(client);
      }
    });

    it('after its session expires, re-creates its ephemeral nodes in the new session and keeps its watches', async () => {
      const owner = await open({ connectString: proxy.address });
      const peer = await open();
      const topology = topologyName();
      const location = sample('topologyMaster', topology, 1);
      const cache = sample('metricsCache', topology, 1);

      const onOwnLocation: unknown[] = [];
      owner.watch('topologyMaster', topology, (value) => onOwnLocation.push(value));
      await prime(owner, 'topologyMaster', topology, onOwnLocation, { ephemeral: true });
      await owner.set('topologyMaster', topology, location, { ephemeral: true });
      await owner.create('metricsCache', topology, cache, { ephemeral: true });
      await vi.waitFor(() => expect(onOwnLocation.at(-1)).toEqual(location), waitOptions);

      const onPlan: unknown[] = [];
      owner.watch('physicalPlan', topology, (value) => onPlan.push(value));
      await prime(peer, 'physicalPlan', topology, onPlan);
      const seenBefore = onOwnLocation.length;

      await expireSession(owner, proxy);

      await vi.waitFor(async () => {
        expect(await peer.get('topologyMaster', topology)).toEqual(location);
        expect(await peer.get('metricsCache', topology)).toEqual(cache);
      }, waitOptions);
      const { client } = await rawClient();
      try {
        const stat = await call<Stat>((done) => client.exists(`${root}/tmanagers/${topology}`, (e, s) => done(e, s)));
        expect(stat.ephemeralOwner.equals(owner.session!.idBytes)).toBe(true);
      } finally {
        await closeRaw(client);
      }
      // The node the owner watched was deleted and re-created meanwhile: the watch reports the current value.
      await vi.waitFor(() => {
        expect(onOwnLocation.length).toBeGreaterThan(seenBefore);
        expect(onOwnLocation.at(-1)).toEqual(location);
      }, waitOptions);

      const plan = sample('physicalPlan', topology, 7);
      await peer.set('physicalPlan', topology, plan);
      await vi.waitFor(() => expect(onPlan.at(-1)).toEqual(plan), waitOptions);

      await owner.close();
      await vi.waitFor(async () => expect(await peer.get('topologyMaster', topology)).toBeUndefined(), waitOptions);
    });

    it('loses a held lock with its session instead of re-taking it, so another client can take it', async () => {
      const holder = await open({ connectString: proxy.address });
      const peer = await open();
      const topology = topologyName();
      const lock = await holder.lock(topology, 'update', { timeoutMs: 5000 });
      await expireSession(holder, proxy);
      const taken = await peer.lock(topology, 'update', { timeoutMs: 10_000 });
      await lock.release();
      await expect(holder.lock(topology, 'update', { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
      await taken.release();
    });

    it('a kill stopped half-way removes nothing, so the topology does not look half-alive; repeating it removes everything', async () => {
      const manager = await open();
      const topology = topologyName();
      for (const kind of STATE_KINDS) {
        const ephemeral = kind === 'topologyMaster' || kind === 'metricsCache';
        await manager.set(kind, topology, sample(kind, topology), { ephemeral });
      }
      // A child under the physical plan node makes that delete, in the middle of the removal order, fail.
      const blocker = `${root}/${STATE_LAYOUT.physicalPlan}/${topology}/blocker`;
      const { client } = await rawClient();
      try {
        await call((done) => client.create(blocker, Buffer.from('x'), done));
        const kill = () => manager.transaction(TOPOLOGY_REMOVAL_ORDER.map((kind) => ({ op: 'delete' as const, kind, topology })));

        const failure = kill();
        await expect(failure).rejects.toBeInstanceOf(StateManagerError);
        await expect(failure).rejects.toThrow(`${root}/${STATE_LAYOUT.physicalPlan}/${topology}`);
        for (const kind of STATE_KINDS) expect(await manager.get(kind, topology)).toEqual(sample(kind, topology));
        expect(await manager.get('topology', topology)).toEqual(sample('topology', topology));
        expect(await manager.list('topology')).toContain(topology);

        await call((done) => client.remove(blocker, done));
        await kill();
        for (const kind of STATE_KINDS) expect(await manager.get(kind, topology)).toBeUndefined();
        expect(await manager.list('topology')).not.toContain(topology);
      } finally {
        await closeRaw(client);
      }
    });

    it('names the holder when a lock times out, and removes the lock node once released', async () => {
      const holder = await open();
      const waiter = await open();
      const topology = topologyName();
      const lockNode = `${root}/locks/${topology}__update`;
      const lock = await holder.lock(topology, 'update', { timeoutMs: 5000 });
      const failure = waiter.lock(topology, 'update', { timeoutMs: 150 });
      await expect(failure).rejects.toBeInstanceOf(LockTimeoutError);
      await expect(failure).rejects.toThrow(`held by pid ${process.pid} on ${os.hostname()}`);
      const { client } = await rawClient();
      try {
        const contenders = await call<string[]>((done) => client.getChildren(lockNode, (e, c) => done(e, c)));
        expect(contenders).toHaveLength(1);
        await lock.release();
        expect(await call((done) => client.exists(lockNode, (e, s) => done(e, s)))).toBeNull();
      } finally {
        await closeRaw(client);
      }
    });

    it('restricts the root to the digest identity: a client without it can neither read nor use the tree', async () => {
      const authRoot = `${root}-auth`;
      const credentials = 'ardea:s3cret';
      try {
        const manager = await open({ rootPath: authRoot, auth: { scheme: 'digest', credentials } });
        const topology = topologyName();
        await manager.set('topology', topology, sample('topology', topology));

        const { client } = await rawClient();
        try {
          await expect(call((done) => client.getChildren(authRoot, (e, c) => done(e, c)))).rejects.toMatchObject({
            code: zookeeper.Exception.NO_AUTH,
          });
          await expect(call((done) => client.getData(`${authRoot}/topologies/${topology}`, (e, d) => done(e, d)))).rejects.toMatchObject({
            code: zookeeper.Exception.NO_AUTH,
          });
        } finally {
          await closeRaw(client);
        }

        const anonymous = new ZooKeeperStateManager(config({ rootPath: authRoot }));
        await expect(anonymous.start()).rejects.toThrow(/NO_AUTH/);
        await anonymous.close();
        const impostor = new ZooKeeperStateManager(config({ rootPath: authRoot, auth: { scheme: 'digest', credentials: 'ardea:wrong' } }));
        await expect(impostor.start()).rejects.toBeInstanceOf(StateManagerError);
        await impostor.close();

        const colleague = await open({ rootPath: authRoot, auth: { scheme: 'digest', credentials } });
        expect(await colleague.get('topology', topology)).toEqual(sample('topology', topology));
      } finally {
        for (const manager of managers.splice(0)) await manager.close();
        await removeTree(authRoot, credentials);
      }
    });

    it('rejects topology names that cannot be node names', async () => {
      const manager = await open();
      for (const name of ['a/b', '..', '']) {
        await expect(manager.get('topology', name)).rejects.toBeInstanceOf(StateManagerError);
      }
    });
  });

  describe('a server that goes away and comes back', () => {
    const exec = promisify(execFile);
    const base = path.join(os.tmpdir(), `ardea-zk-test-${runId}`);
    let port = 0;
    const env = () => ({ ...process.env, ZK_BASE: base, ZK_PORT: String(port) });
    const up = () => exec('bash', [path.join(repoRoot, 'scripts/zk-up.sh')], { env: env() });
    const down = (purge = false) =>
      exec('bash', [path.join(repoRoot, 'scripts/zk-down.sh')], { env: { ...env(), ZK_PURGE: purge ? '1' : '0' } });
    const managers: ZooKeeperStateManager[] = [];

    beforeAll(async () => {
      port = await freePort();
      await up();
    }, 120_000);
    afterAll(async () => {
      for (const manager of managers.splice(0)) await manager.close();
      await down(true);
    }, 60_000);

    it(
      'fails operations with StateManagerError while it is down, ' +
        'without unhandled rejections, and recovers with its ephemerals and watches',
      { timeout: 120_000 },
      async () => {
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown) => void unhandled.push(reason);
        process.on('unhandledRejection', onUnhandled);
        try {
          const settings = { connectString: `127.0.0.1:${port}`, rootPath: '/ardea', sessionTimeoutMs: 4000, connectTimeoutMs: 2000 };
          const owner = new ZooKeeperStateManager(settings);
          const peer = new ZooKeeperStateManager(settings);
          managers.push(owner, peer);
          await owner.start();
          await peer.start();
          const topology = 'outage';
          const location = sampleStateRecord('topologyMaster', topology, 1);
          await owner.set('topologyMaster', topology, location, { ephemeral: true });
          const onPlan: Array<StateRecords['physicalPlan'] | undefined> = [];
          owner.watch('physicalPlan', topology, (value) => onPlan.push(value));
          let variant = 900;
          await vi.waitFor(async () => {
            if (onPlan.length > 0) return;
            await peer.set('physicalPlan', topology, sampleStateRecord('physicalPlan', topology, variant++));
            throw new Error('watch not registered yet');
          }, waitOptions);

          await down();
          await expect(owner.get('topology', topology)).rejects.toBeInstanceOf(StateManagerError);
          await expect(owner.set('packingPlan', topology, sampleStateRecord('packingPlan', topology))).rejects.toBeInstanceOf(
            StateManagerError,
          );
          await expect(owner.transaction([{ op: 'delete', kind: 'scheduler', topology }])).rejects.toBeInstanceOf(StateManagerError);
          await expect(owner.lock(topology, 'update', { timeoutMs: 500 })).rejects.toBeInstanceOf(StateManagerError);
          const lateWatch = owner.watch('scheduler', topology, () => undefined);

          await up();
          await vi.waitFor(async () => expect(await peer.get('topologyMaster', topology)).toEqual(location), {
            timeout: 60_000,
            interval: 200,
          });
          const plan = sampleStateRecord('physicalPlan', topology, 1);
          await vi.waitFor(
            async () => {
              await peer.set('physicalPlan', topology, plan);
              expect(onPlan.at(-1)).toEqual(plan);
            },
            { timeout: 60_000, interval: 500 },
          );
          lateWatch.close();
          expect(unhandled).toEqual([]);
        } finally {
          process.off('unhandledRejection', onUnhandled);
        }
      },
    );
  });
});

/** A TCP relay to the first server of a connect string, whose connections can be cut and refused for a while. */
class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private accepting = true;

  private constructor(
    private readonly server: net.Server,
    readonly address: string,
  ) {}

  static async start(target: string): Promise<TcpProxy> {
    const [host, port] = target.split(',')[0]!.split('/')[0]!.split(':') as [string, string];
    let proxy!: TcpProxy;
    const server = net.createServer((socket) => proxy.relay(socket, host, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    return proxy;
  }

  /** Drops every relayed connection and refuses new ones until {@link restore}. */
  cut(): void {
    this.accepting = false;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.accepting = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(socket: net.Socket, host: string, port: number): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const upstream = net.connect(port, host);
    for (const [from, to] of [
      [socket, upstream],
      [upstream, socket],
    ] as const) {
      this.sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
