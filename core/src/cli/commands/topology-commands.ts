import { CONCERNS } from '../../config/cluster-config.js';
import { parseConfigProperty, type ConfigProperty } from '../../config/config-property.js';
import { ArdeaError } from '../../errors/index.js';
import { formatResources } from '../../model/resources.js';
import { instanceName } from '../../model/packing-plan.js';
import type { ComponentMetrics, MetricsView } from '../../runtime/metrics-cache.js';
import { createArdea, type Ardea } from '../../scheduler/ardea.js';
import type { CliIo } from '../cli-io.js';
import { cliLogger, type ClusterCommandOptions } from '../program.js';

/** `--config-property` values that start with a concern configure the cluster; the rest the topology. */
export function splitProperties(texts: readonly string[]): { cluster: ConfigProperty[]; topology: ConfigProperty[] } {
  const cluster: ConfigProperty[] = [];
  const topology: ConfigProperty[] = [];
  for (const text of texts) {
    const property = parseConfigProperty(text);
    ((CONCERNS as readonly string[]).includes(property.key.split('.')[0]!) ? cluster : topology).push(property);
  }
  return { cluster, topology };
}

/** Opens the cluster for one command; only `submit` takes topology properties. */
export async function withArdea<T>(
  io: CliIo,
  cluster: string,
  options: ClusterCommandOptions,
  work: (ardea: Ardea) => Promise<T>,
  acceptsTopologyProperties = false,
): Promise<T> {
  const { cluster: overrides, topology } = splitProperties(options.configProperty);
  if (topology.length > 0 && !acceptsTopologyProperties) {
    throw new ArdeaError(`--config-property ${topology[0]!.key}: not a cluster property; cluster properties start with ${CONCERNS.map((c) => `${c}.`).join(', ')}`);
  }
  const ardea = await createArdea({ cluster, overrides, logger: cliLogger(io, options.verbose), env: io.env, cwd: io.cwd });
  try {
    return await work(ardea);
  } finally {
    await ardea.close();
  }
}

const progressTo = (io: CliIo) => (message: string) => io.stderr.write(`  ${message}\n`);

export async function submitCommand(
  io: CliIo,
  cluster: string,
  packagePath: string,
  options: ClusterCommandOptions & { name?: string; deployDeactivated?: boolean; dryRun?: boolean },
): Promise<void> {
  const { topology } = splitProperties(options.configProperty);
  await withArdea(
    io,
    cluster,
    options,
    async (ardea) => {
    const result = await ardea.submit({
      packagePath,
      ...(options.name ? { name: options.name } : {}),
      properties: topology,
      deployDeactivated: options.deployDeactivated ?? false,
      dryRun: options.dryRun ?? false,
      onProgress: progressTo(io),
    });
    const { definition, packingPlan } = result;
    if (options.dryRun) {
      io.stdout.write(`dry run: ${definition.name} would run in ${packingPlan.containers.length} container(s) plus container 0\n`);
      for (const container of packingPlan.containers) {
        io.stdout.write(`  ${container.id}: ${formatResources(container.required)}: ${container.instances.map((i) => instanceName(container.id, i)).join(' ')}\n`);
      }
      return;
    }
    io.stdout.write(`topology ${definition.name} (id ${definition.id}) is running on ${ardea.config.cluster} in ${packingPlan.containers.length + 1} containers\n`);
    },
    true,
  );
}

export async function killCommand(io: CliIo, cluster: string, name: string, options: ClusterCommandOptions): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await ardea.kill(name, progressTo(io));
    io.stdout.write(`topology ${name} killed\n`);
  });
}

export async function activationCommand(io: CliIo, cluster: string, name: string, activate: boolean, options: ClusterCommandOptions): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const result = activate ? await ardea.activate(name) : await ardea.deactivate(name);
    io.stdout.write(`topology ${name} is ${result.state}${result.changed ? '' : ' (no change)'}\n`);
  });
}

export async function restartCommand(io: CliIo, cluster: string, name: string, container: string | undefined, options: ClusterCommandOptions): Promise<void> {
  const containerId = container === undefined ? undefined : Number(container);
  if (containerId !== undefined && (!Number.isInteger(containerId) || containerId < 0)) {
    throw new ArdeaError(`container must be a container id (0, 1, 2, ...), got '${container}'`);
  }
  await withArdea(io, cluster, options, async (ardea) => {
    await ardea.restart(name, containerId);
    io.stdout.write(`restarted ${containerId === undefined ? 'every container' : `container ${containerId}`} of ${name}\n`);
  });
}

export async function metricsCommand(io: CliIo, cluster: string, name: string, options: ClusterCommandOptions & { json?: boolean; instances?: boolean; window?: string }): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const view = await ardea.metrics(name, { instances: options.instances ?? false, ...(options.window ? { windowMs: Number(options.window) } : {}) });
    if (options.json) {
      io.stdout.write(`${JSON.stringify(view)}\n`);
      return;
    }
    io.stdout.write(metricsTable(view, options.instances ?? false));
  });
}

function metricsTable(view: MetricsView, instances: boolean): string {
  const header = ['COMPONENT', 'EMITTED', 'EXECUTED', 'EMIT/S', 'EXEC/S', 'LATENCY ms', 'BUSY', 'BP ms', 'PENDING'];
  const row = (name: string, m: ComponentMetrics) => [
    name,
    String(m.emitted),
    String(m.executed),
    m.emitRate.toFixed(0),
    m.executeRate.toFixed(0),
    m.executeLatencyMs.toFixed(4),
    `${(m.busyFraction * 100).toFixed(0)}%`,
    String(m.backpressureMs),
    String(m.pendingBytes),
  ];
  const rows: string[][] = [header];
  for (const [name, metrics] of Object.entries(view.components).sort()) {
    rows.push(row(name, metrics));
    if (instances) for (const [instance, m] of Object.entries(metrics.instances ?? {}).sort()) rows.push(row(`  ${instance}`, m));
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n')}\n(windowed values over the last ${view.windowMs / 1000} s)\n`;
}
