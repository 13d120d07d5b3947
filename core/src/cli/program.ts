import { Argument, Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import { ArdeaError, describeError } from '../errors/index.js';
import {
  checkPort,
  checkSinkInterval,
  parseByteCount,
  parseContainerCount,
  parseContainerId,
  parseTimeoutSeconds,
  parseWatchSeconds,
  parseWindowMs,
} from './arguments.js';
import type { ClusterCommandOptions, CliIo } from './cli-io.js';
import { completeWordsCommand, completionCommand } from './commands/completion-command.js';
import { exceptionsCommand, logsCommand, statusCommand, versionCommand } from './commands/operator-commands.js';
import { configCommand } from './commands/config-command.js';
import { describeCommand, listCommand } from './commands/state-commands.js';
import { DEFAULT_PACKAGE_SERVER_PORT, packageServerCommand, type PackageServerCommandOptions } from './commands/package-server-command.js';
import { simulateCommand, type SimulateCommandOptions } from './commands/simulate-command.js';
import { DEFAULT_TRACKER_PORT, trackerCommand, type TrackerCommandOptions } from './commands/tracker-command.js';
import { DEFAULT_WATCH_SECONDS } from './watch.js';
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

const jsonOption = (what = 'print one JSON object') => new Option('--json', what);

/** `--watch [seconds]`: put it after the arguments, or it takes the next one as its value. */
const watchOption = () =>
  new Option('--watch [seconds]', `redraw every N seconds (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C`)
    .preset(String(DEFAULT_WATCH_SECONDS))
    .argParser(parseWatchSeconds);

const timeoutOption = (what: string) =>
  new Option('--timeout <seconds>', `how long to wait for ${what} before failing (default 60)`).argParser(parseTimeoutSeconds);

function clusterOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--config-property <key=value>', 'override a config value (repeatable), e.g. packing.algorithm=first-fit-decreasing')
        .default([])
        .argParser(collect),
    )
    .option('-v, --verbose', 'log what happens to stderr');
}

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
      .addOption(timeoutOption('every container to run and the physical plan to be live'))
      .addOption(jsonOption('print { topology, id, cluster, containers, dryRun } (progress stays on stderr)'))
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
      options: ClusterCommandOptions & { name?: string; deployDeactivated?: boolean; dryRun?: boolean; json?: boolean; timeout?: number },
    ) => submitCommand(io, cluster, packagePath, options),
  );

  clusterOptions(
    program
      .command('kill')
      .description('stop every container of a topology and remove its state and package')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .addOption(jsonOption()),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean }) =>
    killCommand(io, cluster, topology, options),
  );

  for (const [name, what, activate] of [
    ['activate', 'resume the spouts of a paused topology (idempotent)', true],
    ['deactivate', 'pause the spouts of a topology; bolts drain what is in flight (idempotent)', false],
  ] as const) {
    clusterOptions(
      program
        .command(name)
        .description(what)
        .argument('<cluster>', 'cluster')
        .argument('<topology>', 'topology name')
        .addOption(jsonOption()),
    ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean }) =>
      activationCommand(io, cluster, topology, activate, options),
    );
  }

  clusterOptions(
    program
      .command('restart')
      .description('restart one container of a topology, or all of them; the others keep running')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .addArgument(new Argument('[container]', 'container id (0 is the topology master); all when omitted').argParser(parseContainerId))
      .addOption(jsonOption()),
  ).action((cluster: string, topology: string, container: number | undefined, options: ClusterCommandOptions & { json?: boolean }) =>
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
      .addOption(
        new Option('--container-number <n>', 'number of containers, for packing algorithms that take one').argParser(parseContainerCount),
      )
      .addOption(
        new Option('--runtime-config <component:key=value>', 'change a config value of running instances (repeatable)')
          .default([])
          .argParser(collect),
      )
      .option(
        '--unpin [component...]',
        'end the hold a manual update put on these components (all, if none is named): the health manager may scale them again',
      )
      .option('--dry-run', 'print the plan diff and stop')
      .addOption(timeoutOption('every container to run the new plan'))
      .addOption(
        jsonOption(
          'print the plan diff: { components: { <c>: { before, after } }, startedInstances, stoppedInstances, ' +
            'addedContainers, removedContainers, elapsedMs, dryRun }',
        ),
      ),
  ).action(
    (
      cluster: string,
      topology: string,
      options: ClusterCommandOptions & {
        componentParallelism: string[];
        containerNumber?: number;
        runtimeConfig: string[];
        unpin?: string[] | true;
        dryRun?: boolean;
        json?: boolean;
        timeout?: number;
      },
    ) => updateCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('list')
      .description('list the topologies of a cluster')
      .argument('<cluster>', 'cluster')
      .addOption(jsonOption('print { cluster, topologies: [{ name, state, submittedAt, submittedBy }] }')),
  ).action((cluster: string, options: ClusterCommandOptions & { json?: boolean }) => listCommand(io, cluster, options));

  clusterOptions(
    program
      .command('status')
      .description("show a topology's containers: state, pool handle (a pid, a job id, a pod), restarts and host")
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .addOption(jsonOption('print { topology, cluster, state, timestamp, containers: [...] }'))
      .addOption(watchOption()),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean; watch?: number }) =>
    statusCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('logs')
      .description("print the end of a container's log (what its processes wrote), and with -f what it writes next")
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .addArgument(
        new Argument('[container]', "container id; 0 (the topology master's) when omitted; 'ardea status' lists them")
          .argParser(parseContainerId)
          .default(0),
      )
      .option('-f, --follow', 'keep printing what is written until Ctrl-C, across restarts of the container')
      .addOption(new Option('--bytes <n>', 'how much of the end of the log to print, in bytes (default 16384)').argParser(parseByteCount))
      .addOption(jsonOption('print the log as { containerId, text, start, end, source } (with -f, one object a line)')),
  ).action(
    (
      cluster: string,
      topology: string,
      container: number,
      options: ClusterCommandOptions & { json?: boolean; follow?: boolean; bytes?: number },
    ) => logsCommand(io, cluster, topology, container, options),
  );

  clusterOptions(
    program
      .command('exceptions')
      .description('show what user code threw: per instance the error count and the last error with its stack trace')
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .option('--component <component>', 'only the instances of this component')
      .addOption(jsonOption('print { timestamp, instances: [{ instance, component, containerId, taskId, count, last? }] }')),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean; component?: string }) =>
    exceptionsCommand(io, cluster, topology, options),
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
      .addOption(
        new Option('--window <ms>', 'window of the windowed values, in milliseconds (default: the topology metricsWindowMs)').argParser(
          parseWindowMs,
        ),
      )
      .addOption(watchOption()),
  ).action(
    (
      cluster: string,
      topology: string,
      options: ClusterCommandOptions & { json?: boolean; instances?: boolean; window?: number; watch?: number },
    ) => metricsCommand(io, cluster, topology, options),
  );

  clusterOptions(
    program
      .command('health')
      .description(
        "show the health manager's mode and action log: symptoms, diagnoses, actions (or proposals) and their verdicts, " +
          "the operator's holds and updates",
      )
      .argument('<cluster>', 'cluster')
      .argument('<topology>', 'topology name')
      .option('--json', 'print { mode, rounds, pins, operatorActions } as JSON')
      .addOption(watchOption()),
  ).action((cluster: string, topology: string, options: ClusterCommandOptions & { json?: boolean; watch?: number }) =>
    healthCommand(io, cluster, topology, options),
  );

  program
    .command('tracker')
    .description('serve the tracker REST API, web UI and Prometheus /metrics over the topologies of one or more clusters')
    .addOption(new Option('--host <host>', 'address to listen on; off loopback a bearer token is required').default('127.0.0.1'))
    .addOption(
      new Option('--port <port>', 'port to listen on (0 picks a free one)').default(String(DEFAULT_TRACKER_PORT)).argParser(checkPort),
    )
    .addOption(
      new Option('--cluster <cluster>', 'cluster to serve (repeatable; default: local and every cluster in $ARDEA_HOME/clusters)')
        .default([])
        .argParser(collect),
    )
    .option(
      '--token-file <file>',
      'bearer token file, created private with a random token if missing ' +
        '(default when off loopback or with --require-token: $ARDEA_HOME/tracker.token)',
    )
    .option('--require-token', 'require the bearer token even on loopback')
    .addOption(
      new Option(
        '--sink-module <module>',
        'module (path or package, module#export) exporting an inversify ContainerModule that binds MetricsSink (repeatable)',
      )
        .default([])
        .argParser(collect),
    )
    .addOption(
      new Option('--sink-interval <seconds>', 'how often metrics are handed to sinks other than Prometheus (default 10)').argParser(
        checkSinkInterval,
      ),
    )
    .option('-v, --verbose', 'log what happens to stderr')
    .action((options: TrackerCommandOptions) => trackerCommand(io, options));

  clusterOptions(
    program
      .command('config')
      .description('print the merged, validated configuration of a cluster, with where each part came from')
      .argument('<cluster>', 'cluster')
      .option('--json', 'print JSON instead of YAML'),
  ).action((cluster: string, options: ClusterCommandOptions & { json?: boolean }) => configCommand(io, cluster, options));

  clusterOptions(
    program
      .command('version')
      .description(
        'print the versions of the CLI and Node; with a cluster, of the plugins its config loads; ' +
          'with a topology too, what its container 0 runs (Ardea, Node, host)',
      )
      .argument('[cluster]', 'cluster')
      .argument('[topology]', 'topology name')
      .addOption(jsonOption('print { cli, cluster?, topology? }')),
  ).action((cluster: string | undefined, topology: string | undefined, options: ClusterCommandOptions & { json?: boolean }) =>
    versionCommand(io, cluster, topology, options),
  );

  program
    .command('completion')
    .description('print a shell completion script for commands, options, clusters and topology names')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .addHelpText(
      'after',
      '\nbash: add  eval "$(ardea completion bash)"  to ~/.bashrc' +
        '\nzsh:  ardea completion zsh > ~/.zsh/completions/_ardea  (a directory in $fpath, before compinit),' +
        '\n      or add  source <(ardea completion zsh)  to ~/.zshrc after compinit',
    )
    .action((shell: string) => completionCommand(io, program, shell));

  // What the completion scripts call for names only a state manager knows.
  program
    .command('__complete', { hidden: true })
    .argument('<what>')
    .argument('[cluster]')
    .action((what: string, cluster: string | undefined) => completeWordsCommand(io, what, cluster));

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
