import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { ByteAmountSchema, ResourceRequestSchema, toResourceRequest, withDefaults } from '../model/resources.js';
import { MAX_CONTAINERS } from '../model/topology.js';
import { DEFAULT_PACKING_SETTINGS } from '../packing/settings.js';
import type { PackingSettings } from '../spi/packing.js';
import { ConfigProperty, isPlainObject, parseConfigProperty, setAtPath } from './config-property.js';
import { configErrorFromSchema } from './schema-errors.js';
import { expandVariables } from './variables.js';
import { CONFIG_PROPERTIES_ENV } from '../runtime/executor-env.js';

/** One YAML file per concern in a cluster directory, as Heron keeps `conf/<cluster>/`. */
export const CONCERNS = ['scheduler', 'statemgr', 'uploader', 'packing', 'healthmgr', 'checkpoints'] as const;
export type Concern = (typeof CONCERNS)[number];

export const BUILTIN_CLUSTER = 'local';
const BUILTIN_SOURCE = '<built-in local cluster>';

/** Which plugin serves a concern, and its still-unvalidated config section (the file minus `plugin`). */
export interface PluginSelection {
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export interface PackingConfig {
  readonly algorithm: string;
  readonly repackingAlgorithm: string;
  /** Extra packing plugins whose algorithms become selectable by name. */
  readonly plugins: readonly string[];
  readonly settings: PackingSettings;
}

export interface HealthManagerConfig {
  readonly enabled: boolean;
  /** Health-policy plugins to load besides the built-in policies. */
  readonly plugins: readonly string[];
  /** Per-policy settings keyed by policy id; `enabled` and `intervalMs` are common to all. */
  readonly policies: Readonly<
    Record<string, Readonly<Record<string, unknown>> & { readonly enabled?: boolean; readonly intervalMs?: number }>
  >;
}

/** Token under which the deployment's {@link ClusterConfig} is bound. */
export const ClusterConfig = Symbol.for('ardea.ClusterConfig');

/** A cluster's merged configuration: files, built-in defaults and overrides, validated by the core. */
export interface ClusterConfig {
  readonly cluster: string;
  /** The cluster directory; undefined for the built-in `local` cluster. */
  readonly directory: string | undefined;
  /** `$ARDEA_HOME`, default `~/.ardea`. */
  readonly home: string;
  /** Where each concern came from: a file path or `<built-in local cluster>`. */
  readonly sources: Readonly<Record<Concern, string>>;
  readonly overrides: readonly ConfigProperty[];
  readonly scheduler: PluginSelection;
  readonly statemgr: PluginSelection;
  readonly uploader: PluginSelection;
  readonly packing: PackingConfig;
  readonly healthmgr: HealthManagerConfig;
  /**
   * Where effectively-once topologies keep their checkpoints. Without `checkpoints.yaml`: on the
   * uploader's package server when the uploader is `http` (every container reaches it), otherwise
   * `localfs`; see {@link checkpointSelection}.
   */
  readonly checkpoints: PluginSelection;
  /**
   * The command that starts a container's executor (`scheduler.executorCommand`): a name each
   * container looks up on its own PATH, or an absolute path there. Default `ardea-executor`.
   */
  readonly executorCommand: string;
  /**
   * Every concern's section as read: variables expanded and overrides applied, before validation.
   * This is what travels to the cluster's processes ({@link clusterConfigToValue}), which validate
   * it again with their own schemas.
   */
  readonly sections: Readonly<Record<Concern, Readonly<Record<string, unknown>>>>;
}

/** What a pool's containers run unless `scheduler.executorCommand` names another command. */
export const DEFAULT_EXECUTOR_COMMAND = 'ardea-executor';

/**
 * Environment variable that carries a cluster's config by value ({@link clusterConfigToValue}) to
 * the processes the cluster starts, so that they need neither the cluster directory nor this
 * machine's paths.
 */
export const CLUSTER_CONFIG_ENV = 'ARDEA_CLUSTER_CONFIG';

const pluginSectionSchema = (defaultPlugin: string) =>
  z.looseObject({ plugin: z.string().min(1, 'expected a plugin name, package name or path').default(defaultPlugin) });

const PackingFileSchema = z
  .object({
    algorithm: z.string().min(1).default('round-robin'),
    repackingAlgorithm: z.string().min(1).optional(),
    plugins: z.array(z.string().min(1)).default([]),
    containers: z.number().int().min(1).max(MAX_CONTAINERS).optional(),
    maxInstancesPerContainer: z.number().int().min(1).optional(),
    instance: ResourceRequestSchema.optional(),
    container: ResourceRequestSchema.optional(),
    padding: z
      .object({
        cpu: z.number().nonnegative().optional(),
        ram: ByteAmountSchema.optional(),
        disk: ByteAmountSchema.optional(),
        percent: z.number().min(0).max(100).optional(),
      })
      .strict()
      .optional(),
    minInstance: z.object({ cpu: z.number().positive().optional(), ram: ByteAmountSchema.optional() }).strict().optional(),
    sortBy: z.enum(['ram', 'cpu']).optional(),
  })
  .strict();

const HealthFileSchema = z
  .object({
    enabled: z.boolean().default(true),
    plugins: z.array(z.string().min(1)).default([]),
    policies: z
      .record(z.string(), z.looseObject({ enabled: z.boolean().optional(), intervalMs: z.number().int().positive().optional() }))
      .default({}),
    // Validated where they are read (healthmgr/settings.ts operatorSettingsOf), with the health manager's other settings.
    components: z.record(z.string(), z.unknown()).optional(),
    operatorHoldMs: z.unknown().optional(),
  })
  .strict();

const DEFAULT_PLUGINS: Readonly<Record<'scheduler' | 'statemgr' | 'uploader', string>> = {
  scheduler: 'local',
  statemgr: 'localfs',
  uploader: 'localfs',
};

/**
 * The executor command is the core's, not the pool plugin's: every pool starts the same executor,
 * and a plugin's schema never sees this key.
 */
const ExecutorCommandSchema = z
  .string()
  .refine((command) => command !== '' && !/[\0\n\r]/.test(command) && (!command.includes('/') || path.isAbsolute(command)), {
    message: `expected the name of a command on the containers' PATH (such as ${DEFAULT_EXECUTOR_COMMAND}) or an absolute path`,
  });

const SchedulerSectionSchema = pluginSectionSchema(DEFAULT_PLUGINS.scheduler).extend({
  executorCommand: ExecutorCommandSchema.default(DEFAULT_EXECUTOR_COMMAND),
});

export interface LoadClusterOptions {
  /** `local`, a cluster name under `$ARDEA_HOME/clusters/`, or a path to a cluster directory. */
  readonly cluster: string;
  /** Overrides `$ARDEA_HOME`. */
  readonly home?: string;
  /** `--config-property` values for the cluster (keys start with a concern: `packing.algorithm=...`). */
  readonly overrides?: ReadonlyArray<ConfigProperty | string>;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function ardeaHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.ARDEA_HOME && env.ARDEA_HOME.trim() ? path.resolve(env.ARDEA_HOME) : path.join(os.homedir(), '.ardea');
}

/**
 * Finds the cluster, reads one YAML file per concern, fills in the built-in defaults, applies
 * overrides and validates the core's part. Plugin sections are validated later by their plugins
 * (see `resolveClusterPlugins`). Every failure is a {@link ConfigError} naming file, key and expectation.
 */
export function loadClusterConfig(options: LoadClusterOptions): ClusterConfig {
  const env = options.env ?? process.env;
  const home = options.home ? path.resolve(options.home) : ardeaHome(env);
  const cwd = options.cwd ?? process.cwd();
  const { name, directory } = locateCluster(options.cluster, home, cwd);
  const overrides = (options.overrides ?? []).map((o) => (typeof o === 'string' ? parseConfigProperty(o) : o));
  for (const property of overrides) {
    if (!(CONCERNS as readonly string[]).includes(property.key.split('.')[0]!) || !property.key.includes('.')) {
      throw new ConfigError(
        `--config-property ${property.key}: not a cluster property; ` +
          `cluster properties start with ${CONCERNS.map((c) => `${c}.`).join(', ')}`,
      );
    }
  }
  const variables: Record<string, string> = {
    ARDEA_HOME: home,
    HOME: os.homedir(),
    USER: env.USER ?? os.userInfo().username,
    CLUSTER: name,
    ...(directory ? { CLUSTER_DIR: directory } : {}),
  };
  const raw = {} as Record<Concern, Record<string, unknown>>;
  const sources = {} as Record<Concern, string>;
  const files = directory ? readClusterFiles(directory) : new Map<Concern, string>();
  for (const concern of CONCERNS) {
    const file = files.get(concern);
    sources[concern] = file ?? BUILTIN_SOURCE;
    let section = file ? readYamlMapping(file) : {};
    section = expandVariables(section, variables, { file: file ?? BUILTIN_SOURCE, key: '' }) as Record<string, unknown>;
    for (const property of overrides.filter((p) => p.key.startsWith(`${concern}.`))) {
      section = setAtPath(section, property.key.split('.').slice(1), property.value);
    }
    raw[concern] = section;
  }
  return buildClusterConfig({ cluster: name, directory, home, sources, overrides, sections: raw });
}

/** A cluster's config before the core's validation: where it came from and its sections as read. */
interface ClusterConfigInput {
  readonly cluster: string;
  readonly directory: string | undefined;
  readonly home: string;
  readonly sources: Readonly<Record<Concern, string>>;
  readonly overrides: readonly ConfigProperty[];
  readonly sections: Readonly<Record<Concern, Readonly<Record<string, unknown>>>>;
}

/** Validates the core's part of every section; the same checks whether the sections came from files or by value. */
function buildClusterConfig(input: ClusterConfigInput): ClusterConfig {
  const { sources, overrides, sections } = input;
  const parse = <S extends z.ZodType>(concern: Concern, schema: S): z.output<S> => {
    const result = schema.safeParse(sections[concern]);
    if (!result.success)
      throw configErrorFromSchema(result.error, { source: sources[concern], section: concern, overrides }, sections[concern], schema);
    return result.data;
  };
  const selection = (concern: 'statemgr' | 'uploader'): PluginSelection => {
    const { plugin, ...config } = parse(concern, pluginSectionSchema(DEFAULT_PLUGINS[concern]));
    return { plugin, config };
  };
  const uploader = selection('uploader');
  const { plugin: schedulerPlugin, executorCommand, ...schedulerConfig } = parse('scheduler', SchedulerSectionSchema);
  const packingFile = parse('packing', PackingFileSchema);
  const health = parse('healthmgr', HealthFileSchema);
  return {
    cluster: input.cluster,
    directory: input.directory,
    home: input.home,
    sources,
    overrides,
    scheduler: { plugin: schedulerPlugin, config: schedulerConfig },
    statemgr: selection('statemgr'),
    uploader,
    packing: {
      algorithm: packingFile.algorithm,
      repackingAlgorithm: packingFile.repackingAlgorithm ?? packingFile.algorithm,
      plugins: packingFile.plugins,
      settings: packingSettingsFrom(packingFile),
    },
    healthmgr: health,
    checkpoints: checkpointSelection(parse('checkpoints', pluginSectionSchema(uploader.plugin === 'http' ? 'http' : 'localfs')), uploader),
    executorCommand,
    sections,
  };
}

/**
 * The checkpoint storage's selection. An `http` storage that names no `url` uses the `http`
 * uploader's package server — its `url`, `publicUrl` and `tokenFile` — so that a cluster whose
 * packages go over HTTP keeps checkpoints where every container reaches them, without a
 * `checkpoints.yaml`. What the section sets itself wins.
 */
function checkpointSelection(section: { plugin: string } & Record<string, unknown>, uploader: PluginSelection): PluginSelection {
  const { plugin, ...config } = section;
  if (plugin !== 'http' || uploader.plugin !== 'http' || config.url !== undefined) return { plugin, config };
  const inherited: Record<string, unknown> = {};
  for (const key of ['url', 'publicUrl', ...(config.token === undefined ? ['tokenFile'] : [])]) {
    if (uploader.config[key] !== undefined) inherited[key] = uploader.config[key];
  }
  return { plugin, config: { ...inherited, ...config } };
}

const sectionSchema = z.record(z.string(), z.unknown());

/**
 * Concerns added after the format's first version: a value written before them (the environment of
 * a container that a pool restarts after an upgrade) lacks them, and gets their defaults.
 */
const LATER_CONCERNS: readonly Concern[] = ['checkpoints'];
const concernSchemas = <S extends z.ZodType>(schema: S) =>
  Object.fromEntries(CONCERNS.map((concern) => [concern, LATER_CONCERNS.includes(concern) ? schema.optional() : schema])) as Record<
    Concern,
    S
  >;

/** The by-value form: versioned, so that an executor of another Ardea version says what it cannot read. */
const ClusterConfigValueSchema = z
  .object({
    format: z.literal('ardea-cluster-config/1'),
    cluster: z.string().min(1),
    directory: z.string().min(1).optional(),
    home: z.string().min(1),
    sources: z.object(concernSchemas(z.string())).strict(),
    overrides: z.array(z.object({ key: z.string(), value: z.unknown() }).strict()),
    sections: z.object(concernSchemas(sectionSchema)).strict(),
  })
  .strict();

/**
 * A cluster's config as one JSON string that the cluster's processes read back with
 * {@link clusterConfigFromValue}: the sections as read (variables expanded, overrides applied), the
 * cluster's name, `$ARDEA_HOME` and where each section came from. It holds whatever the sections
 * hold, credentials included, so it must be kept as private as the cluster files.
 */
export function clusterConfigToValue(config: ClusterConfig): string {
  const value: z.input<typeof ClusterConfigValueSchema> = {
    format: 'ardea-cluster-config/1',
    cluster: config.cluster,
    ...(config.directory === undefined ? {} : { directory: config.directory }),
    home: config.home,
    sources: config.sources,
    overrides: config.overrides.map(({ key, value: v }) => ({ key, value: v })),
    sections: config.sections,
  };
  return JSON.stringify(value);
}

/**
 * Reads a config made by {@link clusterConfigToValue} and validates it as {@link loadClusterConfig}
 * validates files. `from` names where the text came from in messages (default the environment
 * variable {@link CLUSTER_CONFIG_ENV}). Nothing is read from disk: the cluster directory need not
 * exist here.
 */
export function clusterConfigFromValue(text: string, from: string = CLUSTER_CONFIG_ENV): ClusterConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `${from}: the cluster config passed by value is not JSON ` +
        `(${error instanceof Error ? error.message : String(error)}); it must be what 'ardea' wrote there`,
      {
        cause: error,
        code: 'config.invalid',
      },
    );
  }
  const result = ClusterConfigValueSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(
      `${from}: not a cluster config this Ardea can read (${issue.path.map(String).join('.') || 'value'}: ${issue.message}); ` +
        `the process that wrote it may run another Ardea version`,
      { cause: result.error, code: 'config.invalid' },
    );
  }
  const value = result.data;
  try {
    const sources = {} as Record<Concern, string>;
    const sections = {} as Record<Concern, Record<string, unknown>>;
    for (const concern of CONCERNS) {
      sources[concern] = value.sources[concern] ?? BUILTIN_SOURCE;
      sections[concern] = value.sections[concern] ?? {};
    }
    return buildClusterConfig({
      cluster: value.cluster,
      directory: value.directory,
      home: value.home,
      sources,
      overrides: value.overrides,
      sections,
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${from}: ${error.message}`, { cause: error, code: error.code });
    throw error;
  }
}

/**
 * The cluster config of a process the cluster started (an executor, a supervisor): from `--cluster`
 * (a cluster name or directory, with `--config-property` overrides in {@link CONFIG_PROPERTIES_ENV})
 * when given — how a user runs an executor by hand — otherwise by value from {@link CLUSTER_CONFIG_ENV}.
 */
export function clusterConfigOfProcess(options: {
  readonly cluster?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly usage: string;
}): ClusterConfig {
  const env = options.env ?? process.env;
  if (options.cluster) {
    const overrides = env[CONFIG_PROPERTIES_ENV] ? parseOverridesEnv(env[CONFIG_PROPERTIES_ENV]) : [];
    return loadClusterConfig({ cluster: options.cluster, overrides, env });
  }
  const value = env[CLUSTER_CONFIG_ENV];
  if (!value)
    throw new ConfigError(`no cluster config: pass --cluster <cluster> or set ${CLUSTER_CONFIG_ENV} (${options.usage})`, {
      code: 'config.missing',
    });
  return clusterConfigFromValue(value);
}

function parseOverridesEnv(text: string): string[] {
  let overrides: unknown;
  try {
    overrides = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${CONFIG_PROPERTIES_ENV}: expected a JSON array of key=value strings`, { cause: error });
  }
  if (!Array.isArray(overrides) || !overrides.every((o) => typeof o === 'string'))
    throw new ConfigError(`${CONFIG_PROPERTIES_ENV}: expected a JSON array of key=value strings`);
  return overrides;
}

