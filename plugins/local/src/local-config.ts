import { z } from 'zod';

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };

/** `scheduler.yaml` of a cluster with `plugin: local`; the README's options table lists the same keys. */
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
