import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { assertPluginDescriptor, Logger, SilentLogger, StateManager, type LogFields, type PluginContext } from '@ardea/core';
import plugin, { ZooKeeperStateManager, zookeeperConfigSchema } from './index.js';

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
    expect(() => assertPluginDescriptor(plugin, '@ardea/plugin-zookeeper')).not.toThrow();
    expect(plugin.name).toBe('zookeeper');
    expect(plugin.kind).toBe('statemgr');
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

  it('binds one ZooKeeperStateManager to the StateManager token, with a statemgr child logger, and closes it on unbind', async () => {
    const logger = new RecordingLogger();
    const container = new Container({ defaultScope: 'Singleton' });
    container.bind<Logger>(Logger).toConstantValue(logger);
    await container.loadAsync(plugin.createModule(zookeeperConfigSchema.parse({ connectString: '127.0.0.1:2181', rootPath: '/bound' }), context));
    const stateManager = container.get<StateManager>(StateManager);
    expect(stateManager).toBeInstanceOf(ZooKeeperStateManager);
    expect(container.get<StateManager>(StateManager)).toBe(stateManager);
    expect((stateManager as ZooKeeperStateManager).rootPath).toBe('/bound');
    expect(logger.children).toEqual([{ component: 'statemgr', plugin: 'zookeeper' }]);
    await container.unbindAllAsync();
    await expect(stateManager.start()).rejects.toThrow(/closed/);
  });
});
