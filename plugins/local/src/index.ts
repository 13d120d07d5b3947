/**
 * `@ardea/plugin-local`: the local pool. Every container of a topology is a process on this machine,
 * started and supervised by the scheduler service (the supervisor process), and restarted with
 * exponential backoff when it crashes. Its launcher starts that supervisor as a detached process.
 * @module
 */
import { join, resolve } from 'node:path';
import { ClusterConfig, definePlugin, isUnder, Launcher, Scheduler, StateManager } from '@ardea/core/plugin';
import { ContainerModule } from 'inversify';
import { localSchedulerConfigSchema } from './local-config.js';
import { LocalScheduler } from './local-scheduler.js';
import { LocalServiceLauncher } from './service-launcher.js';

export { LocalScheduler, type LocalSchedulerOptions } from './local-scheduler.js';
export { LocalServiceLauncher } from './service-launcher.js';
export { localSchedulerConfigSchema, type LocalSchedulerConfig } from './local-config.js';

export default definePlugin({
  name: 'local',
  kind: 'scheduler',
  configSchema: localSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      const options = {
        workingDirectory: config.workingDirectory ?? join(context.home, 'topologies', context.cluster),
        repairWorkingDirectory:
          config.workingDirectory === undefined || isUnder(resolve(context.home, config.workingDirectory), context.home),
        restartBackoff: config.restartBackoff,
        stopGraceMs: config.stopGraceMs,
      };
      bind<Scheduler>(Scheduler)
        .toDynamicValue(() => new LocalScheduler(options, context.logger))
        .inSingletonScope();
      bind<Launcher>(Launcher)
        .toDynamicValue(
          (resolution) =>
            new LocalServiceLauncher(resolution.get<ClusterConfig>(ClusterConfig), resolution.get<StateManager>(StateManager)),
        )
        .inSingletonScope();
    }),
});
