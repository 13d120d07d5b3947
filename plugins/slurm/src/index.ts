/**
 * `@ardea/plugin-slurm`: the Slurm pool, driven over SSH on the cluster's login node. Every container
 * of a topology is one batch job, so containers scale and restart one at a time. The default export is
 * the scheduler plugin (`plugin: slurm` in scheduler.yaml); `sftpUploader` puts topology packages on the
 * cluster's shared filesystem (`plugin: '@ardea/plugin-slurm#sftpUploader'` in uploader.yaml).
 * @module
 */
import { definePlugin, Logger, Scheduler, Uploader, type PluginContext } from '@ardea/core';
import { ContainerModule } from 'inversify';
import { localPath, sftpUploaderConfigSchema, slurmSchedulerConfigSchema, sshSettings } from './config.js';
import { SftpUploader } from './sftp-uploader.js';
import { SlurmScheduler } from './slurm-scheduler.js';

export { SlurmScheduler, type SlurmSchedulerOptions } from './slurm-scheduler.js';
export { SftpUploader, type SftpUploaderOptions } from './sftp-uploader.js';
export { DEFAULT_JOB_TEMPLATE, TEMPLATE_PLACEHOLDERS } from './job-script.js';
export { SshError, type SshFailure } from './ssh-connection.js';
export {
  slurmSchedulerConfigSchema,
  sftpUploaderConfigSchema,
  sshSettings,
  type SlurmSchedulerConfig,
  type SftpUploaderConfig,
  type SshSettings,
} from './config.js';

/** Relative paths in a cluster's config are taken from its directory; the built-in cluster has none. */
const baseDirectory = (context: PluginContext): string => context.clusterDirectory ?? context.home;

export default definePlugin({
  name: 'slurm',
  kind: 'scheduler',
  configSchema: slurmSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      const base = baseDirectory(context);
      const options = {
        ssh: sshSettings(config, base),
        workDirectory: config.workDirectory,
        partition: config.partition,
        account: config.account,
        timeLimit: config.timeLimit,
        jobNamePrefix: config.jobNamePrefix,
        jobTemplatePath: config.jobTemplate === undefined ? undefined : localPath(config.jobTemplate, base),
        sbatchOptions: config.sbatchOptions,
        container0: config.container0,
        stopTimeoutMs: config.stopTimeoutMs,
      };
      bind<Scheduler>(Scheduler)
        .toDynamicValue((resolution) => new SlurmScheduler(options, resolution.get<Logger>(Logger)))
        .inSingletonScope()
        .onDeactivation((scheduler) => scheduler.close());
    }),
});

export const sftpUploader = definePlugin({
  name: 'sftp',
  kind: 'uploader',
  configSchema: sftpUploaderConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      const options = { ssh: sshSettings(config, baseDirectory(context)), directory: config.directory };
      bind<Uploader>(Uploader)
        .toDynamicValue((resolution) => new SftpUploader(options, resolution.get<Logger>(Logger)))
        .inSingletonScope()
        .onDeactivation((uploader) => (uploader as SftpUploader).close());
    }),
});
