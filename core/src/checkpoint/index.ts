import path from 'node:path';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { isUnder } from '../fs/private-files.js';
import { Logger } from '../logging/index.js';
import { definePlugin } from '../plugin/plugin-descriptor.js';
import { CheckpointStorage } from '../spi/checkpoint-storage.js';
import { HttpCheckpointStorage } from './http-checkpoint-storage.js';
import { LocalFsCheckpointStorage } from './local-fs-checkpoint-storage.js';

export * from './local-fs-checkpoint-storage.js';
export * from './http-checkpoint-storage.js';
export { DEFAULT_MAX_CHECKPOINT_PART_BYTES, mountCheckpointRoutes, type CheckpointRoutesOptions } from './checkpoint-routes.js';
export { CHECKPOINT_CODES, CHECKPOINT_ROUTE_PREFIX, checkpointPaths } from './checkpoint-contract.js';
export { clusterConfigForContainers } from './container-config.js';

export const LocalFsCheckpointStorageConfigSchema = z
  .object({
    /**
     * Where checkpoints go; relative paths are taken from `$ARDEA_HOME`. Defaults to
     * `$ARDEA_HOME/checkpoints/<cluster>`. Every container must see it at the same path.
     */
    directory: z.string().min(1).optional(),
  })
  .strict();

/** The built-in `localfs` checkpoint storage: a directory every container of the cluster sees. */
export const localFsCheckpointStoragePlugin = definePlugin({
  name: 'localfs',
  kind: 'checkpoints',
  configSchema: LocalFsCheckpointStorageConfigSchema,
  createModule(config, context) {
    const directory = path.resolve(context.home, config.directory ?? path.join('checkpoints', context.cluster));
    return new ContainerModule(({ bind }) => {
      bind<CheckpointStorage>(CheckpointStorage)
        .toDynamicValue(
          (resolution) =>
            new LocalFsCheckpointStorage({ directory, repairRoot: isUnder(directory, context.home) }, resolution.get<Logger>(Logger)),
        )
        .inSingletonScope();
    });
  },
});

const httpBaseUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

export const HttpCheckpointStorageConfigSchema = z
  .object({
    /** The package server's base URL, as the submitting machine reaches it. Default: the `http` uploader's. */
    url: httpBaseUrl,
    /** The base URL containers reach the server at, when it differs from `url`. Default: the `http` uploader's. */
    publicUrl: httpBaseUrl.optional(),
    /** File with the server's bearer token; relative paths are taken from `$ARDEA_HOME`. Default: the `http` uploader's. */
    tokenFile: z.string().min(1).optional(),
    /** The token itself: how the containers get it, by value with the cluster config. In a file, prefer `tokenFile`. */
    token: z.string().min(16, 'expected the package server token (at least 16 characters)').optional(),
    /** How long one call may take, the transfer of a part included. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Set on the config containers get: `token` opens one topology's checkpoints only (see clusterConfigForContainers). */
    topologyToken: z.boolean().optional(),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.token === undefined && config.tokenFile === undefined)
      context.addIssue({
        code: 'custom',
        path: ['tokenFile'],
        message: 'expected the file holding the package server token (or an http uploader whose tokenFile it defaults to)',
      });
    if (config.token !== undefined && config.tokenFile !== undefined)
      context.addIssue({ code: 'custom', path: ['token'], message: 'set token or tokenFile, not both' });
  });

/**
 * The built-in `http` checkpoint storage: keeps checkpoints on the package server of the `http`
 * uploader (`ardea package-server`), which every container of a pool without a shared filesystem
 * reaches. Containers reach it at `publicUrl`, with the token by value ({@link clusterConfigForContainers}).
 */
export const httpCheckpointStoragePlugin = definePlugin({
  name: 'http',
  kind: 'checkpoints',
  configSchema: HttpCheckpointStorageConfigSchema,
  createModule(config, context) {
    const options = {
      url: config.url,
      token: config.token,
      tokenFile: config.tokenFile === undefined ? undefined : path.resolve(context.home, config.tokenFile),
      timeoutMs: config.timeoutMs,
    };
    return new ContainerModule(({ bind }) => {
      bind<CheckpointStorage>(CheckpointStorage)
        .toDynamicValue((resolution) => new HttpCheckpointStorage(options, resolution.get<Logger>(Logger)))
        .inSingletonScope();
    });
  },
});
