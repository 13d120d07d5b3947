import { CONCERNS } from '../../config/cluster-config.js';
import { parseConfigProperty, type ConfigProperty } from '../../config/config-property.js';
import { ArdeaError } from '../../errors/index.js';
import { formatResources } from '../../model/resources.js';
import { instanceName } from '../../model/packing-plan.js';
import type { ComponentMetrics, MetricsView, ReliabilityMode } from '../../model/metrics.js';
import type { HealthLog } from '../../model/runtime-state.js';
import { acceptRuntimeConfig } from '../../runtime/runtime-config.js';
import { runtimeSettingsOf } from '../../runtime/runtime-settings.js';
import { createArdea, type Ardea, type SubmitResult, type UpdateResult } from '../../app/ardea.js';
import { Deployment } from '../../app/deployment.js';
import { healthModeOf, type HealthMode } from '../../healthmgr/settings.js';
import { unpinComponents } from '../../app/update.js';
import { cliLogger, type CliIo, type ClusterCommandOptions } from '../cli-io.js';
import { deliveryLines } from './delivery-lines.js';
import { onceOrWatch } from '../watch.js';

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
    throw new ArdeaError(
      `--config-property ${topology[0]!.key}: not a cluster property; ` +
        `cluster properties start with ${CONCERNS.map((c) => `${c}.`).join(', ')}`,
    );
  }
  const ardea = await createArdea({ cluster, overrides, logger: cliLogger(io, options.verbose), env: io.env, cwd: io.cwd });
  try {
    return await work(ardea);
  } finally {
    await ardea.close();
  }
}

/** Who the health log names for an operator's update: the CLI, and the user running it when the environment says. */
const operatorOf = (io: CliIo): string => (io.env.USER ? `cli (${io.env.USER})` : 'cli');

const progressTo = (io: CliIo) => (message: string) => io.stderr.write(`  ${message}\n`);

export async function submitCommand(
  io: CliIo,
  cluster: string,
  packagePath: string,
  options: ClusterCommandOptions & { name?: string; deployDeactivated?: boolean; dryRun?: boolean; json?: boolean; timeout?: number },
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
        ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
      });
      const { definition, packingPlan } = result;
      if (options.json) {
        io.stdout.write(`${JSON.stringify(submitJson(ardea.config.cluster, result, options.dryRun ?? false))}\n`);
        return;
      }
      if (options.dryRun) {
        io.stdout.write(`dry run: ${definition.name} would run in ${packingPlan.containers.length} container(s) plus container 0\n`);
        for (const container of packingPlan.containers) {
          const instances = container.instances.map((i) => instanceName(container.id, i)).join(' ');
          io.stdout.write(`  ${container.id}: ${formatResources(container.required)}: ${instances}\n`);
        }
        return;
      }
      io.stdout.write(
        `topology ${definition.name} (id ${definition.id}) ` +
          `is running on ${ardea.config.cluster} in ${packingPlan.containers.length + 1} containers\n`,
      );
    },
    true,
  );
}

/** What `submit --json` prints: the containers count container 0 too, as the text says. */
export function submitJson(cluster: string, result: SubmitResult, dryRun: boolean) {
  const { definition, packingPlan } = result;
  return {
    topology: definition.name,
    id: definition.id,
    cluster,
    containers: packingPlan.containers.length + 1,
    dryRun,
    ...(dryRun
      ? {
          packingPlan: packingPlan.containers.map((c) => ({
            id: c.id,
            required: c.required,
            instances: c.instances.map((i) => instanceName(c.id, i)),
          })),
        }
      : {}),
  };
}

export async function killCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await ardea.kill(name, progressTo(io));
    io.stdout.write(
      options.json ? `${JSON.stringify({ topology: name, cluster: ardea.config.cluster, killed: true })}\n` : `topology ${name} killed\n`,
    );
  });
}

export async function activationCommand(
  io: CliIo,
  cluster: string,
  name: string,
  activate: boolean,
  options: ClusterCommandOptions & { json?: boolean },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const result = activate ? await ardea.activate(name) : await ardea.deactivate(name);
    io.stdout.write(
      options.json
        ? `${JSON.stringify({ topology: name, state: result.state, changed: result.changed })}\n`
        : `topology ${name} is ${result.state}${result.changed ? '' : ' (no change)'}\n`,
    );
  });
}

