import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertPluginDescriptor, Logger, Scheduler, SilentLogger } from '@ardea/core';
import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import localPlugin, { LocalScheduler } from './index.js';

describe('@ardea/plugin-local', () => {
  const directories: string[] = [];
  const schedulers: Scheduler[] = [];

  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) await scheduler.close();
    for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
  });

  it('is a scheduler plugin named local', () => {
    assertPluginDescriptor(localPlugin, '@ardea/plugin-local');
    expect(localPlugin).toMatchObject({ name: 'local', kind: 'scheduler', apiVersion: 1 });
  });

  it('fills in every default and refuses unknown or inconsistent settings', () => {
    expect(localPlugin.configSchema.parse({})).toEqual({ restartBackoff: { initialMs: 1000, maxMs: 30_000 }, stopGraceMs: 5000 });
    expect(localPlugin.configSchema.parse({ restartBackoff: { initialMs: 50 } })).toMatchObject({ restartBackoff: { initialMs: 50, maxMs: 30_000 } });
    expect(localPlugin.configSchema.safeParse({ workdir: '/tmp' }).success).toBe(false);
    expect(localPlugin.configSchema.safeParse({ restartBackoff: { initialMs: 5000, maxMs: 10 } }).success).toBe(false);
    expect(localPlugin.configSchema.safeParse({ stopGraceMs: -1 }).success).toBe(false);
  });

  it('binds one LocalScheduler under the Scheduler token, working under $ARDEA_HOME/topologies/<cluster> by default', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ardea-home-'));
    directories.push(home);
    const container = new Container();
    container.bind<Logger>(Logger).toConstantValue(new SilentLogger());
    const config = localPlugin.configSchema.parse({});
    await container.load(localPlugin.createModule(config, { cluster: 'dev', home, clusterDirectory: undefined, logger: new SilentLogger() }));

    const scheduler = container.get<Scheduler>(Scheduler);
    schedulers.push(scheduler);
    expect(scheduler).toBeInstanceOf(LocalScheduler);
    expect(container.get<Scheduler>(Scheduler)).toBe(scheduler);

    await scheduler.schedule({
      topology: { name: 'wired', id: 'wired-1', components: [{ name: 's', kind: 'spout', parallelism: 1, config: {}, outputs: [], inputs: [] }], config: {} },
      packingPlan: { topologyId: 'wired-1', containers: [] },
      packageUri: 'file:///nonexistent/topology.tgz',
      executor: { argv: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'], env: {} },
    });
    expect((await stat(join(home, 'topologies', 'dev', 'wired', 'container-0'))).isDirectory()).toBe(true);
    expect((await stat(join(home, 'topologies', 'dev', 'wired', 'logs', 'container-0.log'))).isFile()).toBe(true);
  });
});
