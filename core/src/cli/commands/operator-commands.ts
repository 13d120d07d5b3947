import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_PLUGINS, resolveClusterPlugins, type ResolvedPlugin } from '../../app/ardea-container.js';
import type { Ardea } from '../../app/ardea.js';
import { loadClusterConfig } from '../../config/cluster-config.js';
import { ArdeaError, describeError } from '../../errors/index.js';
import type { ExceptionsView, InstanceExceptions, RuntimeInfo } from '../../model/metrics.js';
import { ARDEA_VERSION } from '../../model/version.js';
import { PLUGIN_PACKAGES } from '../../plugin/plugin-loader.js';
import type { ContainerLogChunk, ContainerStatus } from '../../spi/scheduler.js';
import type { CliIo, ClusterCommandOptions } from '../cli-io.js';
import { table } from '../table.js';
import { interruption, onceOrWatch, pause, requireTopology, watchedTopology } from '../watch.js';
import { withArdea } from './topology-commands.js';

// ---------------------------------------------------------------- status

/** What `ardea status --json` prints. */
export interface StatusView {
  readonly topology: string;
  readonly cluster: string;
  readonly state: string;
  readonly timestamp: number;
  readonly containers: readonly ContainerStatus[];
}

export function statusText(view: StatusView): string {
  const rows = [...view.containers]
    .sort((a, b) => a.containerId - b.containerId)
    .map((c) => [String(c.containerId), c.state, c.handle ?? '-', String(c.restarts), c.host ?? '-', c.message ?? '']);
  const running = view.containers.filter((c) => c.state === 'running').length;
  return (
    `topology ${view.topology} on ${view.cluster}: ${view.state}, ${running}/${view.containers.length} containers running\n` +
    table([['CONTAINER', 'STATE', 'HANDLE', 'RESTARTS', 'HOST', 'MESSAGE'], ...rows])
  );
}

async function statusView(ardea: Ardea, name: string): Promise<StatusView> {
  const [containers, state] = await Promise.all([ardea.status(name), ardea.runState(name)]);
  return { topology: name, cluster: ardea.config.cluster, state, timestamp: Date.now(), containers };
}

export async function statusCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean; watch?: number },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await onceOrWatch(io, ardea, name, `ardea status ${cluster} ${name}`, options.watch, async () => {
      await requireTopology(ardea, name);
      const view = await statusView(ardea, name);
      return options.json ? `${JSON.stringify(view)}\n` : statusText(view);
    });
  });
}

// ---------------------------------------------------------------- logs

/** `--bytes` when not given: a screenful or two of recent lines. */
export const DEFAULT_LOG_BYTES = 16 * 1024;
/** How often `logs -f` asks for what was written since. */
export const FOLLOW_INTERVAL_MS = 1000;
/** The most `logs -f` reads in one request: a burst is read in several, at once. */
const FOLLOW_CHUNK_BYTES = 1024 * 1024;

/**
 * A tail that starts inside the log begins with the end of a line cut off; that part is dropped so
 * the output starts at a line of its own.
 */
export function wholeLines(chunk: ContainerLogChunk): string {
  if (chunk.start === 0) return chunk.text;
  const newline = chunk.text.indexOf('\n');
  return newline < 0 ? '' : chunk.text.slice(newline + 1);
}

/**
 * Whether `chunk`, asked for from `offset`, says the log started again: it is shorter than what was
 * read already (a container restarted with a new log), the pool answered from elsewhere (pools
 * answer a `fromOffset` past the end from the log's start), or it comes from another log than the
 * previous chunk (a Nomad container restarted as a new allocation, whose log may already be longer).
 */
export function logRestarted(offset: number, chunk: ContainerLogChunk, previousSource: string): boolean {
  return chunk.start !== offset || chunk.end < offset || chunk.source !== previousSource;
}