function packingSettingsFrom(file: z.output<typeof PackingFileSchema>): PackingSettings {
  const base = DEFAULT_PACKING_SETTINGS;
  const padding = file.padding ?? {};
  return {
    instanceDefaults: withDefaults(file.instance && toResourceRequest(file.instance), base.instanceDefaults),
    containerMax: withDefaults(file.container && toResourceRequest(file.container), base.containerMax),
    maxInstancesPerContainer: file.maxInstancesPerContainer ?? base.maxInstancesPerContainer,
    padding: {
      fixed: {
        cpu: padding.cpu ?? base.padding.fixed.cpu,
        ramBytes: padding.ram ?? base.padding.fixed.ramBytes,
        diskBytes: padding.disk ?? base.padding.fixed.diskBytes,
      },
      percent: padding.percent ?? base.padding.percent,
    },
    minInstance: { cpu: file.minInstance?.cpu ?? base.minInstance.cpu, ramBytes: file.minInstance?.ram ?? base.minInstance.ramBytes },
    containers: file.containers ?? base.containers,
    sortBy: file.sortBy ?? base.sortBy,
  };
}

function locateCluster(cluster: string, home: string, cwd: string): { name: string; directory: string | undefined } {
  if (!cluster.trim()) throw new ConfigError('no cluster given; use `local` or the name or path of a cluster directory');
  const looksLikePath = cluster.includes('/') || cluster.includes(path.sep) || cluster.startsWith('.');
  const candidates = looksLikePath ? [path.resolve(cwd, cluster)] : [path.join(home, 'clusters', cluster)];
  for (const candidate of candidates) {
    if (existsSync(candidate)) {
      if (!statSync(candidate).isDirectory()) throw new ConfigError(`cluster '${cluster}': ${candidate} is not a directory`);
      return { name: path.basename(candidate), directory: candidate };
    }
  }
  if (cluster === BUILTIN_CLUSTER) return { name: BUILTIN_CLUSTER, directory: undefined };
  throw new ConfigError(
    `unknown cluster '${cluster}': no directory ${candidates.join(' or ')}; '${BUILTIN_CLUSTER}' is built in, ` +
      `other clusters are directories of YAML files (${CONCERNS.map((c) => `${c}.yaml`).join(', ')})`,
  );
}

function readClusterFiles(directory: string): Map<Concern, string> {
  const files = new Map<Concern, string>();
  for (const entry of readdirSync(directory).sort()) {
    const match = /^(.*)\.ya?ml$/.exec(entry);
    if (!match) continue;
    const concern = match[1] as Concern;
    if (!(CONCERNS as readonly string[]).includes(concern)) {
      throw new ConfigError(
        `${path.join(directory, entry)}: unexpected file in a cluster directory; expected ${CONCERNS.map((c) => `${c}.yaml`).join(', ')}`,
      );
    }
    if (files.has(concern)) throw new ConfigError(`${directory}: both ${concern}.yaml and ${concern}.yml exist; keep one`);
    files.set(concern, path.join(directory, entry));
  }
  return files;
}

function readYamlMapping(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the file`, { cause: error });
  }
  const document = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const problem = document.errors[0];
  if (problem) {
    const position = problem.linePos?.[0];
    const where = position ? `line ${position.line}, column ${position.col}: ` : '';
    throw new ConfigError(`${file}: ${where}invalid YAML: ${problem.message.split('\n')[0]}`, { cause: problem, code: 'config.yaml' });
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value))
    throw new ConfigError(
      `${file}: expected a mapping of keys to values at the top level, got ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  return value;
}