export async function restartCommand(
  io: CliIo,
  cluster: string,
  name: string,
  containerId: number | undefined,
  options: ClusterCommandOptions & { json?: boolean },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await ardea.restart(name, containerId, { onProgress: progressTo(io) });
    io.stdout.write(
      options.json
        ? `${JSON.stringify({ topology: name, restarted: containerId === undefined ? 'all' : containerId })}\n`
        : `restarted ${containerId === undefined ? 'every container' : `container ${containerId}`} of ${name}\n`,
    );
  });
}

export async function metricsCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean; instances?: boolean; window?: number; watch?: number },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await onceOrWatch(io, ardea, name, `ardea metrics ${cluster} ${name}`, options.watch, async () => {
      const view = await ardea.metrics(name, {
        instances: options.instances ?? false,
        ...(options.window === undefined ? {} : { windowMs: options.window }),
      });
      if (options.json) return `${JSON.stringify(view)}\n`;
      const reliability = view.delivery?.reliability ?? (await reliabilityOf(ardea, name));
      return metricsTable(view, { instances: options.instances ?? false, reliability });
    });
  });
}

/** The delivery guarantee in a topology's config, for a topology master too old to report it. */
async function reliabilityOf(ardea: Ardea, name: string): Promise<ReliabilityMode> {
  const definition = await ardea.state.get('topology', name);
  return definition ? runtimeSettingsOf(definition).reliability : 'at-most-once';
}

interface MetricsColumn {
  readonly header: string;
  readonly cell: (m: ComponentMetrics) => string;
  /** The cell of a line per output stream (see metricsTable); empty where absent. */
  readonly stream?: (m: ComponentMetrics, stream: string) => string;
}

function metricsColumns(reliability: ReliabilityMode): MetricsColumn[] {
  // Restarts the stream managers made themselves say why: a hung worker, or a container over its RAM.
  const restarts = (m: ComponentMetrics) => {
    const why = [m.hungRestarts ? `${m.hungRestarts} hung` : '', m.memoryRestarts ? `${m.memoryRestarts} memory` : '']
      .filter(Boolean)
      .join(', ');
    return `${m.restarts}${why ? ` (${why})` : ''}`;
  };
  // Only at-least-once tracks trees: elsewhere acks follow emits at once, and these columns say nothing.
  const tracked = reliability === 'at-least-once';
  return [
    { header: 'EMITTED', cell: (m) => String(m.emitted), stream: (m, stream) => String(m.emittedByStream![stream]) },
    { header: 'EXECUTED', cell: (m) => String(m.executed) },
    ...(tracked
      ? [
          { header: 'ACKED', cell: (m: ComponentMetrics) => String(m.acked) },
          // Timed-out trees are failed too: the count says how many of the failures they are.
          { header: 'FAILED', cell: (m: ComponentMetrics) => `${m.failed}${m.timedOut ? ` (${m.timedOut} timed out)` : ''}` },
        ]
      : []),
    { header: 'EMIT/S', cell: (m) => m.emitRate.toFixed(0), stream: (m, stream) => (m.emitRateByStream?.[stream] ?? 0).toFixed(0) },
    { header: 'EXEC/S', cell: (m) => m.executeRate.toFixed(0) },
    { header: 'LATENCY ms', cell: (m) => m.executeLatencyMs.toFixed(4) },
    ...(tracked
      ? [
          {
            header: 'COMPLETE p99 ms',
            cell: (m: ComponentMetrics) => (m.completeLatencyMs ? String(Number(m.completeLatencyMs.p99.toFixed(3))) : '-'),
          },
        ]
      : []),
    { header: 'BUSY', cell: (m) => `${(m.busyFraction * 100).toFixed(0)}%` },
    { header: 'BP ms', cell: (m) => String(m.backpressureMs) },
    { header: 'PENDING', cell: (m) => String(m.pendingBytes) },
    // What user code threw: a bolt failing on every tuple still executes them, and only this says so.
    { header: 'ERRORS', cell: (m) => String(m.errors) },
    { header: 'RESTARTS', cell: restarts },
  ];
}

