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

/** One YAML file per concern in a cluster directory, as Heron keeps `conf/<cluster>/`. */
export const CONCERNS = ['scheduler', 'statemgr', 'uploader', 'packing', 'healthmgr'] as const;
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
  readonly policies: Readonly<Record<string, Readonly<Record<string, unknown>> & { readonly enabled?: boolean; readonly intervalMs?: number }>>;
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
}

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
  })
  .strict();

const DEFAULT_PLUGINS: Readonly<Record<'scheduler' | 'statemgr' | 'uploader', string>> = {
  scheduler: 'local',
  statemgr: 'localfs',
  uploader: 'localfs',
};

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
        `--config-property ${property.key}: not a cluster property; cluster properties start with ${CONCERNS.map((c) => `${c}.`).join(', ')}`,
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
  const parse = <S extends z.ZodType>(concern: Concern, schema: S): z.output<S> => {
    const result = schema.safeParse(raw[concern]);
    if (!result.success) throw configErrorFromSchema(result.error, { source: sources[concern], section: concern, overrides }, raw[concern], schema);
    return result.data;
  };
  const selection = (concern: 'scheduler' | 'statemgr' | 'uploader'): PluginSelection => {
    const { plugin, ...config } = parse(concern, pluginSectionSchema(DEFAULT_PLUGINS[concern]));
    return { plugin, config };
  };
  const packingFile = parse('packing', PackingFileSchema);
  const health = parse('healthmgr', HealthFileSchema);
  return {
    cluster: name,
    directory,
    home,
    sources,
    overrides,
    scheduler: selection('scheduler'),
    statemgr: selection('statemgr'),
    uploader: selection('uploader'),
    packing: {
      algorithm: packingFile.algorithm,
      repackingAlgorithm: packingFile.repackingAlgorithm ?? packingFile.algorithm,
      plugins: packingFile.plugins,
      settings: packingSettingsFrom(packingFile),
    },
    healthmgr: health,
  };
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
    `unknown cluster '${cluster}': no directory ${candidates.join(' or ')}; '${BUILTIN_CLUSTER}' is built in, other clusters are directories of YAML files (${CONCERNS.map((c) => `${c}.yaml`).join(', ')})`,
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
  if (!isPlainObject(value)) throw new ConfigError(`${file}: expected a mapping of keys to values at the top level, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  return value;
}
