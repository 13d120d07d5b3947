import { describe, expect, it } from 'vitest';
import { SilentLogger, StateManager, type LogFields, type Logger, type PluginContext } from '@ardea/core/plugin';
import { assertPluginDescriptor, loadPluginForTest } from '@ardea/core/testing';
import zookeeperPlugin, { ZooKeeperStateManager, zookeeperConfigSchema } from './index.js';

class RecordingLogger implements Logger {
  readonly children: LogFields[] = [];
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(bindings: LogFields): Logger {
    this.children.push(bindings);
    return this;
  }
}

const context: PluginContext = { cluster: 'test', home: '/tmp/ardea-home', clusterDirectory: undefined, logger: new SilentLogger() };

describe('the zookeeper plugin descriptor', () => {
  it('is a statemgr plugin named zookeeper', () => {
    expect(() => assertPluginDescriptor(zookeeperPlugin, '@ardea/plugin-zookeeper')).not.toThrow();
    expect(zookeeperPlugin.name).toBe('zookeeper');
    expect(zookeeperPlugin.kind).toBe('statemgr');
  });

  it('fills in defaults for everything but the connect string', () => {
    expect(zookeeperConfigSchema.parse({ connectString: '127.0.0.1:2181' })).toEqual({
      connectString: '127.0.0.1:2181',
      rootPath: '/ardea',
      sessionTimeoutMs: 30_000,
      connectTimeoutMs: 10_000,
    });
  });

  it('accepts an ensemble with a chroot and digest auth', () => {
    const config = zookeeperConfigSchema.parse({
      connectString: 'zk1:2181,zk2:2181/apps',
      rootPath: '/heron/ardea',
      auth: { scheme: 'digest', credentials: 'ardea:secret' },
    });
    expect(config.auth).toEqual({ scheme: 'digest', credentials: 'ardea:secret' });
  });

  it.each([
    [{}, 'connectString'],
    [{ connectString: '127.0.0.1:2181', rootPath: 'ardea' }, 'rootPath'],
    [{ connectString: '127.0.0.1:2181', rootPath: '/ardea/' }, 'rootPath'],
    [{ connectString: '127.0.0.1:2181', sessionTimeoutMs: 500 }, 'sessionTimeoutMs'],
    [{ connectString: '127.0.0.1:2181', auth: { scheme: 'digest', credentials: 'no-password' } }, 'auth'],
    [{ connectString: '127.0.0.1:2181', auth: { scheme: 'sasl', credentials: 'a:b' } }, 'auth'],
    [{ connectString: '127.0.0.1:2181', rootpath: '/typo' }, 'rootpath'],
  ])('rejects %j, pointing at %s', (input, key) => {
    const result = zookeeperConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(key);
  });

  it(
    'binds one ZooKeeperStateManager to the StateManager token, ' + 'logging as the zookeeper plugin, and closes it with its container',
    async () => {
      const logger = new RecordingLogger();
      const plugin = await loadPluginForTest(
        zookeeperPlugin,
        { connectString: '127.0.0.1:2181', rootPath: '/bound' },
        { home: context.home, logger },
      );
      const stateManager = plugin.get<StateManager>(StateManager);
      expect(stateManager).toBeInstanceOf(ZooKeeperStateManager);
      expect(plugin.get<StateManager>(StateManager)).toBe(stateManager);
      expect((stateManager as ZooKeeperStateManager).rootPath).toBe('/bound');
      expect(logger.children).toEqual([{ plugin: 'zookeeper', kind: 'statemgr' }]);
      await plugin.close();
      await expect(stateManager.start()).rejects.toThrow(/closed/);
    },
  );
});