export function metricsTable(view: MetricsView, options: { instances: boolean; reliability: ReliabilityMode }): string {
  const columns = metricsColumns(options.reliability);
  const header = ['COMPONENT', ...columns.map((c) => c.header)];
  const row = (name: string, m: ComponentMetrics) => [name, ...columns.map((c) => c.cell(m))];
  const rows: string[][] = [header];
  for (const [name, metrics] of Object.entries(view.components).sort()) {
    rows.push(row(name, metrics));
    // A component with several output streams: what goes out on each (its readers are sized by it).
    const streams = Object.keys(metrics.emittedByStream ?? {});
    if (streams.length > 1) {
      for (const stream of streams.sort()) rows.push([`  stream ${stream}`, ...columns.map((c) => c.stream?.(metrics, stream) ?? '')]);
    }
    if (options.instances) for (const [instance, m] of Object.entries(metrics.instances ?? {}).sort()) rows.push(row(`  ${instance}`, m));
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;
  const containers = Object.entries(view.streamManagers)
    .sort()
    .map(([name, m]) => `${name}: RSS ${mib(m.rssBytes)}${m.ramLimitBytes ? ` of ${mib(m.ramLimitBytes)}` : ''}`);
  const table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
  const delivery = options.reliability === 'effectively-once' && view.delivery ? deliveryLines(view.delivery) : [];
  const footer = [...(containers.length ? [containers.join(', ')] : []), ...delivery];
  return `${table}\n${footer.map((line) => `${line}\n`).join('')}(windowed values over the last ${view.windowMs / 1000} s)\n`;
}

export async function updateCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & {
    componentParallelism: string[];
    containerNumber?: number;
    runtimeConfig: string[];
    unpin?: string[] | true;
    dryRun?: boolean;
    json?: boolean;
    timeout?: number;
  },
): Promise<void> {
  if (options.unpin !== undefined) {
    if (options.componentParallelism.length > 0 || options.containerNumber !== undefined || options.runtimeConfig.length > 0)
      throw new ArdeaError(
        '--unpin ends a hold and changes nothing else: give it without --component-parallelism, --container-number or --runtime-config',
      );
    const components = options.unpin === true ? undefined : options.unpin;
    await withArdea(io, cluster, options, async (ardea) => {
      const released = await unpinComponents(new Deployment(ardea.container), name, components, operatorOf(io));
      if (options.json) {
        io.stdout.write(`${JSON.stringify({ topology: name, unpinned: released })}\n`);
        return;
      }
      const them = released.length > 1 ? 'them' : 'it';
      const none = components
        ? `${components.join(', ')} of ${name}: not held by the operator`
        : `no component of ${name} is held by the operator`;
      io.stdout.write(
        released.length > 0
          ? `${released.join(', ')} of ${name} released: the health manager may scale ${them} again from its next round\n`
          : `nothing to release: ${none}\n`,
      );
    });
    return;
  }
  const parallelism: Record<string, number> = {};
  for (const text of options.componentParallelism) {
    const match = /^([^:]+):(\d+)$/.exec(text);
    if (!match) throw new ArdeaError(`--component-parallelism '${text}': expected <component>:<n>, e.g. count:4`);
    parallelism[match[1]!] = Number(match[2]);
  }
  const runtimeConfig = options.runtimeConfig.map((text) => {
    const match = /^([^:=]+):([^=]+)=(.*)$/.exec(text);
    if (!match)
      throw new ArdeaError(`--runtime-config '${text}': expected <component>:<key>=<value> (component * for all), e.g. sentence:rate=500`);
    return { component: match[1]!, ...parseConfigProperty(`${match[2]}=${match[3]}`) };
  });
  const containers = options.containerNumber;
  const changesPlan = Object.keys(parallelism).length > 0 || containers !== undefined;
  if (changesPlan === runtimeConfig.length > 0) {
    throw new ArdeaError('give --component-parallelism and/or --container-number, or --runtime-config, but not both kinds in one update');
  }
  await withArdea(io, cluster, options, async (ardea) => {
    if (runtimeConfig.length > 0) {
      if (options.dryRun) {
        // The same check the topology master makes, so a dry run shows what it would refuse.
        const definition = await ardea.state.get('topology', name);
        if (!definition) throw new ArdeaError(`no topology '${name}' on cluster ${ardea.config.cluster}`, { code: 'topology.not-found' });
        acceptRuntimeConfig(definition, runtimeConfig);
        if (options.json) {
          io.stdout.write(`${JSON.stringify({ topology: name, runtimeConfig, dryRun: true })}\n`);
          return;
        }
        io.stdout.write(
          `dry run: would set ${runtimeConfig.map((c) => `${c.component}:${c.key}=${JSON.stringify(c.value)}`).join(', ')}\n`,
        );
        return;
      }
      await ardea.updateRuntimeConfig(name, runtimeConfig);
      if (options.json) {
        io.stdout.write(`${JSON.stringify({ topology: name, runtimeConfig, dryRun: false })}\n`);
        return;
      }
      io.stdout.write(
        `runtime config of ${name} updated: ${runtimeConfig.map((c) => `${c.component}:${c.key}=${JSON.stringify(c.value)}`).join(', ')}\n`,
      );
      return;
    }
    const result = await ardea.update(name, {
      parallelism,
      ...(containers === undefined ? {} : { containers }),
      dryRun: options.dryRun ?? false,
      operator: operatorOf(io),
      onProgress: progressTo(io),
      ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
    });
    io.stdout.write(options.json ? `${JSON.stringify(updateJson(name, result))}\n` : updateText(name, result));
  });
}

