import { instanceName } from '../../model/packing-plan.js';
import { formatResources } from '../../model/resources.js';
import { displayedPackageUri } from '../../runtime/package-fetch.js';
import type { CliIo, ClusterCommandOptions } from '../cli-io.js';
import { deliveryLines } from './delivery-lines.js';
import { withArdea } from './topology-commands.js';

export async function listCommand(io: CliIo, cluster: string, options: ClusterCommandOptions & { json?: boolean }): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const names = await ardea.list();
    const topologies = await Promise.all(
      names.map(async (name) => {
        const [execution, state] = await Promise.all([ardea.state.get('executionState', name), ardea.runState(name)]);
        return {
          name,
          state,
          ...(execution ? { submittedAt: execution.submittedAt, submittedBy: execution.submittedBy } : {}),
        };
      }),
    );
    if (options.json) {
      io.stdout.write(`${JSON.stringify({ cluster: ardea.config.cluster, topologies })}\n`);
      return;
    }
    if (names.length === 0) {
      io.stdout.write(`no topologies on cluster ${cluster}\n`);
      return;
    }
    const rows = topologies.map((t) => [
      t.name,
      t.state,
      t.submittedAt === undefined ? '-' : new Date(t.submittedAt).toISOString(),
      t.submittedBy ?? '-',
    ]);
    io.stdout.write(table([['TOPOLOGY', 'STATE', 'SUBMITTED', 'BY'], ...rows]));
  });
}

export async function describeCommand(
  io: CliIo,
  cluster: string,
  name: string,
  options: ClusterCommandOptions & { json?: boolean },
): Promise<void> {
  await withArdea(io, cluster, options, async (ardea) => {
    const description = await ardea.describe(name);
    if (options.json) {
      const { executionState, ...rest } = description;
      // The secret grants control of the topology, a signed package URL reading its code; neither is printed.
      const shown = executionState
        ? { ...rest, executionState: { ...executionState, secret: '<hidden>', packageUri: displayedPackageUri(executionState.packageUri) } }
        : rest;
      io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return;
    }
    const { topology, packingPlan, executionState, scheduler } = description;
    const lines = [`topology ${topology.name} (id ${topology.id}) on cluster ${cluster}`];
    const state = await ardea.runState(name);
    lines.push(`  state: ${state === 'STARTING' ? 'STARTING (no physical plan yet)' : state}`);
    if (executionState) {
      lines.push(
        `  submitted: ${new Date(executionState.submittedAt).toISOString()} ` +
          `by ${executionState.submittedBy}, Ardea ${executionState.ardeaVersion}`,
      );
      lines.push(`  package: ${displayedPackageUri(executionState.packageUri)}`);
    }
    if (scheduler) {
      const plugin = executionState ? `${executionState.schedulerPlugin}, ` : '';
      lines.push(`  scheduler: ${plugin}${scheduler.mode} mode${scheduler.endpoint ? ` at ${scheduler.endpoint}` : ''}`);
    }
    lines.push(`  reliability: ${description.reliability}`);
    if (description.reliability === 'effectively-once') {
      const { delivery, deliveryUnavailable } = description;
      if (delivery) lines.push(...deliveryLines(delivery).map((line) => `  ${line}`));
      else lines.push(`  last checkpoint: unknown (${deliveryUnavailable ?? 'the topology master did not say'})`);
    }
    lines.push('', 'components:');
    lines.push(
      table([
        ['  NAME', 'KIND', 'PARALLELISM', 'INPUTS'],
        ...topology.components.map((c) => [
          `  ${c.name}`,
          c.kind,
          String(c.parallelism),
          c.inputs
            .map(
              (i) =>
                `${i.component}/${i.stream} (${i.grouping.type}${i.grouping.type === 'fields' ? `: ${i.grouping.fields.join(',')}` : ''})`,
            )
            .join('; ') || '-',
        ]),
      ]).trimEnd(),
    );
    if (packingPlan) {
      lines.push('', `containers (${packingPlan.containers.length} + container 0):`);
      for (const container of packingPlan.containers) {
        lines.push(`  ${container.id}: ${formatResources(container.required)}`);
        lines.push(`     ${container.instances.map((i) => instanceName(container.id, i)).join(' ')}`);
      }
    }
    io.stdout.write(`${lines.join('\n')}\n`);
  });
}

function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return (
    rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') +
    '\n'
  );
}
