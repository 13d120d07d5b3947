import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import { ArdeaError, describeError } from '../errors/index.js';
import type { ClusterCommandOptions, CliIo } from './cli-io.js';
import { configCommand } from './commands/config-command.js';
import { describeCommand, listCommand } from './commands/state-commands.js';
import { DEFAULT_PACKAGE_SERVER_PORT, packageServerCommand, type PackageServerCommandOptions } from './commands/package-server-command.js';
import { simulateCommand, type SimulateCommandOptions } from './commands/simulate-command.js';
import {
  activationCommand,
  healthCommand,
  killCommand,
  metricsCommand,
  restartCommand,
  submitCommand,
  updateCommand,
} from './commands/topology-commands.js';

const packageJson = createRequire(import.meta.url)('../../package.json') as { version: string };
export const ARDEA_VERSION = packageJson.version;

/** The value of the CLI's exit code for a given outcome. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function clusterOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--config-property <key=value>', 'override a config value (repeatable), e.g. packing.algorithm=first-fit-decreasing')
        .default([])
        .argParser(collect),
    )
    .option('-v, --verbose', 'log what happens to stderr');
}

/**
 * Commands whose parts are not in this build print why and fail, rather than pretend to work.
 * Their help is complete so scripts and docs can be written against it now.
 */
function unavailable(name: string, needs: string): () => never {
  return () => {
    throw new UnavailableCommandError(`'ardea ${name}' needs ${needs}, which is not part of this build yet`);
  };
}

export class UnavailableCommandError extends Error {}

