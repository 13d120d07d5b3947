/**
 * `@ardea/plugin-nomad`: the Nomad pool, in library mode (`plugin: nomad` in scheduler.yaml). A
 * topology is one service job with two task groups — `manager` (container 0) and `executors`
 * (allocation index i is container i+1) — and the executor's environment is the job's Nomad
 * variable. Scaling changes the executors group's count; restarting a container stops its
 * allocation, which Nomad replaces under the same index.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, Scheduler, SchedulerError } from '@ardea/core/plugin';
import { ContainerModule } from 'inversify';
import { nomadSchedulerConfigSchema, type NomadSchedulerConfig } from './nomad-config.js';
import { NomadScheduler } from './nomad-scheduler.js';

export { NomadScheduler, type NomadSchedulerOptions } from './nomad-scheduler.js';
export { nomadSchedulerConfigSchema, type NomadSchedulerConfig } from './nomad-config.js';

/**
 * The ACL token: `token`, else `tokenFile`, else NOMAD_TOKEN. Inside a container the token file of
 * the submitting machine is not there, and the plugin has put the token in NOMAD_TOKEN instead.
 */
export function resolveToken(config: NomadSchedulerConfig, baseDirectory: string): string | undefined {
  if (config.token !== undefined) return config.token;
  if (config.tokenFile !== undefined) {
    const file = path.resolve(baseDirectory, config.tokenFile);
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      if (process.env.NOMAD_TOKEN) return process.env.NOMAD_TOKEN;
      throw new SchedulerError(`cannot read the Nomad token file ${file} (scheduler.tokenFile): ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return process.env.NOMAD_TOKEN || undefined;
}

export default definePlugin({
  name: 'nomad',
  kind: 'scheduler',
  configSchema: nomadSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      bind<Scheduler>(Scheduler)
        .toDynamicValue(
          () => new NomadScheduler({ config, token: resolveToken(config, context.clusterDirectory ?? context.home) }, context.logger),
        )
        .inSingletonScope();
    }),
});
