import os from 'node:os';
import { z } from 'zod';

/** What YARN accepts as a queue path segment list: `default`, `root.analytics.streaming`. */
const QUEUE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** The portable subset of environment variable names, which the launch script can also set. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A Hadoop user name as `user.name` carries it: no spaces, separators or URL syntax. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;

const absolutePath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((value) => value.startsWith('/') && !value.split('/').includes('..'), {
      message: `${what} must be an absolute path without '..'`,
    });

export const yarnSchedulerConfigSchema = z
  .object({
    /** The ResourceManager's web address, which serves the Services API (`/app/v1/services`) and the cluster REST API. */
    resourceManager: z
      .string()
      .url('an http(s) URL such as http://rm.example.com:8088')
      .refine((value) => /^https?:\/\//i.test(value), { message: 'an http or https URL' })
      .default('http://127.0.0.1:8088'),
    /**
     * Who calls the API (`?user.name=`, the simple authentication YARN uses without Kerberos) and so
     * owns the services. Default: `HADOOP_USER_NAME` as Hadoop's own clients read it, which the
     * plugin sets in every container so that container 0 acts as the topology's owner; else the user
     * running Ardea.
     */
    user: z
      .string()
      .regex(USER_NAME, 'a user name without spaces or separators')
      .default(() => process.env.HADOOP_USER_NAME || os.userInfo().username),
    /** The queue every service is submitted to; default: YARN's default queue. */
    queue: z.string().regex(QUEUE, 'a queue name such as default or root.streaming').optional(),
    /**
     * Where each topology's launch script and executor environment are written (`<user>/<service>/`,
     * readable by its owner only), for the NodeManagers to localize into every container as `file://`
     * resources: a directory on a filesystem every NodeManager host mounts at the same path.
     */
    stagingDirectory: absolutePath('stagingDirectory').default('/var/tmp/ardea-yarn'),
    /** Extra environment of every container, written to its executor environment file. */
    env: z
      .record(z.string(), z.string())
      .superRefine((env, context) => {
        for (const name of Object.keys(env)) {
          if (!ENV_NAME.test(name)) {
            context.addIssue({
              code: 'custom',
              path: [name],
              message:
                `'${name}' is not an environment variable name the launch script can set ` +
                '(letters, digits and _, not starting with a digit)',
            });
          }
        }
        if ('ARDEA_CONTAINER_ID' in env) {
          context.addIssue({ code: 'custom', message: 'may not set ARDEA_CONTAINER_ID: the plugin sets it from the component instance' });
        }
      })
      .default({}),
    /**
     * Executors listen on and advertise their NodeManager's host (`$NM_HOST`), so that containers on
     * other nodes reach them; `false` keeps the topology's `listenHost`.
     */
    listenOnNodeHost: z.boolean().default(true),
    /** Resources of container 0 (topology master, health manager), which the packing plan does not size. */
    container0: z
      .object({ cpus: z.number().int().positive().default(1), memoryMb: z.number().int().positive().default(512) })
      .strict()
      .default({ cpus: 1, memoryMb: 512 }),
    /**
     * Container failures per component before the service's AM gives up and fails the service
     * (`yarn.service.container-failure-per-component.threshold`, 10 in YARN); restarts asked for with
     * `ardea restart` count too. The AM forgets failures every `yarn.service.failure-count-reset.window`.
     */
    maxContainerFailures: z.number().int().positive().default(1000),
    /** Extra `configuration.properties` of the service (the AM's `yarn.service.*` settings). */
    serviceProperties: z.record(z.string().min(1), z.string()).default({}),
    /** How long schedule and update wait for every new container to be allocated and launched. */
    submitTimeoutMs: z.number().int().positive().default(180_000),
    /** How long kill and update (removing containers) wait for containers to be gone. */
    killTimeoutMs: z.number().int().positive().default(120_000),
    /** How long one REST call may take. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();

export type YarnSchedulerConfig = z.output<typeof yarnSchedulerConfigSchema>;
