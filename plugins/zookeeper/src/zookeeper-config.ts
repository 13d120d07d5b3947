import { z } from 'zod';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_ROOT_PATH, DEFAULT_SESSION_TIMEOUT_MS } from './zookeeper-state-manager.js';

/** `statemgr.yaml` of a cluster with `plugin: zookeeper`; the README's options table lists the same keys. */
export const zookeeperConfigSchema = z
  .object({
    connectString: z.string().regex(/^[^\s,/]+(,[^\s,/]+)*(\/\S*)?$/, 'expected host:port[,host:port…][/chroot], e.g. 127.0.0.1:2181'),
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