/** What `update --json` prints: the plan diff an update made (or, dry, would make). */
export interface UpdateJson {
  readonly topology: string;
  /** Instances per component before and after, for every component whose count changes. */
  readonly components: Record<string, { readonly before: number; readonly after: number }>;
  readonly startedInstances: string[];
  readonly stoppedInstances: string[];
  /** Instances that keep their task id but run in another container. */
  readonly movedInstances: { readonly component: string; readonly taskId: number; readonly from: number; readonly to: number }[];
  readonly addedContainers: number[];
  readonly removedContainers: number[];
  readonly elapsedMs: number;
  readonly dryRun: boolean;
  /** When the update pinned its components: until when the health manager leaves them alone (ISO 8601). */
  readonly heldUntil?: string;
}

export function updateJson(name: string, result: UpdateResult): UpdateJson {
  const count = (plan: UpdateResult['plan']) => {
    const counts = new Map<string, number>();
    for (const c of plan.containers) for (const i of c.instances) counts.set(i.component, (counts.get(i.component) ?? 0) + 1);
    return counts;
  };
  const before = count(result.previous);
  const after = count(result.plan);
  const components: Record<string, { before: number; after: number }> = {};
  for (const component of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    if (before.get(component) !== after.get(component))
      components[component] = { before: before.get(component) ?? 0, after: after.get(component) ?? 0 };
  }
  const { diff } = result;
  return {
    topology: name,
    components,
    startedInstances: diff.addedInstances.map((i) => instanceName(i.containerId, i)),
    stoppedInstances: diff.removedInstances.map((i) => instanceName(i.containerId, i)),
    movedInstances: diff.movedInstances.map((m) => ({ component: m.component, taskId: m.taskId, from: m.from, to: m.to })),
    addedContainers: [...diff.addedContainers],
    removedContainers: [...diff.removedContainers],
    elapsedMs: result.elapsedMs,
    dryRun: result.dryRun,
    ...(result.heldUntil === undefined ? {} : { heldUntil: new Date(result.heldUntil).toISOString() }),
  };
}

export function updateText(name: string, result: UpdateResult): string {
  const view = updateJson(name, result);
  const lines: string[] = [];
  for (const [component, { before, after }] of Object.entries(view.components))
    lines.push(`  ${component}: ${before} -> ${after} instances`);
  if (view.startedInstances.length) lines.push(`  start: ${view.startedInstances.join(' ')}`);
  if (view.stoppedInstances.length) lines.push(`  stop: ${view.stoppedInstances.join(' ')}`);
  if (view.movedInstances.length)
    lines.push(`  move: ${view.movedInstances.map((m) => `${m.component} task ${m.taskId} ${m.from} -> ${m.to}`).join(', ')}`);
  if (view.addedContainers.length) lines.push(`  add containers: ${view.addedContainers.join(', ')}`);
  if (view.removedContainers.length) lines.push(`  remove containers: ${view.removedContainers.join(', ')}`);
  if (lines.length === 0) lines.push('  nothing changes');
  const verdict = view.dryRun ? 'dry run, nothing changed' : `done in ${view.elapsedMs} ms; untouched instances kept running`;
  const held = view.heldUntil
    ? `held: the health manager will not scale the components set until ${view.heldUntil} ` +
      `(ardea update --unpin <component> ends the hold earlier)\n`
    : '';
  return `plan for ${name}:\n${lines.join('\n')}\n${verdict}\n${held}`;
}

