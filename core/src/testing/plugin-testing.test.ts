import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerModule } from 'inversify';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { LogFields, Logger } from '../logging/index.js';
import { definePlugin, type PluginContext } from '../plugin/plugin-descriptor.js';
import { ClusterConfig } from '../config/cluster-config.js';
import { Scheduler } from '../spi/scheduler.js';
import { loadClusterForTest, loadPluginForTest } from './plugin-testing.js';

class NamingLogger implements Logger {
  constructor(readonly bindings: LogFields = {}) {}
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(bindings: LogFields): Logger {
    return new NamingLogger({ ...this.bindings, ...bindings });
  }
}

/** A scheduler plugin whose scheduler remembers what it was given and whether it was closed. */
const created: Array<{ slots: number; context: PluginContext; closed: boolean }> = [];
const countingPlugin = definePlugin({
  name: 'counting',
  kind: 'scheduler',
  configSchema: z.object({ slots: z.number().int().positive().default(2) }).strict(),
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      bind(Scheduler)
        .toDynamicValue(() => {
          const record = { slots: config.slots, context, closed: false };
          created.push(record);
          return { mode: 'library', record, close: async () => void (record.closed = true) };
        })
        .inSingletonScope();
    }),
});

describe('loadPluginForTest', () => {
  it('passes the config through the plugin schema and gives the plugin a logger named after it', async () => {
    const plugin = await loadPluginForTest(countingPlugin, {}, { logger: new NamingLogger({ run: 1 }) });
    try {
      expect(plugin.config).toEqual({ slots: 2 });
      expect((plugin.context.logger as NamingLogger).bindings).toEqual({ run: 1, plugin: 'counting', kind: 'scheduler' });
      expect(plugin.context.cluster).toBe('test');
      expect(existsSync(plugin.context.home)).toBe(true);
    } finally {
      await plugin.close();
    }
    expect(existsSync(plugin.context.home)).toBe(false);
  });

  it('throws the ConfigError a user would see for an invalid config', async () => {
    const failure = loadPluginForTest(countingPlugin, { slots: 0, extra: true });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^config of scheduler plugin 'counting': scheduler\.slots: /);
  });

  it('closes what the plugin created when it is closed, and creates nothing just to close it', async () => {
    created.length = 0;
    const used = await loadPluginForTest(countingPlugin, { slots: 3 });
    const scheduler = used.get<{ record: (typeof created)[number] }>(Scheduler);
    expect(scheduler.record).toMatchObject({ slots: 3, closed: false });
    await used.close();
    expect(scheduler.record.closed).toBe(true);

    const unused = await loadPluginForTest(countingPlugin, {});
    await unused.close();
    expect(created).toHaveLength(1);
  });
});

describe('loadClusterForTest', () => {
  const cluster = mkdtempSync(path.join(tmpdir(), 'ardea-cluster-for-test-'));
  const recordingScheduler = fileURLToPath(new URL('../plugin/fixtures/recording-scheduler.mjs', import.meta.url));
  writeFileSync(path.join(cluster, 'scheduler.yaml'), `plugin: ${recordingScheduler}\npool: gpu\n`);
  afterAll(() => rmSync(cluster, { recursive: true, force: true }));

  it('loads the plugins a cluster directory names, configured from their sections and the overrides, and closes them', async () => {
    const loaded = await loadClusterForTest(cluster, { overrides: ['scheduler.slots=2'] });
    const scheduler = loaded.container.get<{ config: unknown; calls: string[] }>(Scheduler);
    const home = loaded.container.get<ClusterConfig>(ClusterConfig).home;
    expect(scheduler.config).toEqual({ pool: 'gpu', slots: 2 });
    expect(existsSync(home)).toBe(true);
    await loaded.close();
    expect(scheduler.calls).toEqual(['close']);
    expect(existsSync(home)).toBe(false);
  });

  it('rejects a bad section with the ConfigError a user would see', async () => {
    const failure = loadClusterForTest(cluster, { overrides: ['scheduler.slots=many'] });
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^--config-property scheduler\.slots: /);
  });
});