export async function logsCommand(
  io: CliIo,
  cluster: string,
  name: string,
  containerId: number,
  options: ClusterCommandOptions & { json?: boolean; follow?: boolean; bytes?: number },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await requireTopology(ardea, name);
    const write = (chunk: ContainerLogChunk, text: string) =>
      io.stdout.write(options.json ? `${JSON.stringify(chunk)}\n` : text.length === 0 || text.endsWith('\n') ? text : `${text}\n`);
    const tail = await ardea.containerLog(name, containerId, { maxBytes: options.bytes ?? DEFAULT_LOG_BYTES });
    if (!options.follow) {
      write(tail, wholeLines(tail));
      return;
    }
    // Following writes text as it comes: a line still being written is completed by the next read.
    const follow = (chunk: ContainerLogChunk, text: string) => (options.json ? write(chunk, text) : io.stdout.write(text));
    follow(tail, wholeLines(tail));
    const stop = interruption(io);
    const gone = watchedTopology(ardea, name);
    let offset = tail.end;
    let source = tail.source;
    try {
      while (!stop.isInterrupted()) {
        await pause(FOLLOW_INTERVAL_MS, stop);
        // Reads until caught up, so that a burst is not spread over many intervals.
        for (let full = true; full && !stop.isInterrupted();) {
          let chunk: ContainerLogChunk;
          try {
            chunk = await ardea.containerLog(name, containerId, { fromOffset: offset, maxBytes: FOLLOW_CHUNK_BYTES });
          } catch (error) {
            if ((error instanceof ArdeaError && error.code === 'scheduler.logs-unsupported') || (await gone(error))) throw error;
            io.stderr.write(`ardea: ${describeError(error)} (still following)\n`);
            break;
          }
          if (logRestarted(offset, chunk, source)) {
            source = chunk.source;
            io.stderr.write(`ardea: the log of container ${containerId} started again (a restart?); following it from its start\n`);
            // Read it from its start, once: a pool that answers elsewhere again is taken at its word.
            if (chunk.start !== 0 && offset !== 0) {
              offset = 0;
              continue;
            }
          }
          if (chunk.text.length > 0) follow(chunk, chunk.text);
          offset = chunk.end;
          full = chunk.end - chunk.start >= FOLLOW_CHUNK_BYTES;
        }
      }
    } finally {
      stop.dispose();
    }
  });
}

// ---------------------------------------------------------------- exceptions

const indent = (text: string, prefix: string) => text.replace(/^/gm, prefix);

/** Instances with errors, each with its last error and stack, then one line for the components without any. */
export function exceptionsText(view: ExceptionsView, topology: string): string {
  const failing = view.instances
    .filter((i) => i.count > 0)
    .sort((a, b) => a.component.localeCompare(b.component) || a.containerId - b.containerId || a.taskId - b.taskId);
  const lines: string[] = [];
  for (const instance of failing) {
    const last = instance.last;
    const errors = `${instance.count} error${instance.count === 1 ? '' : 's'}`;
    const when = last ? `, last at ${new Date(last.at).toISOString()}` : '';
    lines.push(`${instance.instance} (${instance.component}, container ${instance.containerId}): ${errors}${when}`);
    if (last) {
      lines.push(indent(last.message, '  '));
      const stack = stackFrames(last);
      if (stack) lines.push(indent(stack, '      '));
    }
  }
  const clean = new Map<string, number>();
  const failingComponents = new Set(failing.map((i) => i.component));
  for (const instance of view.instances) if (instance.count === 0) clean.set(instance.component, (clean.get(instance.component) ?? 0) + 1);
  const withoutErrors = [...clean]
    .filter(([component]) => !failingComponents.has(component))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([component, n]) => `${component} (${n} instance${n === 1 ? '' : 's'})`);
  const summary = withoutErrors.length > 0 ? `: ${withoutErrors.join(', ')}` : '';
  if (failing.length === 0) lines.push(`no errors in ${topology}${summary}`);
  else if (withoutErrors.length > 0) lines.push('', `no errors${summary}`);
  return `${lines.join('\n')}\n`;
}

/** The stack's frames, without the first line when it only repeats the message. */
function stackFrames(last: NonNullable<InstanceExceptions['last']>): string {
  if (!last.stack) return '';
  const lines = last.stack.split('\n');
  const messageLines = last.message.split('\n').length;
  const repeatsMessage = lines[0]!.includes(last.message.split('\n')[0]!);
  return (repeatsMessage ? lines.slice(messageLines) : lines).map((line) => line.trim()).join('\n');
}

export async function exceptionsCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean; component?: string },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const view = await ardea.exceptions(name);
    let shown = view;
    if (options.component !== undefined) {
      const components = [...new Set(view.instances.map((i) => i.component))].sort();
      if (!components.includes(options.component)) {
        const definition = await ardea.state.get('topology', name);
        const declared = definition?.components.map((c) => c.name) ?? components;
        if (!declared.includes(options.component))
          throw new ArdeaError(`--component ${options.component}: ${name} has no such component; it has ${declared.join(', ')}`);
      }
      shown = { ...view, instances: view.instances.filter((i) => i.component === options.component) };
    }
    io.stdout.write(options.json ? `${JSON.stringify(shown)}\n` : exceptionsText(shown, name));
  });
}