export async function healthCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean; watch?: number },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    await onceOrWatch(io, ardea, name, `ardea health ${cluster} ${name}`, options.watch, async () => {
      const topology = await ardea.state.get('topology', name);
      if (!topology) throw new ArdeaError(`no topology '${name}' on cluster ${ardea.config.cluster}`, { code: 'topology.not-found' });
      const log = (await ardea.state.get('healthLog', name)) ?? { rounds: [] };
      const mode = healthModeOf(ardea.config, topology);
      if (options.json) return `${JSON.stringify({ mode, ...log })}\n`;
      return healthText(name, log, mode, Date.now());
    });
  });
}

const MODE_LINES: Readonly<Record<HealthMode, string>> = {
  act: '',
  advise: 'health manager: advise — it diagnoses and proposes; nothing is applied',
  off: 'health manager: off for this topology',
};

/**
 * The action log as `ardea health` prints it: the mode when it is not `act`, the operator's holds in
 * force, then rounds and operator actions in time order.
 */
export function healthText(name: string, log: HealthLog, mode: HealthMode = 'act', now = Date.now()): string {
  const header: string[] = MODE_LINES[mode] ? [MODE_LINES[mode]] : [];
  for (const [component, pin] of Object.entries(log.pins ?? {})) {
    if (pin.until > now)
      header.push(`held by the operator: ${component} at ${pin.parallelism} until ${new Date(pin.until).toISOString()} (${pin.by})`);
  }
  const operatorActions = log.operatorActions ?? [];
  if (log.rounds.length === 0 && operatorActions.length === 0)
    return `${header.map((line) => `${line}\n`).join('')}no health actions for ${name} yet: nothing has needed attention\n`;
  const events: { at: number; lines: string[] }[] = operatorActions.map((a) => ({
    at: a.at,
    lines: [`${new Date(a.at).toISOString()}  operator ${a.type} by ${a.by}: ${a.description}`],
  }));
  for (const round of log.rounds) {
    const lines: string[] = [];
    lines.push(`${new Date(round.at).toISOString()}  ${round.policy} round ${round.round} (window ${Math.round(round.windowMs / 1000)} s)`);
    for (const d of round.diagnoses) {
      lines.push(`  diagnosis: ${d.type} on ${d.component}${d.instances.length ? ` (${d.instances.join(', ')})` : ''}`);
      for (const [key, value] of Object.entries(d.details ?? {})) lines.push(`    ${key}: ${value}`);
    }
    for (const b of round.blacklisted)
      lines.push(`  skipped: ${b.type} on ${b.component} (${b.reason ?? 'an earlier action for it did not help at this load'})`);
    for (const a of round.actions) {
      const verdict =
        a.outcome === 'proposed'
          ? 'not applied (advise mode)'
          : a.outcome === 'skipped'
            ? 'not applied'
            : a.verdict
              ? `${a.verdict}; observed ${JSON.stringify(a.observedEffect)}`
              : 'waiting for the topology to settle';
      const label = a.outcome === 'proposed' ? 'proposal' : a.outcome === 'skipped' ? 'skipped action' : 'action';
      lines.push(`  ${label}: ${a.description}`);
      if (a.note) lines.push(`    ${a.note}`);
      lines.push(`    predicted ${JSON.stringify(a.predictedEffect)}; ${verdict}`);
    }
    if (round.error) lines.push(`  error: ${round.error}`);
    events.push({ at: round.at, lines });
  }
  events.sort((a, b) => a.at - b.at);
  return `${[...header, ...events.flatMap((e) => e.lines)].join('\n')}\n`;
}
