import path from 'node:path';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { isUnder } from '../fs/private-files.js';
import { Logger } from '../logging/index.js';
import { definePlugin } from '../plugin/plugin-descriptor.js';
import { Uploader } from '../spi/uploader.js';
import { LocalFsUploader } from './local-fs-uploader.js';

export * from './local-fs-uploader.js';

export const LocalFsUploaderConfigSchema = z
  .object({
    /** Where packages go; relative paths are taken from `$ARDEA_HOME`. Defaults to `$ARDEA_HOME/packages/<cluster>`. */
    directory: z.string().min(1).optional(),
  })
  .strict();

/** The built-in `localfs` uploader: copies packages into a directory every container can read. */
export const localFsUploaderPlugin = definePlugin({
  name: 'localfs',
  kind: 'uploader',
  configSchema: LocalFsUploaderConfigSchema,
  createModule(config, context) {
    const directory = path.resolve(context.home, config.directory ?? path.join('packages', context.cluster));
    return new ContainerModule(({ bind }) => {
      bind<Uploader>(Uploader)
        .toDynamicValue((resolution) => new LocalFsUploader({ directory, repairRoot: isUnder(directory, context.home) }, resolution.get<Logger>(Logger)))
        .inSingletonScope();
    });
  },
});
export { packageFileSize } from './package-file.js';
