import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Container, type ContainerModule } from 'inversify';
import { describeError, PluginLoadError } from '../errors/index.js';
import { Logger } from '../logging/index.js';
import { MetricsSink, type MetricsSnapshot } from '../spi/metrics-sink.js';

/**
 * Imports `--sink-module` modules: a path (relative to `cwd`) or a package name, `module#export`
 * for a named export, default export otherwise. Each must export an inversify `ContainerModule`
 * that binds one or more {@link MetricsSink}s. Like plugins, a module that is missing, fails while
 * loading or exports something else is refused with a message saying which and what to do.
 */
export async function loadSinkModules(specifiers: readonly string[], cwd: string): Promise<ContainerModule[]> {
  const modules: ContainerModule[] = [];
  for (const specifier of specifiers) {
    const hash = specifier.lastIndexOf('#');
    const moduleName = hash > 0 ? specifier.slice(0, hash) : specifier;
    const exportName = hash > 0 ? specifier.slice(hash + 1) : 'default';
    const isPath = moduleName.startsWith('.') || path.isAbsolute(moduleName);
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(isPath ? pathToFileURL(path.resolve(cwd, moduleName)).href : resolvePackage(moduleName, cwd))) as Record<
        string,
        unknown
      >;
    } catch (error) {
      const code = (error as { code?: string }).code;
      const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
      throw new PluginLoadError(
        `--sink-module ${specifier}: ` +
          (missing
            ? isPath
              ? `no such module ${path.resolve(cwd, moduleName)}`
              : `package '${moduleName}' is not installed; run: npm install ${moduleName}`
            : `failed while loading: ${describeError(error)}`),
        { cause: error, code: missing ? 'plugin.not-found' : 'plugin.import-failed' },
      );
    }
    const candidate = loaded[exportName];
    if (!isContainerModule(candidate)) {
      throw new PluginLoadError(
        `--sink-module ${specifier}: its ${exportName === 'default' ? 'default export' : `export '${exportName}'`} is not an inversify ` +
          `ContainerModule; export one that binds MetricsSink: new ContainerModule(({ bind }) => bind(MetricsSink).toConstantValue(sink))`,
        { code: 'plugin.invalid' },
      );
    }
    modules.push(candidate);
  }
  return modules;
}

/** Resolves a package from the user's working directory first, where its own dependencies are installed. */
function resolvePackage(name: string, cwd: string): string {
  try {
    return pathToFileURL(createRequire(path.join(cwd, 'noop.js')).resolve(name)).href;
  } catch {
    // Packages that export only for `import` cannot be resolved by require; let import find them.
    return name;
  }
}

/** Structural, so that a module built against a second copy of inversify is accepted too. */
function isContainerModule(value: unknown): value is ContainerModule {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { load?: unknown }).load === 'function' &&
    typeof (value as { id?: unknown }).id === 'number'
  );
}

/** The sinks the modules bind, built in a container of their own with the tracker's logger bound (`Logger`). */
export async function sinksOf(modules: readonly ContainerModule[], logger: Logger): Promise<MetricsSink[]> {
  if (modules.length === 0) return [];
  const container = new Container();
  container.bind<Logger>(Logger).toConstantValue(logger);
  await container.loadAsync(...modules);
  const sinks = await container.getAllAsync<MetricsSink>(MetricsSink, { optional: true });
  if (sinks.length === 0)
    throw new PluginLoadError(
      `--sink-module: the modules given (${modules.length}) bind no MetricsSink; ` +
        `bind one with bind(MetricsSink) (Symbol.for('ardea.MetricsSink'))`,
      { code: 'plugin.invalid' },
    );
  for (const sink of sinks) {
    if (typeof sink?.publish !== 'function' || typeof sink.name !== 'string' || typeof sink.close !== 'function')
      throw new PluginLoadError(`--sink-module: a MetricsSink must have a name, publish(snapshot) and close(); one bound has not`, {
        code: 'plugin.invalid',
      });
  }
  return sinks;
}

export interface SinkPublisherOptions {
  readonly sinks: readonly MetricsSink[];
  readonly intervalMs: number;
  /** Every running topology's snapshot at one poll; a topology whose master does not answer is left out. */
  readonly poll: () => Promise<MetricsSnapshot[]>;
  readonly logger: Logger;
}

/**
 * Polls every interval and hands each snapshot to every sink. A sink that throws is logged and the
 * others go on; a sink still busy with the previous poll skips this one, so a slow sink neither
 * piles up calls nor holds the others back.
 */
export class SinkPublisher {
  private timer?: NodeJS.Timeout;
  private readonly busy = new Set<MetricsSink>();
  private readonly pending = new Set<Promise<void>>();
  private reading?: Promise<void>;

  constructor(private readonly options: SinkPublisherOptions) {}

  start(): void {
    if (this.timer || this.options.sinks.length === 0) return;
    this.timer = setInterval(() => {
      this.reading ??= this.pollOnce().finally(() => {
        this.reading = undefined;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /**
   * One poll: reads the snapshots and hands them to every sink that is not busy. Resolves once they
   * are read; `settled` waits for the sinks too.
   */
  async pollOnce(): Promise<void> {
    let snapshots: MetricsSnapshot[];
    try {
      snapshots = await this.options.poll();
    } catch (error) {
      this.options.logger.warn('could not read metrics for the sinks', { error: describeError(error) });
      return;
    }
    for (const sink of this.options.sinks) {
      const handed = this.hand(sink, snapshots);
      this.pending.add(handed);
      void handed.finally(() => this.pending.delete(handed));
    }
  }

  /** Resolves when every sink is done with what it was handed. */
  async settled(): Promise<void> {
    await this.reading;
    await Promise.all([...this.pending]);
  }

  private async hand(sink: MetricsSink, snapshots: readonly MetricsSnapshot[]): Promise<void> {
    if (this.busy.has(sink)) {
      this.options.logger.warn('metrics sink still busy with the previous poll; skipping this one', { sink: sink.name });
      return;
    }
    this.busy.add(sink);
    try {
      for (const snapshot of snapshots) {
        try {
          await sink.publish(snapshot);
        } catch (error) {
          this.options.logger.warn('metrics sink failed to publish', {
            sink: sink.name,
            cluster: snapshot.cluster,
            topology: snapshot.topology,
            error: describeError(error),
          });
        }
      }
    } finally {
      this.busy.delete(sink);
    }
  }

  /** Stops polling, waits for a poll under way, and closes every sink (one that fails to close is logged). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.settled();
    for (const sink of this.options.sinks) {
      try {
        await sink.close();
      } catch (error) {
        this.options.logger.warn('metrics sink failed to close', { sink: sink.name, error: describeError(error) });
      }
    }
  }
}
