import os from 'node:os';
import path from 'node:path';
import type { PluginContext } from '@ardea/core/plugin';
import { z } from 'zod';

/** Slurm's `--time` formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or no limit. */
const TIME_LIMIT =
  /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}|\d+-\d{1,2}:\d{1,2}|\d+-\d{1,2}:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/i;
const SLURM_WORD = /^[^\s'"\\$`]+$/;

const absolutePosixPath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((value) => value.startsWith('/') && !value.split('/').includes('..'), {
      message: `${what} must be an absolute path on the cluster, without '..'`,
    });

/** The connection keys shared by `scheduler.yaml` and `uploader.yaml`. */
const sshShape = {
  /** The login node (scheduler) or file-transfer node (uploader). */
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535).default(22),
  /** Default: the local user name, as `ssh` does. */
  user: z.string().min(1).optional(),
  /** An unencrypted OpenSSH private key; relative paths are taken from the cluster directory. */
  privateKeyPath: z.string().min(1).optional(),
  /** `true` for the ssh-agent at `$SSH_AUTH_SOCK`, or the agent's socket path. */
  agent: z.union([z.boolean(), z.string().min(1)]).optional(),
  /** Default `~/.ssh/known_hosts`. */
  knownHostsPath: z.string().min(1).optional(),
  /** Verify the host key against `knownHostsPath`. Turning it off lets anyone on the path impersonate the cluster. */
  strictHostKeyChecking: z.boolean().default(true),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  commandTimeoutMs: z.number().int().positive().default(60_000),
};

export const slurmSchedulerConfigSchema = z
  .object({
    ...sshShape,
    /** Shared directory for each topology's job scripts (`<name>/jobs`) and logs (`<name>/logs`), `<name>` being its `poolResourceName`. */
    workDirectory: absolutePosixPath('workDirectory'),
    partition: z.string().regex(SLURM_WORD, 'a partition name, without spaces or quotes').optional(),
    account: z.string().regex(SLURM_WORD, 'an account name, without spaces or quotes').optional(),
    /** `--time` of every job; omitted: the partition's default. */
    timeLimit: z.string().regex(TIME_LIMIT, 'a Slurm time limit such as 90, 12:00:00, 2-00:00:00 or UNLIMITED').optional(),
    /** Job names are `<prefix><name>-<container>`; every call finds a topology's jobs by them. */
    jobNamePrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, _ . and - only')
      .default('ardea-'),
    /** A job script template file (see docs/slurm.md); relative paths are taken from the cluster directory. */
    jobTemplate: z.string().min(1).optional(),
    /** Extra sbatch options for every job, e.g. `--qos=long` or `--constraint=ib`. */
    sbatchOptions: z.array(z.string().regex(/^--?[A-Za-z]/, 'an sbatch option starting with - or --')).default([]),
    /** Resources of container 0 (topology master), which the packing plan does not size. */
    container0: z
      .object({ cpus: z.number().int().positive().default(1), memoryMb: z.number().int().positive().default(1024) })
      .strict()
      .default({ cpus: 1, memoryMb: 1024 }),
    /** How long restart, update and kill wait for cancelled jobs to end. */
    stopTimeoutMs: z.number().int().positive().default(60_000),
  })
  .strict();

export const sftpUploaderConfigSchema = z
  .object({
    ...sshShape,
    /** Directory on the cluster's shared filesystem; packages go to `<directory>/<topology>/<topology id>/<file>`. */
    directory: absolutePosixPath('directory'),
  })
  .strict();

export type SlurmSchedulerConfig = z.output<typeof slurmSchedulerConfigSchema>;
export type SftpUploaderConfig = z.output<typeof sftpUploaderConfigSchema>;

/** Connection settings with every default and path resolved. */
export interface SshSettings {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKeyPath: string | undefined;
  readonly agent: boolean | string | undefined;
  readonly knownHostsPath: string;
  readonly strictHostKeyChecking: boolean;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

/** Fills in the user and known_hosts defaults and resolves relative paths from `baseDirectory`. */
export function sshSettings(config: SlurmSchedulerConfig | SftpUploaderConfig, baseDirectory: string): SshSettings {
  return {
    host: config.host,
    port: config.port,
    user: config.user ?? os.userInfo().username,
    privateKeyPath: config.privateKeyPath === undefined ? undefined : localPath(config.privateKeyPath, baseDirectory),
    agent: typeof config.agent === 'string' ? localPath(config.agent, baseDirectory) : config.agent,
    knownHostsPath: localPath(config.knownHostsPath ?? '~/.ssh/known_hosts', baseDirectory),
    strictHostKeyChecking: config.strictHostKeyChecking,
    connectTimeoutMs: config.connectTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
  };
}

/** A path on this machine: `~/` is the home directory, relative paths start at `baseDirectory`. */
export function localPath(value: string, baseDirectory: string): string {
  if (value === '~' || value.startsWith('~/')) return path.join(os.homedir(), value.slice(1));
  return path.resolve(baseDirectory, value);
}

/** Relative paths in a cluster's config are taken from its directory; the built-in cluster has none. */
export function baseDirectory(context: PluginContext): string {
  return context.clusterDirectory ?? context.home;
}
