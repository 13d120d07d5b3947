import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadClusterConfig } from '../config/cluster-config.js';
import { createArdeaContainer, resolveClusterPlugins } from '../app/ardea-container.js';
import { ConfigError, PluginLoadError } from '../errors/index.js';
import { Scheduler } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { loadPluginDescriptor } from './plugin-loader.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
let home: string;

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-plugins-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function clusterWithScheduler(schedulerYaml: string): string {
  const directory = path.join(home, 'clusters', 'test');
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, 'scheduler.yaml'), schedulerYaml);
  return directory;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const reference = (name: string) => ({
  kind: 'scheduler' as const,
  name,
  baseDirectory: fixtures,
  namedBy: 'scheduler.yaml: scheduler.plugin',
});

describe('loading a plugin descriptor', () => {
  it('says how to install a plugin package that is missing', async () => {
    const error = await failure(loadPluginDescriptor(reference('@acme/ardea-scheduler-mainframe'), []));
    expect(error).toBeInstanceOf(PluginLoadError);
    expect(error.message).toBe(
      "scheduler.yaml: scheduler.plugin: scheduler plugin '@acme/ardea-scheduler-mainframe' cannot be loaded: it is not " +
        'installed; run: npm install @acme/ardea-scheduler-mainframe',
    );
  });

  it('maps short names to packages and lists the short names when one is unknown', async () => {
    const error = await failure(loadPluginDescriptor(reference('mesos'), []));
    expect(error.message).toMatch(
      new RegExp(
        String.raw`scheduler plugin 'mesos' cannot be loaded: it is not installed; run: npm install mesos \(short names for ` +
          String.raw`scheduler plugins: local, slurm, kubernetes, nomad, yarn\)`,
      ),
    );
  });

  it('reports a missing plugin file by its resolved path', async () => {
    const error = await failure(loadPluginDescriptor(reference('./nowhere.mjs'), []));
    expect(error.message).toBe(
      `scheduler.yaml: scheduler.plugin: scheduler plugin './nowhere.mjs' cannot be loaded: ` +
        `no such file ${path.join(fixtures, 'nowhere.mjs')}`,
    );
  });

  it('reports the error a plugin throws while loading', async () => {
    const error = await failure(loadPluginDescriptor(reference('./throws-on-import.mjs'), []));
    expect(error.message).toMatch(
      /scheduler plugin '\.\/throws-on-import\.mjs' \(\.\/throws-on-import\.mjs\) failed while loading: database driver missing$/,
    );
  });

  it('rejects a default export that is not a descriptor, and a descriptor of another kind', async () => {
    expect((await failure(loadPluginDescriptor(reference('./not-a-descriptor.mjs'), []))).message).toMatch(
      /does not default-export a plugin descriptor; export default definePlugin/,
    );
    expect((await failure(loadPluginDescriptor(reference('./wrong-kind.mjs'), []))).message).toMatch(
      /plugin '\.\/wrong-kind\.mjs' is a uploader plugin, but a scheduler plugin is needed here/,
    );
  });
});

describe('building the container from a cluster', () => {
  it('validates the plugin config section with the plugin schema, naming file and key', async () => {
    const directory = clusterWithScheduler(`plugin: ${path.join(fixtures, 'recording-scheduler.mjs')}\npool: gpu\nslots: many\n`);
    const config = loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home } });
    const error = await failure(resolveClusterPlugins(config));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(new RegExp(`^${path.join(directory, 'scheduler.yaml')}: scheduler\\.slots: .*expected number.*"many"`));
  });

  it('binds a plugin with its validated config and the built-in state manager and uploader', async () => {
    clusterWithScheduler('plugin: ./recording.mjs\npool: gpu\n');
    writeFileSync(
      path.join(home, 'clusters', 'test', 'recording.mjs'),
      `export { default } from ${JSON.stringify(path.join(fixtures, 'recording-scheduler.mjs'))};\n`,
    );
    const container = await createArdeaContainer(loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home } }));
    expect(container.get<{ config: unknown; cluster: string }>(Scheduler)).toMatchObject({
      config: { pool: 'gpu', slots: 4 },
      cluster: 'test',
    });
    expect(container.isBound(StateManager)).toBe(true);
  });

  it('closing the container closes the scheduler and state manager it created', async () => {
    clusterWithScheduler(`plugin: ${path.join(fixtures, 'recording-scheduler.mjs')}\npool: gpu\n`);
    const container = await createArdeaContainer(loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home } }));
    const scheduler = container.get<{ calls: string[] }>(Scheduler);
    const state = container.get<StateManager>(StateManager);
    await state.start();
    await container.unbindAllAsync();
    expect(scheduler.calls).toEqual(['close']);
    await expect(state.list('topology')).rejects.toThrow(/closed/);
  });

  it('a module that throws while binding fails as one PluginLoadError and leaves no container', async () => {
    clusterWithScheduler(`plugin: ${path.join(fixtures, 'fails-to-bind.mjs')}\n`);
    const error = await failure(createArdeaContainer(loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home } })));
    expect(error).toBeInstanceOf(PluginLoadError);
    expect(error.message).toMatch(/scheduler plugin '.*fails-to-bind\.mjs' failed to bind its services: no credentials for the pool API/);
  });

  it('a plugin that binds nothing under its SPI token is refused', async () => {
    clusterWithScheduler(`plugin: ${path.join(fixtures, 'binds-nothing.mjs')}\n`);
    const error = await failure(createArdeaContainer(loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home } })));
    expect(error.message).toMatch(/loaded but bound nothing to ardea\.Scheduler/);
  });

  it('an unknown packing algorithm is refused with the known names', async () => {
    clusterWithScheduler(`plugin: ${path.join(fixtures, 'recording-scheduler.mjs')}\npool: a\n`);
    const config = loadClusterConfig({ cluster: 'test', env: { ARDEA_HOME: home }, overrides: ['packing.algorithm=best-fit'] });
    const error = await failure(createArdeaContainer(config));
    expect(error.message).toMatch(/packing\.algorithm: .*best-fit.*round-robin/);
  });
});
