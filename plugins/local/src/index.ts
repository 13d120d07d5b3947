/**
 * `@ardea/plugin-local`: the local pool. Every container of a topology is a process on this machine,
 * started and supervised by the scheduler service (the supervisor process), and restarted with
 * exponential backoff when it crashes.
 * @module
 */
import { join, resolve } from 'node:path';
import { definePlugin, isUnder, Logger, Scheduler } from '@ardea/core';
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { LocalScheduler } from './local-scheduler.js';

export { LocalScheduler, type LocalSchedulerOptions } from './local-scheduler.js';

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };

export const localSchedulerConfigSchema = z
  .object({
    /** Default: `$ARDEA_HOME/topologies/<cluster>`, which depends on the context, so it is filled in by createModule. */
    workingDirectory: z.string().min(1).optional(),
    restartBackoff: z
      .object({
        initialMs: z.number().int().positive().default(DEFAULT_BACKOFF.initialMs),
        maxMs: z.number().int().positive().default(DEFAULT_BACKOFF.maxMs),
      })
      .strict()
      .refine((backoff) => backoff.maxMs >= backoff.initialMs, { message: 'maxMs must be at least initialMs', path: ['maxMs'] })
      .default(DEFAULT_BACKOFF),
    stopGraceMs: z.number().int().nonnegative().default(5000),
  })
  .strict();

export type LocalSchedulerConfig = z.output<typeof localSchedulerConfigSchema>;

export default definePlugin({
  name: 'local',
  kind: 'scheduler',
  configSchema: localSchedulerConfigSchema,
  createModule: (config, context) =>
    new ContainerModule(({ bind }) => {
      const options = {
        workingDirectory: config.workingDirectory ?? join(context.home, 'topologies', context.cluster),
        repairWorkingDirectory: config.workingDirectory === undefined || isUnder(resolve(context.home, config.workingDirectory), context.home),
        restartBackoff: config.restartBackoff,
        stopGraceMs: config.stopGraceMs,
      };
      bind<Scheduler>(Scheduler)
        .toDynamicValue((resolution) => new LocalScheduler(options, resolution.get<Logger>(Logger)))
        .inSingletonScope();
    }),
});