// ---------------------------------------------------------------- version

export interface PluginVersion {
  readonly kind: string;
  /** As the cluster config names it. */
  readonly name: string;
  /** The package it comes from (`@ardea/core` for built-in plugins), or the file for a path. */
  readonly package: string;
  /** Absent when no package.json says. */
  readonly version?: string;
}

export interface VersionView {
  readonly cli: { readonly ardea: string; readonly node: string };
  readonly cluster?: { readonly name: string; readonly plugins: readonly PluginVersion[] };
  readonly topology?: { readonly name: string } & RuntimeInfo;
}

/** The nearest package.json at or above `directory` that satisfies `accept`. */
function packageJsonAbove(directory: string, accept: (json: { name?: string; version?: string }) => boolean) {
  for (let dir = directory; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (accept(json)) return json;
      } catch {
        // Not readable JSON: keep looking above it.
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Where a plugin's version is: the package.json of the package the plugin loader imports it from,
 * found as Node finds a bare specifier (node_modules folders upwards from the core), or the nearest
 * package.json above a plugin given as a path.
 */
export function pluginVersion(plugin: ResolvedPlugin, baseDirectory: string): PluginVersion {
  const base = { kind: plugin.kind, name: plugin.name };
  if (BUILTIN_PLUGINS.includes(plugin.descriptor)) return { ...base, package: '@ardea/core', version: ARDEA_VERSION };
  const specifier = PLUGIN_PACKAGES[plugin.kind][plugin.name] ?? plugin.name;
  const hash = specifier.lastIndexOf('#');
  const moduleName = hash > 0 ? specifier.slice(0, hash) : specifier;
  if (moduleName.startsWith('.') || path.isAbsolute(moduleName)) {
    const file = path.resolve(baseDirectory, moduleName);
    const json = packageJsonAbove(path.dirname(file), () => true);
    return { ...base, package: file, ...(json?.version ? { version: json.version } : {}) };
  }
  const packageName = moduleName.startsWith('@') ? moduleName.split('/').slice(0, 2).join('/') : moduleName.split('/')[0]!;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', packageName, 'package.json');
    if (existsSync(file)) {
      const json = packageJsonAbove(path.dirname(file), (j) => j.name === packageName);
      return { ...base, package: packageName, ...(json?.version ? { version: json.version } : {}) };
    }
    if (path.dirname(dir) === dir) return { ...base, package: packageName };
  }
}

export function versionText(view: VersionView): string {
  const lines = [`ardea CLI ${view.cli.ardea}, Node ${view.cli.node}`];
  if (view.cluster) {
    lines.push(`plugins of cluster ${view.cluster.name}:`);
    lines.push(
      table(
        view.cluster.plugins.map((p) => [
          `  ${p.kind}`,
          p.name,
          p.package === '@ardea/core' ? 'built in (@ardea/core)' : p.package,
          p.version ?? 'version unknown',
        ]),
      ).trimEnd(),
    );
  }
  if (view.topology) {
    const t = view.topology;
    const since = new Date(t.startedAt).toISOString();
    lines.push(`topology ${t.name}, container 0: Ardea ${t.ardeaVersion}, Node ${t.nodeVersion}, on ${t.host} since ${since}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function versionCommand(
  io: CliIo,
  cluster: string | undefined,
  name: string | undefined,
  options: ClusterCommandOptions & { json?: boolean },
): Promise<void> {
  const cli = { ardea: ARDEA_VERSION, node: process.version };
  let view: VersionView = { cli };
  if (cluster !== undefined) {
    const config = loadClusterConfig({ cluster, overrides: options.configProperty, env: io.env, cwd: io.cwd });
    const resolved = await resolveClusterPlugins(config);
    const base = config.directory ?? io.cwd;
    const plugins = [
      resolved.scheduler,
      resolved.statemgr,
      resolved.uploader,
      resolved.checkpoints,
      ...resolved.packing,
      ...resolved.healthPolicies,
    ].map((p) => pluginVersion(p, base));
    view = { cli, cluster: { name: config.cluster, plugins } };
  }
  if (cluster !== undefined && name !== undefined) {
    const info = await withArdea(io, cluster, options, (ardea) => ardea.runtimeInfo(name));
    view = { ...view, topology: { name, ...info } };
  }
  io.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : versionText(view));
}
