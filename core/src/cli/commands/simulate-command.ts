import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../errors/index.js';
import { defaultPolicyRegistry } from '../../simulator/policies.js';
import type { SimulatedPolicyFactory } from '../../simulator/policy-registry.js';
import { formatResult, simulate } from '../../simulator/run.js';
import { loadScenario } from '../../simulator/scenario.js';
import type { CliIo } from '../cli-io.js';

export interface SimulateCommandOptions {
  readonly policy?: string;
  readonly seed?: string;
  readonly json?: boolean;
  readonly policyModule?: readonly string[];
}

/** `ardea simulate <scenario.yaml>`: runs each seed of the scenario (or `--seed`) and prints the action log and metrics. */
export async function simulateCommand(io: CliIo, file: string, options: SimulateCommandOptions): Promise<void> {
  const source = path.resolve(io.cwd, file);
  const scenario = await loadScenario(source);
  const registry = defaultPolicyRegistry();
  for (const specifier of options.policyModule ?? []) {
    for (const factory of await importSimulatedPolicies(io, specifier)) registry.register(factory);
  }
  const policy = options.policy ?? scenario.policy;
  registry.get(policy);
  let seeds = scenario.seeds;
  if (options.seed !== undefined) {
    const seed = Number(options.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed must be a non-negative integer, not '${options.seed}'`);
    seeds = [seed];
  }
  const runs = [];
  for (const seed of seeds) runs.push(await simulate(scenario, { seed, policy, registry, source }));
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ scenario: scenario.name, policy, runs })}\n`);
    return;
  }
  io.stdout.write(runs.map(formatResult).join('\n'));
}

/**
 * Loads a policy author's package (or file, when the specifier starts with `.` or `/`) and returns
 * the factories it exports as `simulatedPolicies`.
 */
async function importSimulatedPolicies(io: CliIo, specifier: string): Promise<readonly SimulatedPolicyFactory[]> {
  const isPath = specifier.startsWith('.') || path.isAbsolute(specifier);
  let loaded: { simulatedPolicies?: unknown };
  try {
    loaded = (await import(isPath ? pathToFileURL(path.resolve(io.cwd, specifier)).href : specifier)) as { simulatedPolicies?: unknown };
  } catch (error) {
    throw new ConfigError(
      `--policy-module ${specifier}: cannot be loaded: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      { cause: error },
    );
  }
  const factories = loaded.simulatedPolicies;
  const valid =
    Array.isArray(factories) &&
    factories.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        typeof (f as SimulatedPolicyFactory).id === 'string' &&
        typeof (f as SimulatedPolicyFactory).create === 'function',
    );
  if (!valid || factories.length === 0) {
    throw new ConfigError(
      `--policy-module ${specifier}: exports no simulatedPolicies; export an array of { id, description, create } (see docs/simulator.md)`,
    );
  }
  return factories as readonly SimulatedPolicyFactory[];
}
