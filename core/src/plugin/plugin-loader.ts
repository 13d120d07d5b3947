import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, PluginLoadError } from '../errors/index.js';
import { assertPluginDescriptor, PluginDescriptor, PluginKind } from './plugin-descriptor.js';

/**
 * Short names of the plugins maintained with Ardea, per kind. Any other name is taken as a package
 * name (`@acme/ardea-scheduler`) or, when it starts with `.` or `/`, as a path relative to the
 * cluster directory. `package#export` picks a named export instead of the default one.
 */
export const PLUGIN_PACKAGES: Readonly<Record<PluginKind, Readonly<Record<string, string>>>> = {
  scheduler: {
    local: '@ardea/plugin-local',
    slurm: '@ardea/plugin-slurm',
    kubernetes: '@ardea/plugin-kubernetes',
    nomad: '@ardea/plugin-nomad',
    yarn: '@ardea/plugin-yarn',
  },
  statemgr: { zookeeper: '@ardea/plugin-zookeeper' },
  uploader: { sftp: '@ardea/plugin-slurm#sftpUploader' },
  packing: {},
  'health-policy': {},
  checkpoints: {},
};

export interface PluginReference {
  readonly kind: PluginKind;
  /** As written in config: short name, package name, or path. */
  readonly name: string;
  /** Where paths are resolved from: the cluster directory, or the working directory. */
  readonly baseDirectory: string;
  /** The file and key that named the plugin, for messages (e.g. `…/scheduler.yaml: scheduler.plugin`). */
  readonly namedBy: string;
}

/**
 * Imports a plugin and checks that it is a descriptor of the expected kind. Descriptors built into
 * the core are passed in `builtins` and need no import.
 */
export async function loadPluginDescriptor(
  reference: PluginReference,
  builtins: ReadonlyArray<PluginDescriptor>,
): Promise<PluginDescriptor> {
  const builtin = builtins.find((d) => d.kind === reference.kind && d.name === reference.name);
  if (builtin) return builtin;
  const specifier = PLUGIN_PACKAGES[reference.kind][reference.name] ?? reference.name;
  const hash = specifier.lastIndexOf('#');
  const moduleName = hash > 0 ? specifier.slice(0, hash) : specifier;
  const exportName = hash > 0 ? specifier.slice(hash + 1) : 'default';
  const isPath = moduleName.startsWith('.') || path.isAbsolute(moduleName);
  const target = isPath ? pathToFileURL(path.resolve(reference.baseDirectory, moduleName)).href : moduleName;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(target)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const missingItself =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') &&
      String((error as Error).message).includes(isPath ? path.basename(moduleName) : `'${moduleName}'`);
    if (missingItself) {
      const fix = isPath
        ? `no such file ${path.resolve(reference.baseDirectory, moduleName)}`
        : `it is not installed; run: npm install ${moduleName}`;
      const known = Object.keys(PLUGIN_PACKAGES[reference.kind]);
      const hint =
        known.length > 0 && !isPath && !moduleName.includes('/')
          ? ` (short names for ${reference.kind} ` +
            `plugins: ${[...builtins.filter((d) => d.kind === reference.kind).map((d) => d.name), ...known].join(', ')})`
          : '';
      throw new PluginLoadError(`${reference.namedBy}: ${reference.kind} plugin '${reference.name}' cannot be loaded: ${fix}${hint}`, {
        cause: error,
        code: 'plugin.not-found',
      });
    }
    throw new PluginLoadError(
      `${reference.namedBy}: ${reference.kind} plugin '${reference.name}' (${moduleName}) failed while loading: ${describeError(error)}`,
      {
        cause: error,
        code: 'plugin.import-failed',
      },
    );
  }
  const descriptor = loaded[exportName];
  try {
    assertPluginDescriptor(descriptor, specifier);
  } catch (error) {
    throw new PluginLoadError(`${reference.namedBy}: ${describeError(error)}`, { cause: error, code: 'plugin.invalid' });
  }
  if (descriptor.kind !== reference.kind) {
    throw new PluginLoadError(
      `${reference.namedBy}: plugin '${reference.name}' is a ${descriptor.kind} plugin, but a ${reference.kind} plugin is needed here`,
      { code: 'plugin.wrong-kind' },
    );
  }
  return descriptor;
}
