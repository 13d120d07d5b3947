import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../cli/cli-io.js';
import { EXIT_FAILURE, EXIT_OK, runCli } from '../cli/program.js';
import { ConfigError } from '../errors/index.js';
import { TopologyModel, type ModelSpec } from './model.js';
import { optimumAt, simulate } from './run.js';
import { loadScenario, parseScenario, validateScenario } from './scenario.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/scenarios');

function spec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    topologyName: 'word-count',
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, serviceRate: 100_000, tupleBytes: 100, inputs: [] },
      {
        name: 'split',
        kind: 'bolt',
        parallelism: 2,
        serviceRate: 1000,
        tupleBytes: 100,
        inputs: [{ from: 'sentence', grouping: { type: 'shuffle' }, selectivity: 1 }],
      },
      {
        name: 'count',
        kind: 'bolt',
        parallelism: 3,
        serviceRate: 5000,
        tupleBytes: 20,
        inputs: [{ from: 'split', grouping: { type: 'fields', zipfExponent: 1.1, keys: 1000 }, selectivity: 10 }],
      },
    ],
    load: { type: 'steps', rate: 1000, steps: [{ at: 60, rate: 3000 }] },
    catchUp: 2,
    arrivals: 'poisson',
    highWatermarkBytes: 1024 * 1024,
    lowWatermarkBytes: 512 * 1024,
    reconfigurationPauseSec: 5,
    containers: 2,
    seed: 1,
    ...overrides,
  };
}

const wordCountStep = (factor: number, extra: Record<string, unknown> = {}) =>
  validateScenario({
    name: `word-count-step-x${factor}`,
    topology: { builtin: 'word-count', parallelism: { split: 1, count: 2 } },
    load: { type: 'steps', rate: 500, steps: [{ at: 600, factor }] },
    duration: 1500,
    ...extra,
  });

describe('the topology model', () => {
  it(
    'conserves tuples: offered = emitted + lag, and received = executed + queued + dropped by restarts, ' +
      'through rescaling, a restart, a crash loop, skew, a slow instance and a CPU cap',
    () => {
      const model = new TopologyModel(
        spec({
          cpuCores: 2,
          slowInstance: { component: 'split', instance: 1, factor: 5, at: 30, clearedByRestart: true },
          crashingInstance: { component: 'count', instance: 0, at: 20, everySec: 5, clearedByRestart: false },
        }),
      );
      model.advanceTo(90_000);
      model.advanceTo(model.requestScale({ split: 5, count: 1 }));
      model.setRuntimeConfig('sentence', '__shuffleWeights', { 1: 0.5 });
      model.advanceTo(150_000);
      model.advanceTo(model.requestRestart(1));
      model.advanceTo(200_000);
      const a = model.accounting();
      const close = (x: number, y: number) => expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(y)));
      expect(a.arrived.sentence).toBeGreaterThan(0);
      close(a.arrived.sentence!, a.processed.sentence! + a.lag.sentence!);
      close(a.received.split!, a.processed.sentence!);
      close(a.received.split!, a.processed.split! + a.queued.split! + a.dropped.split!);
      close(a.received.count!, a.processed.split! * 10);
      close(a.received.count!, a.processed.count! + a.queued.count! + a.dropped.count!);
      expect(a.dropped.split! + a.dropped.count!).toBeGreaterThan(0);
    },
  );

  it('pauses every spout while any queue is above the high watermark, until it drains below the low one', () => {
    // One split instance takes 1,000 sentences/s; 500 arrive, then 3,000 from t = 60 s.
    const components = spec().components.map((c) =>
      c.name === 'count' ? { ...c, serviceRate: 1e6 } : c.name === 'split' ? { ...c, parallelism: 1 } : c,
    );
    const model = new TopologyModel(
      spec({ arrivals: 'fluid', components, load: { type: 'steps', rate: 500, steps: [{ at: 60, rate: 3000 }] } }),
    );
    let pausedSeen = false;
    let resumedAfterPause = false;
    let emittedWhilePaused = 0;
    for (let t = 100; t <= 120_000; t += 100) {
      const wasPaused = model.isPaused();
      const before = model.accounting().processed.sentence!;
      model.advanceTo(t);
      if (wasPaused) emittedWhilePaused += model.accounting().processed.sentence! - before;
      const queues = model
        .instances()
        .filter((i) => i.component === 'split')
        .map((i) => i.queueBytes);
      if (Math.max(...queues) > 1024 * 1024) {
        expect(model.isPaused()).toBe(true);
        pausedSeen = true;
      }
      if (wasPaused && !model.isPaused()) {
        resumedAfterPause = true;
        expect(Math.max(...queues)).toBeLessThanOrEqual(512 * 1024);
      }
    }
    expect(pausedSeen).toBe(true);
    expect(resumedAfterPause).toBe(true);
    expect(emittedWhilePaused).toBe(0);
    // Throughput is the bottleneck's: the spout emitted about what one split instance executes.
    expect(model.accounting().processed.sentence! - model.accounting().processed.split!).toBeLessThanOrEqual((1024 * 1024) / 100 + 1);
  });
});

