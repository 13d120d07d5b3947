import path from 'node:path';
import { ConfigError } from '../../errors/index.js';
import { defaultPolicyRegistry } from '../../simulator/policies.js';
import { formatResult, simulate } from '../../simulator/run.js';
import { loadScenario } from '../../simulator/scenario.js';
import type { CliIo } from '../cli-io.js';

export interface SimulateCommandOptions {
  readonly policy?: string;
  readonly seed?: string;
  readonly json?: boolean;
}

/** `ardea simulate <scenario.yaml>`: runs each seed of the scenario (or `--seed`) and prints the action log and metrics. */
export async function simulateCommand(io: CliIo, file: string, options: SimulateCommandOptions): Promise<void> {
  const source = path.resolve(io.cwd, file);
  const scenario = await loadScenario(source);
  const registry = defaultPolicyRegistry();
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
