import path from 'node:path';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { isUnder } from '../fs/private-files.js';
import { Logger } from '../logging/index.js';
import { definePlugin } from '../plugin/plugin-descriptor.js';
import { StateManager } from '../spi/state-manager.js';
import { LocalFsStateManager } from './local-fs-state-manager.js';

export * from './local-fs-state-manager.js';
export {
  currentProcessOwner,
  ownerLiveness,
  processOwnerOf,
  ProcessOwnerSchema,
  type OwnerLiveness,
  type ProcessOwner,
} from './process-owner.js';

export const LocalFsStateManagerConfigSchema = z
  .object({
    /** Root of the store; relative paths are taken from `$ARDEA_HOME`. Defaults to `$ARDEA_HOME/state/<cluster>`. */
    rootPath: z.string().min(1).optional(),
    /** How often watches re-read their node (changes made on other hosts of a shared filesystem show up no later). */
    pollIntervalMs: z.number().int().positive().optional(),
  })
  .strict();

/**
 * The built-in `localfs` state manager: a directory of JSON files. For deployments on one host, or
 * whose hosts share a filesystem; see {@link LocalFsStateManager}.
 */
export const localFsStateManagerPlugin = definePlugin({
  name: 'localfs',
  kind: 'statemgr',
  configSchema: LocalFsStateManagerConfigSchema,
  createModule(config, context) {
    const rootPath = path.resolve(context.home, config.rootPath ?? path.join('state', context.cluster));
    return new ContainerModule(({ bind }) => {
      bind<StateManager>(StateManager)
        .toDynamicValue(
          (resolution) =>
            new LocalFsStateManager(
              {
                rootPath,
                repairRoot: isUnder(rootPath, context.home),
                ...(config.pollIntervalMs !== undefined ? { pollIntervalMs: config.pollIntervalMs } : {}),
              },
              resolution.get<Logger>(Logger),
            ),
        )
        .inSingletonScope();
    });
  },
});