describe('simulate', () => {
  it('gives the same action log and metrics for the same seed, bit for bit, and different ones for another seed under noise', async () => {
    const scenario = wordCountStep(4, { noise: { cv: 0.1 }, source: { arrivals: 'poisson' } });
    const first = JSON.stringify(await simulate(scenario, { seed: 11 }));
    const second = JSON.stringify(await simulate(scenario, { seed: 11 }));
    const other = JSON.stringify(await simulate(scenario, { seed: 12 }));
    expect(second).toBe(first);
    expect(JSON.parse(second)).toEqual(JSON.parse(first));
    expect(other).not.toBe(first);
  });

  it('converges after a ×4 step within 2 action rounds to within +1 of p*(u_target) when spouts do not catch up', async () => {
    const result = await simulate(wordCountStep(4, { source: { catchUp: 1 } }));
    const step = result.metrics.regimes.find((r) => r.at === 600)!;
    expect(step.optimum.atTarget).toEqual({ split: 3, count: 5 });
    expect(step).toMatchObject({ converged: true, withinOneOfOptimum: true, underProvisioned: [] });
    expect(step.roundsToConverge).toBeLessThanOrEqual(2);
  });

  it('tells spouts catching up on a backlog from more load when they report the backlog, and overshoots when they do not', async () => {
    const scenario = await loadScenario(path.join(EXAMPLES, 'word-count-step-x4.yaml'));
    const run = (reportsBacklog: boolean) =>
      simulate(validateScenario({ ...scenario, noise: { cv: 0 }, source: { ...scenario.source, reportsBacklog } }), { seed: 1 });
    const reported = (await run(true)).metrics;
    const step = reported.regimes.find((r) => r.at === 600)!;
    expect(step).toMatchObject({ converged: true, overProvisioning: 0, withinOneOfOptimum: true, underProvisioned: [] });
    expect(step.roundsToConverge).toBeLessThanOrEqual(2);
    expect(reported.reversals).toBe(0);
    // Without it, emit ÷ unpaused time counts the catch-up (up to 2× the arrivals) as load.
    const hidden = (await run(false)).metrics;
    const overshoot = hidden.regimes.find((r) => r.at === 600)!;
    expect(overshoot.overProvisioning!).toBeGreaterThan(0.2);
    expect(hidden.reversals).toBeGreaterThan(0);
  });

  it('takes no action on stationary load with 20 % metric noise', async () => {
    const scenario = validateScenario({
      name: 'stationary-noise',
      topology: { builtin: 'word-count', parallelism: { split: 1, count: 2 } },
      load: { type: 'constant', rate: 500 },
      source: { arrivals: 'poisson' },
      duration: 6000,
      noise: { cv: 0.2 },
    });
    for (const seed of [1, 2, 3]) {
      const result = await simulate(scenario, { seed });
      expect(result.metrics.policyRounds).toBeGreaterThan(190);
      expect(result.actionLog.flatMap((r) => r.actions)).toEqual([]);
    }
  });

  it('diagnoses a 10× slow instance as such and adds no instance', async () => {
    const scenario = validateScenario({
      name: 'slow-split',
      topology: { builtin: 'word-count', parallelism: { split: 4, count: 5 } },
      load: { type: 'constant', rate: 2000 },
      duration: 900,
      noise: { cv: 0.05 },
      slowInstance: { component: 'split', instance: 1, factor: 10, at: 300 },
    });
    const result = await simulate(scenario, { seed: 3 });
    const diagnosed = result.actionLog.find((r) => r.diagnoses.some((d) => d.type === 'slow-instance' && d.component === 'split'));
    expect(diagnosed).toBeDefined();
    expect(diagnosed!.at).toBeLessThanOrEqual(300_000 + 2 * 30_000);
    expect(result.actionLog.flatMap((r) => r.diagnoses).filter((d) => d.type !== 'slow-instance')).toEqual([]);
    expect(result.actionLog.flatMap((r) => r.actions).filter((a) => a.type === 'scale-up')).toEqual([]);
    expect(result.metrics.finalParallelism).toMatchObject({ split: 4, count: 5 });
  });

  it('names the key of an invalid scenario', () => {
    expect(() =>
      parseScenario('name: x\ntopology: { builtin: word-count }\nload: { type: constant, rate: -1 }\nduration: 10\n', 's.yaml'),
    ).toThrow(/^s\.yaml: load\.rate: /);
    expect(() =>
      parseScenario('name: x\ntopology: { builtin: word-count, rate: {} }\nload: { type: constant, rate: 1 }\nduration: 10\n', 's.yaml'),
    ).toThrow(ConfigError);
    expect(() =>
      parseScenario('name: x\ntopology: { builtin: word-count, rate: {} }\nload: { type: constant, rate: 1 }\nduration: 10\n', 's.yaml'),
    ).toThrow('s.yaml: topology.rate: unknown key');
    expect(() =>
      parseScenario(
        'name: x\ntopology: { builtin: word-count }\nload: { type: steps, rate: 1, steps: [{ at: 5 }] }\nduration: 10\n',
        's.yaml',
      ),
    ).toThrow("s.yaml: load.steps.0: give either 'rate' or 'factor'");
    expect(() =>
      parseScenario(
        'name: x\ntopology: { builtin: word-count }\nload: { type: constant, ' +
          'rate: 1 }\nduration: 10\nslowInstance: { component: nope, factor: 3 }\n',
        's.yaml',
      ),
    ).toThrow("s.yaml: slowInstance.component: no component 'nope'");
  });
});

