import { z } from 'zod';

/** A Nomad namespace, region or datacenter name as Nomad accepts them. */
const NAME = /^[A-Za-z0-9_.*-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const nomadSchedulerConfigSchema = z
  .object({
    /** The HTTP API of a Nomad server (or client agent). Default: `NOMAD_ADDR`, as Nomad's CLI reads it. */
    address: z
      .string()
      .url('an http(s) URL such as http://nomad.example.com:4646')
      .refine((value) => /^https?:\/\//i.test(value), { message: 'an http or https URL' })
      .default(() => process.env.NOMAD_ADDR || 'http://127.0.0.1:4646'),
    /**
     * An ACL token (X-Nomad-Token). Prefer `tokenFile`, or `NOMAD_TOKEN` in the environment (the
     * default, as for Nomad's CLI): this file travels to every container with the cluster config.
     */
    token: z.string().min(1).optional(),
    /** A file holding the ACL token; relative paths are taken from the cluster directory. */
    tokenFile: z.string().min(1).optional(),
    region: z.string().regex(NAME, 'a Nomad region name').optional(),
    namespace: z.string().regex(NAME, 'a Nomad namespace name').default('default'),
    /** Where allocations may be placed; Nomad's `*` globs allowed. */
    datacenters: z.array(z.string().regex(NAME, 'a Nomad datacenter name or glob')).min(1).default(['dc1']),
    /**
     * `raw_exec` and `exec` run the executor command of the client's host (`executorCommand`);
     * `docker` runs it in `image`.
     */
    driver: z.enum(['raw_exec', 'exec', 'docker']).default('raw_exec'),
    image: z.string().min(1).optional(),
    /** Extra environment of every container, kept with the executor's own in the job's Nomad variable. */
    env: z
      .record(z.string(), z.string())
      .superRefine((env, context) => {
        for (const name of Object.keys(env)) {
          if (!ENV_NAME.test(name)) {
            context.addIssue({ code: 'custom', path: [name], message: `'${name}' is not an environment variable name` });
          }
        }
        if ('ARDEA_CONTAINER_ID' in env) {
          context.addIssue({ code: 'custom', message: 'may not set ARDEA_CONTAINER_ID: the plugin sets it from the allocation index' });
        }
      })
      .default({}),
    /** Extra job meta, shown in the Nomad UI and usable in constraints. */
    meta: z.record(z.string().min(1), z.string()).default({}),
    /** Nomad schedules CPU in MHz: one of the packing plan's CPUs is this many. */
    cpuMhzPerCore: z.number().int().positive().default(2000),
    /** Executors listen on and advertise their client node's address (`${attr.unique.network.ip-address}`). */
    listenOnNodeAddress: z.boolean().default(true),
    /** Resources of container 0 (topology master, health manager), which the packing plan does not size. */
    container0: z
      .object({ cpus: z.number().positive().default(1), memoryMb: z.number().int().positive().default(512) })
      .strict()
      .default({ cpus: 1, memoryMb: 512 }),
    /** Where the Nomad UI is, for `ardea describe`'s links; default `address`. */
    uiAddress: z.string().url().optional(),
    /** How long schedule and update wait for new allocations to be placed and started. */
    submitTimeoutMs: z.number().int().positive().default(120_000),
    /** How long kill and update (removing containers) wait for allocations to stop. */
    killTimeoutMs: z.number().int().positive().default(120_000),
    /** How long one API call may take. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.driver === 'docker' && config.image === undefined) {
      context.addIssue({ code: 'custom', path: ['image'], message: 'driver docker needs an image that has the executor command' });
    }
    if (config.driver !== 'docker' && config.image !== undefined) {
      context.addIssue({ code: 'custom', path: ['image'], message: `an image is only used by driver docker, not ${config.driver}` });
    }
    if (config.token !== undefined && config.tokenFile !== undefined) {
      context.addIssue({ code: 'custom', path: ['token'], message: 'set token or tokenFile, not both' });
    }
  });

export type NomadSchedulerConfig = z.output<typeof nomadSchedulerConfigSchema>;
