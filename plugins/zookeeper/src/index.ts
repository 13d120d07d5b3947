/**
 * `@ardea/plugin-zookeeper`: the `zookeeper` state manager. Select it in a cluster's `statemgr.yaml`:
 *
 * ```yaml
 * plugin: zookeeper
 * connectString: 127.0.0.1:2181
 * rootPath: /ardea
 * ```
 * @module
 */
import { ContainerModule } from 'inversify';
import { definePlugin, StateManager } from '@ardea/core/plugin';
import { zookeeperConfigSchema } from './zookeeper-config.js';
import { ZooKeeperStateManager } from './zookeeper-state-manager.js';

export * from './zookeeper-state-manager.js';
export { zookeeperConfigSchema, type ZooKeeperPluginConfig } from './zookeeper-config.js';

export default definePlugin({
  name: 'zookeeper',
  kind: 'statemgr',
  configSchema: zookeeperConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      bind<StateManager>(StateManager)
        .toDynamicValue(() => new ZooKeeperStateManager(config, context.logger))
        .inSingletonScope();
    }),
});
