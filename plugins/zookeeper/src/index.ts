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
import { z } from 'zod';
import { definePlugin, Logger, StateManager } from '@ardea/core';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_ROOT_PATH,
  DEFAULT_SESSION_TIMEOUT_MS,
  ZooKeeperStateManager,
} from './zookeeper-state-manager.js';

export * from './zookeeper-state-manager.js';

export const zookeeperConfigSchema = z
  .object({
    connectString: z
      .string()
      .regex(/^[^\s,/]+(,[^\s,/]+)*(\/\S*)?$/, 'expected host:port[,host:port…][/chroot], e.g. 127.0.0.1:2181'),
    rootPath: z
      .string()
      .regex(/^(\/[^/\s]+)+$/, 'expected an absolute ZooKeeper path such as /ardea, without a trailing slash')
      .default(DEFAULT_ROOT_PATH),
    // ZooKeeper clamps the session timeout to [2, 20] × tickTime; below 2 s no server grants it.
    sessionTimeoutMs: z.number().int().min(2000).default(DEFAULT_SESSION_TIMEOUT_MS),
    connectTimeoutMs: z.number().int().positive().default(DEFAULT_CONNECT_TIMEOUT_MS),
    auth: z
      .object({
        scheme: z.literal('digest'),
        credentials: z.string().regex(/^[^:]+:.+$/, 'expected user:password'),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ZooKeeperPluginConfig = z.output<typeof zookeeperConfigSchema>;

export default definePlugin({
  name: 'zookeeper',
  kind: 'statemgr',
  configSchema: zookeeperConfigSchema,
  createModule(config) {
    return new ContainerModule(({ bind }) => {
      bind<StateManager>(StateManager)
        .toDynamicValue(
          (context) =>
            new ZooKeeperStateManager(config, context.get<Logger>(Logger).child({ component: 'statemgr', plugin: 'zookeeper' })),
        )
        .inSingletonScope()
        .onDeactivation((stateManager) => stateManager.close());
    });
  },
});
