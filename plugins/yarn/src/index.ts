/**
 * `@ardea/plugin-yarn`: the YARN pool, in library mode (`plugin: yarn` in scheduler.yaml). A
 * topology is one YARN service, created through the ResourceManager's Services REST API, with two
 * components: `manager` (container 0) and `executor` (instance `executor-<i>` is container i+1).
 * Scaling flexes the executor component; restarting a container kills its YARN container, which the
 * service's AM starts again under the same instance name.
 * @module
 */
import { definePlugin, Scheduler } from '@ardea/core/plugin';
import { ContainerModule } from 'inversify';
import { yarnSchedulerConfigSchema } from './yarn-config.js';
import { YarnScheduler } from './yarn-scheduler.js';

export { YarnScheduler, type YarnSchedulerOptions } from './yarn-scheduler.js';
export { yarnSchedulerConfigSchema, type YarnSchedulerConfig } from './yarn-config.js';

export default definePlugin({
  name: 'yarn',
  kind: 'scheduler',
  configSchema: yarnSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      bind<Scheduler>(Scheduler)
        .toDynamicValue(() => new YarnScheduler({ config }, context.logger))
        .inSingletonScope();
    }),
});
