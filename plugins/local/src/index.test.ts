import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Scheduler, type LogFields, type Logger } from '@ardea/core/plugin';
import { assertPluginDescriptor, isAlive, loadPluginForTest } from '@ardea/core/testing';
import { describe, expect, it } from 'vitest';
import localPlugin, { LocalScheduler } from './index.js';

/** Keeps the fields of every line, with the bindings of the child logger that wrote it. */
class FieldsLogger implements Logger {
  constructor(
    readonly lines: Array<{ message: string; fields: LogFields }> = [],
    private readonly bindings: LogFields = {},
  ) {}
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ message, fields: { ...this.bindings, ...fields } });
  }
  info(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.debug(message, fields);
  }
  child(bindings: LogFields): Logger {
    return new FieldsLogger(this.lines, { ...this.bindings, ...bindings });
  }
}

describe('@ardea/plugin-local', () => {
  it('is a scheduler plugin named local', () => {
    assertPluginDescriptor(localPlugin, '@ardea/plugin-local');
    expect(localPlugin).toMatchObject({ name: 'local', kind: 'scheduler', apiVersion: 1 });
  });

  it('fills in every default and refuses unknown or inconsistent settings', () => {
    expect(localPlugin.configSchema.parse({})).toEqual({ restartBackoff: { initialMs: 1000, maxMs: 30_000 }, stopGraceMs: 5000 });
    expect(localPlugin.configSchema.parse({ restartBackoff: { initialMs: 50 } })).toMatchObject({
      restartBackoff: { initialMs: 50, maxMs: 30_000 },
    });
    expect(localPlugin.configSchema.safeParse({ workdir: '/tmp' }).success).toBe(false);
    expect(localPlugin.configSchema.safeParse({ restartBackoff: { initialMs: 5000, maxMs: 10 } }).success).toBe(false);
    expect(localPlugin.configSchema.safeParse({ stopGraceMs: -1 }).success).toBe(false);
  });

  it(
    'binds one LocalScheduler working under $ARDEA_HOME/topologies/<cluster>, ' +
      'logging as the local plugin, stopped when the container closes',
    async () => {
      const logger = new FieldsLogger();
      const plugin = await loadPluginForTest(localPlugin, {}, { cluster: 'dev', logger });
      let pid: number | undefined;
      try {
        const scheduler = plugin.get<Scheduler>(Scheduler);
        expect(scheduler).toBeInstanceOf(LocalScheduler);
        expect(plugin.get<Scheduler>(Scheduler)).toBe(scheduler);
        await scheduler.schedule({
          topology: {
            name: 'wired',
            id: 'wired-1',
            components: [{ name: 's', kind: 'spout', parallelism: 1, config: {}, outputs: [], inputs: [] }],
            config: {},
          },
          packingPlan: { topologyId: 'wired-1', containers: [] },
          packageUri: 'file:///nonexistent/topology.tgz',
          executor: { argv: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'], env: {} },
        });
        const home = plugin.context.home;
        expect((await stat(join(home, 'topologies', 'dev', 'wired', 'container-0'))).isDirectory()).toBe(true);
        expect((await stat(join(home, 'topologies', 'dev', 'wired', 'logs', 'container-0.log'))).isFile()).toBe(true);
        expect(logger.lines.find((line) => line.message === 'topology scheduled')?.fields).toMatchObject({
          plugin: 'local',
          kind: 'scheduler',
          topology: 'wired',
        });
        pid = Number((await scheduler.status('wired'))[0]!.handle);
        expect(isAlive(pid)).toBe(true);
      } finally {
        await plugin.close();
      }
      // The supervisor's container going away stops what its scheduler ran.
      expect(isAlive(pid!)).toBe(false);
    },
  );
});