describe('ardea simulate', () => {
  async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: { write: (c: string) => (stdout += c) },
      stderr: { write: (c: string) => (stderr += c) },
      env: {},
      cwd: EXAMPLES,
    };
    return { code: await runCli(argv, io), stdout, stderr };
  }

  it('prints the action log and the metrics of an example scenario', async () => {
    const { code, stdout, stderr } = await run('simulate', 'word-count-step-x4.yaml', '--seed', '2');
    expect(stderr).toBe('');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/^scenario word-count-step-x4, policy dynamic-resource-provisioning, seed 2: 1800 virtual s/);
    expect(stdout).toMatch(/under-provisioned \w+: scale up: /);
    expect(stdout).toContain('t=600s load λ0=2000/s p*(1)=split=2 count=4 p*(0.85)=split=3 count=5');
    expect(stdout).toMatch(/^actions \d+ \(reports \d+\), reversals \d+, false positives \d+, backpressure [\d.]+ s/m);
  });

  it('prints one JSON object with --json, the same for the same seed', async () => {
    const first = await run('simulate', 'word-count-step-x4.yaml', '--seed', '5', '--json');
    const second = await run('simulate', 'word-count-step-x4.yaml', '--seed', '5', '--json');
    expect(first.code).toBe(EXIT_OK);
    expect(second.stdout).toBe(first.stdout);
    const parsed = JSON.parse(first.stdout) as {
      scenario: string;
      policy: string;
      runs: Array<{ seed: number; metrics: { actions: number }; actionLog: unknown[] }>;
    };
    expect(parsed).toMatchObject({ scenario: 'word-count-step-x4', policy: 'dynamic-resource-provisioning' });
    expect(parsed.runs.map((r) => r.seed)).toEqual([5]);
    expect(parsed.runs[0]!.metrics.actions).toBeGreaterThan(0);
  });

  it('fails with one line for an unknown policy or a bad scenario', async () => {
    const unknown = await run('simulate', 'word-count-step-x4.yaml', '--policy', 'flink-lite');
    expect(unknown.code).toBe(EXIT_FAILURE);
    expect(unknown.stderr).toBe(
      "ardea: unknown policy 'flink-lite'; registered: auto-restart, ds2, dynamic-resource-provisioning, flink-autoscaler, " +
        'heron-dhalion, throughput-slo\n',
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ardea-sim-'));
    try {
      writeFileSync(
        path.join(dir, 'bad.yaml'),
        'name: bad\ntopology: { builtin: word-count }\nload: { type: constant, rate: 10 }\nduration: 60\nnoise: { cv: 9 }\n',
      );
      const bad = await run('simulate', path.join(dir, 'bad.yaml'));
      expect(bad.code).toBe(EXIT_FAILURE);
      expect(bad.stderr).toMatch(new RegExp(`^ardea: ${path.join(dir, 'bad.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: noise\\.cv: `));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the analytic optimum', () => {
  it('sizes load read with all grouping per instance: it reaches every instance in full', () => {
    const components: ModelSpec['components'] = [
      { name: 'source', kind: 'spout', parallelism: 1, serviceRate: 100_000, tupleBytes: 100, inputs: [] },
      {
        name: 'parse',
        kind: 'bolt',
        parallelism: 1,
        serviceRate: 1000,
        tupleBytes: 100,
        inputs: [{ from: 'source', grouping: { type: 'shuffle' }, selectivity: 1 }],
      },
      {
        name: 'cache',
        kind: 'bolt',
        parallelism: 3,
        serviceRate: 1000,
        tupleBytes: 100,
        inputs: [{ from: 'source', grouping: { type: 'all' }, selectivity: 0.1 }],
      },
    ];
    const optimum = optimumAt({ components }, 2000, 1);
    expect(optimum.atFullUtilization).toEqual({ parse: 2, cache: 1 });
    // 200/s reach each cache instance; at 10 % utilization one manages 100/s, and no count of them more.
    expect(optimumAt({ components }, 2000, 0.1).atTarget.cache).toBe(3);
  });
});
