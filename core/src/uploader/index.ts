import path from 'node:path';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { isUnder } from '../fs/private-files.js';
import { Logger } from '../logging/index.js';
import { definePlugin } from '../plugin/plugin-descriptor.js';
import { Uploader } from '../spi/uploader.js';
import { HttpUploader } from './http-uploader.js';
import { LocalFsUploader } from './local-fs-uploader.js';

export * from './local-fs-uploader.js';
export * from './http-uploader.js';
export * from './package-server.js';
export { readOrCreateTokenFile, readTokenFile } from './token-file.js';

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
        .toDynamicValue(
          (resolution) => new LocalFsUploader({ directory, repairRoot: isUnder(directory, context.home) }, resolution.get<Logger>(Logger)),
        )
        .inSingletonScope();
    });
  },
});
export { packageFileSize } from './package-file.js';

const httpBaseUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

export const HttpUploaderConfigSchema = z
  .object({
    /** The package server's base URL, as the submitting machine reaches it. */
    url: httpBaseUrl,
    /** The base URL containers reach the server at, when it differs from `url`. */
    publicUrl: httpBaseUrl.optional(),
    /** File with the bearer token for storing and removing packages; relative paths are taken from `$ARDEA_HOME`. */
    tokenFile: z.string().min(1),
    /** How long one upload or removal may take. */
    timeoutMs: z.number().int().positive().default(120_000),
  })
  .strict();

/**
 * The built-in `http` uploader: stores packages on a package server (`ardea package-server`) and
 * hands containers a signed URL, for pools whose containers share no filesystem with the submitter.
 */
export const httpUploaderPlugin = definePlugin({
  name: 'http',
  kind: 'uploader',
  configSchema: HttpUploaderConfigSchema,
  createModule(config, context) {
    const options = {
      url: config.url,
      publicUrl: config.publicUrl,
      tokenFile: path.resolve(context.home, config.tokenFile),
      timeoutMs: config.timeoutMs,
    };
    return new ContainerModule(({ bind }) => {
      bind<Uploader>(Uploader)
        .toDynamicValue((resolution) => new HttpUploader(options, resolution.get<Logger>(Logger)))
        .inSingletonScope();
    });
  },
});