export function createProgram(io: CliIo): Command {
  const program = new Command('ardea')
    .description(
      'Ardea: run stream-processing topologies on local processes, Slurm, Kubernetes, Nomad or YARN, and let them regulate themselves',
    )
    .version(ARDEA_VERSION, '--version', 'print the Ardea version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  clusterOptions(
    program
      .command('submit')
      .description('bundle a topology package, pack it, upload it and start it on a cluster')
      .argument('<cluster>', "'local', a cluster name under $ARDEA_HOME/clusters, or a path to a cluster directory")
      .argument(
        '<package>',
        'a directory with package.json whose "ardea.topology" (or main) default-exports the topology (.ts, .mjs or .js, ' +
          'no build step needed), or a .tgz of one made by npm pack, whose dependencies are installed first',
      )
      .option('--name <name>', 'topology name (default: the one the topology declares)')
      .option('--deploy-deactivated', 'start with spouts paused; activate later')
      .option('--dry-run', 'print the packing plan and stop')
      .addHelpText(
        'after',
        "\nThe package is bundled into one file; @ardea/core comes from the package's node_modules, else from this CLI. " +
          'Dependencies listed in package.json "ardea": { "external": [...] } (native addons) are not bundled but shipped ' +
          'installed beside the bundle.' +
          '\n--config-property keys that start with a concern (scheduler., packing., ...) ' +
          'configure the cluster; others configure the topology:\n  <component>.parallelism=<n>, ' +
          '<component>.<key>=<value> (component config), topology.<key>=<value> (topology config)',
      ),
  ).action(
    (
      cluster: string,
      packagePath: string,
      options: ClusterCommandOptions & { name?: string; deployDeactivated?: boolean; dryRun?: boolean },
    ) => submitCommand(io, cluster, packagePath, options),
  );

  clusterOptions(
    program
      .command('kill')
      .description('stop every container of a topology and remove its state and package')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name'),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions) => killCommand(io, cluster, topology, options));

  for (const [name, what, activate] of [
    ['activate', 'resume the spouts of a paused topology (idempotent)', true],
    ['deactivate', 'pause the spouts of a topology; bolts drain what is in flight (idempotent)', false],
  ] as const) {
    clusterOptions(program.command(name).description(what).argument('<cluster>', 'cluster').argument('<topology>', 'topology name')).action(
      (cluster: string, topology: string, options: ClusterCommandOptions) => activationCommand(io, cluster, topology, activate, options),
    );
  }

  clusterOptions(
    program
      .command('restart')
      .description('restart one container of a topology, or all of them; the others keep running')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .argument('[container]', 'container id (0 is the topology master); all when omitted'),
  ).action((cluster: string, topology: string, container: string | undefined, options: ClusterCommandOptions) =>
    restartCommand(io, cluster, topology, container, options),
  );

  clusterOptions(
    program
      .command('update')
      .description('change parallelism, container count or runtime config of a running topology, touching only what changes')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .addOption(
        new Option('--component-parallelism <component:n>', 'new parallelism of a component (repeatable)').default([]).argParser(collect),
      )
      .option('--container-number <n>', 'number of containers, for packing algorithms that take one')
      .addOption(
        new Option('--runtime-config <component:key=value>', 'change a config value of running instances (repeatable)')
          .default([])
          .argParser(collect),
      )
      .option('--dry-run', 'print the plan diff and stop'),
  ).action(
    (
      cluster: string,
      topology: string,
      options: ClusterCommandOptions & {
        componentParallelism: string[];
        containerNumber?: string;
        runtimeConfig: string[];
        dryRun?: boolean;
      },
    ) => updateCommand(io, cluster, topology, options),
  );

  clusterOptions(program.command('list').description('list the topologies of a cluster').argument('<cluster>', 'cluster')).action(
    (cluster: string, options: ClusterCommandOptions) => listCommand(io, cluster, options),
  );

  clusterOptions(
    program
      .command('describe')
      .description("show a topology's definition, delivery guarantee and last checkpoint, packing plan, execution state and scheduler")
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .option('--json', 'print one JSON object'),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean }) =>
    describeCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('metrics')
      .description('show per-component (and per-instance) counters, latency, acks and backpressure')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .option('--json', 'print one JSON object: { components: { <name>: { ... } } }')
      .option('--instances', 'include every instance')
      .option('--window <ms>', 'window of the windowed values, in milliseconds (default: the topology metricsWindowMs)'),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean; instances?: boolean; window?: string }) =>
    metricsCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('health')
      .description("show the health manager's action log: symptoms, diagnoses, actions and their verdicts")
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .option('--json', 'print the log as JSON'),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean }) =>
    healthCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('tracker')
      .description('serve the tracker REST API and web UI for the topologies of a cluster')
      .argument('<cluster>', 'cluster')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0 picks a free one)', '8888'),
  ).action(unavailable('tracker', 'the tracker service'));

  clusterOptions(
    program
      .command('config')
      .description('print the merged, validated configuration of a cluster, with where each part came from')
      .argument('<cluster>', 'cluster')
      .option('--json', 'print JSON instead of YAML'),
  ).action((cluster: string, options: ClusterCommandOptions & { json?: boolean }) => configCommand(io, cluster, options));

  program
    .command('simulate')
    .description('run a health policy against a simulated topology in virtual time; print the action log and convergence metrics')
    .argument('<scenario>', 'scenario YAML file (see docs/simulator.md)')
    .option('--policy <id>', "policy to run (default: the scenario's, else dynamic-resource-provisioning)")
    .option('--seed <n>', "run this seed instead of the scenario's seeds")
    .option(
      '--policy-module <module>',
      'also offer the policies a package or file exports as `simulatedPolicies` (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--json', 'print one JSON object: { scenario, policy, runs: [...] }')
    .action((scenario: string, options: SimulateCommandOptions) => simulateCommand(io, scenario, options));

  program
    .command('package-server')
    .description(
      'serve topology packages and checkpoints to containers that share no filesystem with this machine ' +
        "(the server of the 'http' uploader and checkpoint storage)",
    )
    .requiredOption('--dir <dir>', 'directory to keep packages in (created private if missing)')
    .requiredOption(
      '--token-file <file>',
      'file with the bearer token uploads and removals must carry; created with a random token if missing',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', String(DEFAULT_PACKAGE_SERVER_PORT))
    .option('--max-package-size <bytes>', 'largest package accepted, e.g. 512MiB (default 512MiB)')
    .option('--max-checkpoint-part-size <bytes>', 'largest checkpoint part accepted, e.g. 2GiB (default 1GiB)')
    .action((options: PackageServerCommandOptions) => packageServerCommand(io, options));

  return program;
}

/** Runs the CLI and returns the exit code; failures are one line on stderr, with an error's detail (a user stack) indented under it. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    io.stderr.write(`ardea: ${describeError(error)}\n`);
    if (error instanceof ArdeaError && error.detail) io.stderr.write(`${error.detail.replace(/^/gm, '  ')}\n`);
    return EXIT_FAILURE;
  }
}
