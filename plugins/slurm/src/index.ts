/**
 * `@ardea/plugin-slurm`: the Slurm pool, driven over SSH on the cluster's login node. Every container
 * of a topology is one batch job, so containers scale and restart one at a time. The default export is
 * the scheduler plugin (`plugin: slurm` in scheduler.yaml); `sftpUploader` puts topology packages on the
 * cluster's shared filesystem (`plugin: '@ardea/plugin-slurm#sftpUploader'` in uploader.yaml).
 * @module
 */
import { definePlugin, Scheduler, Uploader } from '@ardea/core/plugin';
import { ContainerModule } from 'inversify';
import { baseDirectory, localPath, sftpUploaderConfigSchema, slurmSchedulerConfigSchema, sshSettings } from './slurm-config.js';
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
} from './slurm-config.js';

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
        .toDynamicValue(() => new SlurmScheduler(options, context.logger))
        .inSingletonScope();
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
        .toDynamicValue(() => new SftpUploader(options, context.logger))
        .inSingletonScope();
    }),
});
