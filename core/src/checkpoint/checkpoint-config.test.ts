import { checkpointTokenFor } from './container-config.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ardea } from '../app/ardea.js';
import { createArdeaContainer, resolveClusterPlugins } from '../app/ardea-container.js';
import { configView } from '../cli/commands/config-command.js';
import {
  CLUSTER_CONFIG_ENV,
  ClusterConfig,
  clusterConfigFromValue,
  clusterConfigToValue,
  loadClusterConfig,
} from '../config/cluster-config.js';
import { closeArdeaContainer } from '../di/container-lifecycle.js';
import { CheckpointError, ConfigError, PluginLoadError } from '../errors/index.js';
import { Logger, SilentLogger } from '../logging/index.js';
import type { PackingPlan } from '../model/packing-plan.js';
import { builtinPackingModule } from '../packing/index.js';
import { LibraryLauncher } from '../scheduler/launchers.js';
import { executorSpec } from '../scheduler/executor-spec.js';
import { CheckpointStorage, type CheckpointManifest, type CheckpointTopology } from '../spi/checkpoint-storage.js';
import { Launcher, Scheduler } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { sampleStateRecord } from '../testing/state-manager-conformance.js';
import { PackageServer } from '../uploader/index.js';
import { HttpCheckpointStorage, LocalFsCheckpointStorage } from './index.js';

/** How `promise` failed; a test that expects a failure fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const TOKEN = 'checkpoint-config-test-token-0123456789';
const run = { topologyName: 'word-count', topologyId: 'word-count-1a2b3c4d' };
const manifest = (checkpointId: number, parts: Record<string, number>): CheckpointManifest => ({
  checkpointId,
  startedAt: 1,
  completedAt: 2,
  maxParallelism: 8,
  parallelism: { count: 1 },
  parts: Object.entries(parts).map(([part, bytes]) => ({ part, bytes })),
});

let home: string;
beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-checkpoint-config-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function cluster(name: string, files: Record<string, string>): string {
  const directory = path.join(home, 'clusters', name);
  mkdirSync(directory, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(directory, file), text);
  return directory;
}

/** The cluster config an executor of `config`'s cluster reads, as the pool hands it over. */
function asExecutorSees(config: ClusterConfig): ClusterConfig {
  return clusterConfigFromValue(executorSpec(config, 'word-count').env[CLUSTER_CONFIG_ENV]!);
}

async function withContainer<T>(config: ClusterConfig, use: (container: Container) => Promise<T>): Promise<T> {
  const container = await createArdeaContainer(config);
  try {
    return await use(container);
  } finally {
    await closeArdeaContainer(container);
  }
}

describe('the checkpoint storage of a cluster', () => {
  it('is localfs under $ARDEA_HOME/checkpoints/<cluster> on the built-in cluster, in the CLI and in executors alike', async () => {
    const config = loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } });
    expect(config.checkpoints).toEqual({ plugin: 'localfs', config: {} });
    expect(config.sources.checkpoints).toBe('<built-in local cluster>');
    await withContainer(config, async (cli) => {
      const storage = cli.get<CheckpointStorage>(CheckpointStorage);
      expect(storage).toBeInstanceOf(LocalFsCheckpointStorage);
      expect((storage as LocalFsCheckpointStorage).checkpointDirectory).toBe(path.join(home, 'checkpoints', 'local'));
      await storage.store(run, 1, 'count-0', Buffer.from('from a container'));
      await storage.commit(run, manifest(1, { 'count-0': 16 }));
    });
    await withContainer(asExecutorSees(config), async (executor) => {
      const storage = executor.get<CheckpointStorage>(CheckpointStorage);
      expect((await storage.latest(run))?.checkpointId).toBe(1);
      expect(Buffer.from((await storage.load(run, 1, 'count-0'))!).toString()).toBe('from a container');
    });
  });

  it('is read from checkpoints.yaml and --config-property like any concern', async () => {
    cluster('lab', { 'checkpoints.yaml': 'plugin: localfs\ndirectory: ${ARDEA_HOME}/state/ckpt\n' });
    const config = loadClusterConfig({ cluster: 'lab', env: { ARDEA_HOME: home } });
    expect(config.sources.checkpoints).toBe(path.join(home, 'clusters', 'lab', 'checkpoints.yaml'));
    expect(config.checkpoints).toEqual({ plugin: 'localfs', config: { directory: path.join(home, 'state', 'ckpt') } });
    const overridden = loadClusterConfig({ cluster: 'lab', env: { ARDEA_HOME: home }, overrides: ['checkpoints.directory=other'] });
    await withContainer(overridden, async (container) => {
      expect(container.get<LocalFsCheckpointStorage>(CheckpointStorage).checkpointDirectory).toBe(path.join(home, 'other'));
    });
    const resolved = await resolveClusterPlugins(config);
    expect(configView(resolved).concerns.checkpoints).toEqual({ plugin: 'localfs', directory: path.join(home, 'state', 'ckpt') });
  });

  it('names the file and key of a bad section', async () => {
    cluster('bad', { 'checkpoints.yaml': 'plugin: localfs\ndirectroy: /tmp\n' });
    const failure = await rejectionOf(resolveClusterPlugins(loadClusterConfig({ cluster: 'bad', env: { ARDEA_HOME: home } })));
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).toMatch(
      new RegExp(`^${path.join(home, 'clusters', 'bad', 'checkpoints.yaml')}: checkpoints\\.directroy: unknown key`),
    );
  });

  it('is http against the uploader’s server, public URL and token file when the uploader is http', async () => {
    cluster('remote', {
      'uploader.yaml':
        'plugin: http\nurl: http://127.0.0.1:8478\npublicUrl: http://packages.internal:8478\ntokenFile: ${ARDEA_HOME}/package-server.token\n',
    });
    const config = loadClusterConfig({ cluster: 'remote', env: { ARDEA_HOME: home } });
    expect(config.checkpoints).toEqual({
      plugin: 'http',
      config: {
        url: 'http://127.0.0.1:8478',
        publicUrl: 'http://packages.internal:8478',
        tokenFile: path.join(home, 'package-server.token'),
      },
    });
    const resolved = await resolveClusterPlugins(config);
    expect(configView(resolved).concerns.checkpoints).toEqual({
      plugin: 'http',
      url: 'http://127.0.0.1:8478',
      publicUrl: 'http://packages.internal:8478',
      tokenFile: path.join(home, 'package-server.token'),
      timeoutMs: 120_000,
    });
    await withContainer(config, async (container) => {
      expect(container.get<CheckpointStorage>(CheckpointStorage)).toBeInstanceOf(HttpCheckpointStorage);
    });
  });

  it('keeps what checkpoints.yaml says over the uploader’s: another plugin, or another server', () => {
    const uploader = 'plugin: http\nurl: http://127.0.0.1:8478\ntokenFile: /tokens/packages\n';
    cluster('own-server', {
      'uploader.yaml': uploader,
      'checkpoints.yaml': 'plugin: http\nurl: http://state:9000\ntokenFile: /tokens/state\n',
    });
    expect(loadClusterConfig({ cluster: 'own-server', env: { ARDEA_HOME: home } }).checkpoints.config).toEqual({
      url: 'http://state:9000',
      tokenFile: '/tokens/state',
    });
    cluster('shared-fs', { 'uploader.yaml': uploader, 'checkpoints.yaml': 'plugin: localfs\ndirectory: /shared/ckpt\n' });
    expect(loadClusterConfig({ cluster: 'shared-fs', env: { ARDEA_HOME: home } }).checkpoints).toEqual({
      plugin: 'localfs',
      config: { directory: '/shared/ckpt' },
    });
    cluster('same-server', { 'uploader.yaml': uploader, 'checkpoints.yaml': 'plugin: http\ntimeoutMs: 600000\n' });
    expect(loadClusterConfig({ cluster: 'same-server', env: { ARDEA_HOME: home } }).checkpoints.config).toEqual({
      url: 'http://127.0.0.1:8478',
      tokenFile: '/tokens/packages',
      timeoutMs: 600000,
    });
  });

  it('needs a url for http when the uploader has no server to lend', async () => {
    cluster('no-server', { 'checkpoints.yaml': 'plugin: http\n' });
    const failure = await rejectionOf(resolveClusterPlugins(loadClusterConfig({ cluster: 'no-server', env: { ARDEA_HOME: home } })));
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).toContain('checkpoints.url');
  });

  it('reaches executors with the public URL and a token of the topology’s own, not the server’s token or its file', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'ardea-checkpoint-server-'));
    const server = new PackageServer({ directory: path.join(base, 'packages'), token: TOKEN, logger: new SilentLogger() });
    const serverUrl = await server.listen('127.0.0.1');
    try {
      const tokenFile = path.join(home, 'package-server.token');
      writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
      // `url` is what this machine would use; only `publicUrl` reaches the server, as from inside a pod.
      cluster('pods', { 'uploader.yaml': `plugin: http\nurl: http://127.0.0.1:1\npublicUrl: ${serverUrl}\ntokenFile: ${tokenFile}\n` });
      const config = loadClusterConfig({ cluster: 'pods', env: { ARDEA_HOME: home } });
      const env = executorSpec(config, 'word-count').env;
      const value = JSON.parse(env[CLUSTER_CONFIG_ENV]!) as { sections: Record<string, Record<string, unknown>> };
      const topologyToken = checkpointTokenFor(TOKEN, 'word-count');
      expect(value.sections.checkpoints).toEqual({ plugin: 'http', url: serverUrl, token: topologyToken, topologyToken: true });
      // The uploader's own section still travels as read: containers fetch packages by signed URL alone.
      expect(value.sections.uploader).toEqual({ plugin: 'http', url: 'http://127.0.0.1:1', publicUrl: serverUrl, tokenFile });

      rmSync(tokenFile);
      const inContainer = clusterConfigFromValue(env[CLUSTER_CONFIG_ENV]!);
      // An executor handing the config on (container 0 restarting one) passes the same section.
      expect(JSON.parse(executorSpec(inContainer, 'word-count').env[CLUSTER_CONFIG_ENV]!).sections.checkpoints).toEqual(
        value.sections.checkpoints,
      );
      // `ardea config` run with it does not print the token.
      expect(configView(await resolveClusterPlugins(inContainer)).concerns.checkpoints).toEqual({
        plugin: 'http',
        url: serverUrl,
        token: '(set)',
        timeoutMs: 120_000,
        topologyToken: true,
      });
      await withContainer(inContainer, async (container) => {
        const storage = container.get<CheckpointStorage>(CheckpointStorage);
        await storage.store(run, 1, 'count-0', Buffer.from('pod state'));
        await storage.commit(run, manifest(1, { 'count-0': 9 }));
        expect((await storage.latest(run))?.checkpointId).toBe(1);
        await storage.dispose(run);
        // The topology's token opens nothing else: not another topology's checkpoints, not a package upload.
        await expect(storage.latest({ topologyName: 'other', topologyId: 'other-1' })).rejects.toThrow(/401|token/);
      });
      const upload = await fetch(`${serverUrl}/packages/word-count/word-count-1/topology.mjs`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${topologyToken}` },
        body: 'export default 1',
      });
      expect(upload.status).toBe(401);
    } finally {
      await server.close();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('refuses to start containers whose token it cannot read, saying which setting names the file', () => {
    cluster('no-token', { 'uploader.yaml': 'plugin: http\nurl: http://127.0.0.1:8478\ntokenFile: ${ARDEA_HOME}/missing.token\n' });
    const config = loadClusterConfig({ cluster: 'no-token', env: { ARDEA_HOME: home } });
    expect(() => executorSpec(config, 'word-count')).toThrow(
      `checkpoints.tokenFile ${path.join(home, 'missing.token')}: cannot read the token (it does not exist)`,
    );
  });

  it('defaults for a config by value written before checkpoints were a concern', () => {
    cluster('old', { 'uploader.yaml': 'plugin: http\nurl: http://127.0.0.1:8478\ntokenFile: /tokens/packages\n' });
    const value = JSON.parse(clusterConfigToValue(loadClusterConfig({ cluster: 'old', env: { ARDEA_HOME: home } }))) as {
      sources: Record<string, unknown>;
      sections: Record<string, unknown>;
    };
    delete value.sources.checkpoints;
    delete value.sections.checkpoints;
    const read = clusterConfigFromValue(JSON.stringify(value));
    expect(read.checkpoints).toEqual({ plugin: 'http', config: { url: 'http://127.0.0.1:8478', tokenFile: '/tokens/packages' } });
    expect(read.sources.checkpoints).toBe('<built-in local cluster>');
  });
});

describe('a third-party checkpoints plugin', () => {
  it('loads from checkpoints.yaml like a plugin of any other kind, with its validated config', async () => {
    cluster('custom', { 'checkpoints.yaml': `plugin: ${path.join(fixtures, 'memory-checkpoints.mjs')}\nlabel: lab\n` });
    const config = loadClusterConfig({ cluster: 'custom', env: { ARDEA_HOME: home } });
    const container = await createArdeaContainer(config);
    const storage = container.get<CheckpointStorage & { config: unknown; cluster: string; calls: unknown[][] }>(CheckpointStorage);
    expect(storage.config).toEqual({ label: 'lab', retain: 2 });
    expect(storage.cluster).toBe('custom');
    await storage.commit(run, manifest(3, {}));
    expect((await storage.latest(run))?.checkpointId).toBe(3);
    await closeArdeaContainer(container);
    // Closing the deployment closes the storage.
    expect(storage.calls).toContainEqual(['close']);
  });

  it('is refused when it is of another kind, or its config is wrong', async () => {
    const recording = path.join(path.dirname(fixtures), '..', 'plugin', 'fixtures', 'recording-scheduler.mjs');
    cluster('wrong-kind', { 'checkpoints.yaml': `plugin: ${recording}\n` });
    const wrongKind = await rejectionOf(resolveClusterPlugins(loadClusterConfig({ cluster: 'wrong-kind', env: { ARDEA_HOME: home } })));
    expect(wrongKind).toBeInstanceOf(PluginLoadError);
    expect(wrongKind.message).toMatch(
      /checkpoints\.plugin: plugin '.*recording-scheduler\.mjs' is a scheduler plugin, but a checkpoints plugin is needed here$/,
    );
    cluster('unlabelled', { 'checkpoints.yaml': `plugin: ${path.join(fixtures, 'memory-checkpoints.mjs')}\n` });
    const unlabelled = await rejectionOf(resolveClusterPlugins(loadClusterConfig({ cluster: 'unlabelled', env: { ARDEA_HOME: home } })));
    expect(unlabelled).toBeInstanceOf(ConfigError);
    expect(unlabelled.message).toContain('checkpoints.label');
  });
});

describe('killing a topology', () => {
  /** A library-mode pool that starts nothing. */
  const pool: Scheduler = {
    mode: 'library',
    containerIdentity: 'per-container',
    schedule: async () => undefined,
    update: async (): Promise<PackingPlan> => {
      throw new Error('not used');
    },
    status: async () => [],
    restart: async () => undefined,
    kill: async () => undefined,
    jobLinks: async () => [],
    close: async () => undefined,
  } as Scheduler;

  /** A storage that records what it disposes of, and fails to while `unreachable`. */
  class RecordingStorage extends LocalFsCheckpointStorage {
    readonly disposed: CheckpointTopology[] = [];
    unreachable = false;
    override async dispose(topology: CheckpointTopology): Promise<void> {
      if (this.unreachable) throw new CheckpointError('the checkpoint server is not reachable');
      this.disposed.push(topology);
      await super.dispose(topology);
    }
  }

  async function deployed(name: string) {
    const state = new InMemoryStateManager();
    await state.start();
    const topology = { ...sampleStateRecord('topology', name), name };
    await state.set('topology', name, topology);
    await state.set('executionState', name, { ...sampleStateRecord('executionState', name), topologyName: name, topologyId: topology.id });
    await state.set('scheduler', name, { topologyName: name, mode: 'library', jobLinks: [] });
    const storage = new RecordingStorage({ directory: path.join(home, 'checkpoints') });
    const container = new Container({ defaultScope: 'Singleton' });
    container.bind<Logger>(Logger).toConstantValue(new SilentLogger());
    container.bind<ClusterConfig>(ClusterConfig).toConstantValue(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }));
    container.load(builtinPackingModule);
    container.bind<StateManager>(StateManager).toConstantValue(state);
    container.bind<Uploader>(Uploader).toConstantValue({ upload: async () => 'file:///nowhere', undo: async () => undefined });
    container.bind<Scheduler>(Scheduler).toConstantValue(pool);
    container.bind<Launcher>(Launcher).toConstantValue(new LibraryLauncher(pool, state));
    container.bind<CheckpointStorage>(CheckpointStorage).toConstantValue(storage);
    return { ardea: new Ardea(container), state, storage, run: { topologyName: name, topologyId: topology.id } };
  }

  it('disposes of the checkpoints of the run it kills', async () => {
    const { ardea, state, storage, run: killed } = await deployed('stateful');
    await storage.store(killed, 1, 'count-0', Buffer.from('state'));
    await storage.commit(killed, manifest(1, { 'count-0': 5 }));
    await ardea.kill('stateful');
    expect(storage.disposed).toEqual([killed]);
    expect(await storage.latest(killed)).toBeUndefined();
    expect(await state.get('topology', 'stateful')).toBeUndefined();
    await state.close();
  });

  it('succeeds for a run that never took a checkpoint', async () => {
    const { ardea, state, storage, run: killed } = await deployed('stateless');
    await ardea.kill('stateless');
    expect(storage.disposed).toEqual([killed]);
    expect(await state.get('executionState', 'stateless')).toBeUndefined();
    await state.close();
  });

  it('keeps the state when the checkpoints cannot be removed, so that killing again finishes the job', async () => {
    const { ardea, state, storage, run: killed } = await deployed('stuck');
    await storage.store(killed, 1, 'count-0', Buffer.from('state'));
    storage.unreachable = true;
    const failure = await rejectionOf(ardea.kill('stuck'));
    expect(failure).toBeInstanceOf(CheckpointError);
    expect(failure.message).toBe(
      "cannot kill 'stuck' completely: its containers are stopped, but its checkpoints could not be removed " +
        "(the checkpoint server is not reachable); its state is kept, so run 'ardea kill local stuck' again once the " +
        'checkpoint storage is reachable',
    );
    expect(await state.get('topology', 'stuck')).toBeDefined();
    storage.unreachable = false;
    await ardea.kill('stuck');
    expect(storage.disposed).toEqual([killed]);
    expect(await storage.load(killed, 1, 'count-0')).toBeUndefined();
    expect(await state.get('topology', 'stuck')).toBeUndefined();
    await state.close();
  });
});
