import { HealthManager } from '../healthmgr/health-manager.js';
import { SilentLogger } from '../logging/index.js';
import type { HealthRound } from '../model/runtime-state.js';
import { MemoryStateManager, SimulatorActuator, SimulatorSensor } from './adapters.js';
import { offeredRate } from './load-profile.js';
import { TopologyModel, type ModelSpec } from './model.js';
import { defaultPolicyRegistry } from './policies.js';
import type { SimulatedPolicyRegistry } from './policy-registry.js';
import { Prng, streamSeed } from './prng.js';
import { modelSpecOf, type Scenario } from './scenario.js';

/** Actions that change the topology (a `report` changes nothing). */
const CHANGES_TOPOLOGY = new Set(['scale-up', 'scale-down', 'route-around', 'restart']);
/** Default u_target of dhalion.md §7 when the policy names none. */
const DEFAULT_TARGET_UTILIZATION = 0.8;
/** Paused time up to this many ms per second counts as no backpressure (Heron's noise filter). */
const BACKPRESSURE_NOISE_MS_PER_SEC = 20;

export interface Optimum {
  /** p*(1): the fewest instances that take the load without backpressure (DS2's notion). */
  readonly atFullUtilization: Readonly<Record<string, number>>;
  /** p*(u_target). */
  readonly atTarget: Readonly<Record<string, number>>;
}

/** One regime: from a change of the analytic optimum (or a fault, or the start) to the next. */
export interface RegimeMetrics {
  readonly at: number;
  readonly cause: 'start' | 'load' | FaultCause;
  readonly offeredRate: number;
  readonly optimum: Optimum;
  readonly converged: boolean;
  /** Policy rounds that changed the topology between the change and convergence. */
  readonly roundsToConverge?: number;
  /** Virtual seconds from the change until the clean stretch that established convergence began. */
  readonly secondsToConverge?: number;
  readonly parallelismAtConvergence?: Readonly<Record<string, number>>;
  /** Σ(p − p*(u_target)) / Σ p*(u_target) over bolts, at convergence. */
  readonly overProvisioning?: number;
  /** Every bolt at most p*(u_target) + 1 at convergence. */
  readonly withinOneOfOptimum?: boolean;
  /** Bolts below p*(1) at convergence. */
  readonly underProvisioned?: readonly string[];
}

export interface SimulationMetrics {
  readonly virtualSeconds: number;
  readonly policyRounds: number;
  readonly targetUtilization: number;
  /** Actions that changed the topology (scale, route-around, restart). */
  readonly actions: number;
  readonly reports: number;
  readonly reversals: number;
  /** Actions taken after the topology had converged in the same regime. */
  readonly falsePositives: number;
  /** Virtual seconds the spouts were paused by backpressure. */
  readonly backpressureSeconds: number;
  readonly maxLag: number;
  readonly finalLag: number;
  readonly regimes: readonly RegimeMetrics[];
  readonly finalParallelism: Readonly<Record<string, number>>;
  readonly finalOptimum: Optimum;
  /** Bolts below p*(1) at the end of the run. */
  readonly underProvisionedAtEnd: readonly string[];
}

export interface SimulationResult {
  readonly scenario: string;
  readonly policy: string;
  readonly seed: number;
  readonly metrics: SimulationMetrics;
  readonly actionLog: readonly HealthRound[];
}

export interface SimulateOptions {
  readonly seed?: number;
  /** Overrides the scenario's `policy`. */
  readonly policy?: string;
  readonly registry?: SimulatedPolicyRegistry;
  /** Names the scenario in errors. */
  readonly source?: string;
}

interface Observation {
  readonly atMs: number;
  readonly pausedMs: number;
  readonly lag: number;
  readonly changed: boolean;
  readonly parallelism: Readonly<Record<string, number>>;
}

/**
 * Runs one seed of a scenario: the model in virtual time, and the health manager's rounds driven
 * every policy interval with its clock set to virtual time (a round that starts while an update
 * still runs is skipped, as the manager's own timer skips it).
 */
export async function simulate(scenario: Scenario, options: SimulateOptions = {}): Promise<SimulationResult> {
  const seed = options.seed ?? scenario.seeds[0]!;
  const spec = modelSpecOf(scenario, seed, options.source);
  const model = new TopologyModel(spec);
  const sensor = new SimulatorSensor(model, { cv: scenario.noise.cv, rng: new Prng(streamSeed(seed, 1)) }, scenario.source.reportsBacklog);
  const actuator = new SimulatorActuator(model);
  const state = new MemoryStateManager();
  await state.start();
  const policyId = options.policy ?? scenario.policy;
  const factory = (options.registry ?? defaultPolicyRegistry()).get(policyId);
  const built = factory.create({ sensor, actuator, settings: scenario.policies[policyId] ?? {} });
  const policy = built.policy;
  const intervalMs = policy.intervalMs;
  const windowMs = policy.windowMs ?? 2 * intervalMs;
  model.keepHistory(windowMs);
  const manager = new HealthManager({
    topologyName: spec.topologyName,
    policies: [policy],
    state,
    readTopology: async () => model.topology(),
    logger: new SilentLogger(),
    minWindowMs: 2000,
    noiseMsPerSec: built.noiseMsPerSec,
    logRounds: Number.MAX_SAFE_INTEGER,
    clock: () => model.now,
  });
  const u = scenario.metrics.targetUtilization ?? built.targetUtilization ?? DEFAULT_TARGET_UTILIZATION;
  const endMs = scenario.duration * 1000;
  const observations: Observation[] = [];
  let maxLag = 0;
  let next = Math.max(intervalMs, Math.ceil(windowMs / intervalMs) * intervalMs);
  let pausedBefore = 0;
  while (next <= endMs) {
    model.advanceTo(next);
    const round = await manager.runRound(policy);
    const changed = round?.actions.some((a) => CHANGES_TOPOLOGY.has(a.type)) ?? false;
    maxLag = Math.max(maxLag, model.totalLag());
    observations.push({
      atMs: next,
      pausedMs: model.totalPausedMs() - pausedBefore,
      lag: model.totalLag(),
      changed,
      parallelism: model.parallelism(),
    });
    pausedBefore = model.totalPausedMs();
    next += intervalMs;
    // An update that outlasted the interval swallows the rounds that fell inside it.
    while (next < model.now) next += intervalMs;
  }
  model.advanceTo(endMs);
  maxLag = Math.max(maxLag, model.totalLag());
  const actionLog = (await state.get('healthLog', spec.topologyName))?.rounds ?? [];
  await state.close();
  const bolts = spec.components.filter((c) => c.kind === 'bolt').map((c) => c.name);
  const regimes = regimesOf(spec, u, endMs).map((r) => measureRegime(r, observations, intervalMs, bolts));
  const changing = actionLog.flatMap((round) =>
    round.actions.filter((a) => CHANGES_TOPOLOGY.has(a.type)).map((a) => ({ at: round.at, action: a })),
  );
  const falsePositives = changing.filter(({ at }) => {
    const regime = [...regimes].reverse().find((r) => r.at * 1000 <= at);
    return regime?.converged === true && regime.convergedRoundAt !== undefined && at > regime.convergedRoundAt;
  }).length;
  const finalOptimum = optimumAt(spec, offeredRate(spec.load, endMs / 1000), u);
  const finalParallelism = model.parallelism();
  return {
    scenario: scenario.name,
    policy: policy.id,
    seed,
    metrics: {
      virtualSeconds: endMs / 1000,
      policyRounds: observations.length,
      targetUtilization: u,
      actions: changing.length,
      reports: actionLog.reduce((acc, r) => acc + r.actions.filter((a) => !CHANGES_TOPOLOGY.has(a.type)).length, 0),
      reversals: countReversals(changing.map((c) => c.action.parameters)),
      falsePositives,
      backpressureSeconds: model.totalPausedMs() / 1000,
      maxLag: Math.round(maxLag),
      finalLag: Math.round(model.totalLag()),
      regimes: regimes.map(({ convergedRoundAt: _internal, ...r }) => r),
      finalParallelism,
      finalOptimum,
      underProvisionedAtEnd: bolts.filter((b) => finalParallelism[b]! < finalOptimum.atFullUtilization[b]!),
    },
    actionLog,
  };
}

/**
 * The analytic optimum for an offered source rate (DS2's model): each bolt's input rate is what its
 * upstream components emit at that load; p*_i(u) = ceil(λ_i / (u·μ_i)), where load read with all
 * grouping reaches every instance in full: p*_i(u) = ceil(λ_div / (u·μ_i − λ_all)). Slow instances, skew and a
 * CPU cap are not part of it: they are faults and limits, not provisioning.
 */
export function optimumAt(spec: Pick<ModelSpec, 'components'>, lambda0: number, u: number): Optimum {
  const out = new Map<string, number>();
  const atFull: Record<string, number> = {};
  const atTarget: Record<string, number> = {};
  const pending = [...spec.components];
  while (pending.length > 0) {
    const index = pending.findIndex((c) => c.inputs.every((i) => out.has(i.from)));
    const component = pending.splice(index, 1)[0]!;
    if (component.kind === 'spout') {
      out.set(component.name, lambda0 * (component.loadShare ?? 1));
      continue;
    }
    // Behind all grouping every instance gets the full rate: that part does not shrink with more
    // instances (and is executed once per instance), as the health manager's sizing has it.
    const rateOf = (all: boolean) =>
      component.inputs.filter((i) => (i.grouping.type === 'all') === all).reduce((acc, i) => acc + out.get(i.from)! * i.selectivity, 0);
    const divided = rateOf(false);
    const replicated = rateOf(true);
    out.set(component.name, divided + replicated * component.parallelism);
    const need = (util: number) => {
      const spare = util * component.serviceRate - replicated;
      return spare > 0 ? Math.max(1, Math.ceil(divided / spare - 1e-9)) : component.parallelism;
    };
    atFull[component.name] = need(1);
    atTarget[component.name] = need(u);
  }
  return { atFullUtilization: atFull, atTarget };
}

type FaultCause = 'slow-instance' | 'hung-instance' | 'crashing-instance';

interface Regime {
  readonly at: number;
  readonly end: number;
  readonly cause: RegimeMetrics['cause'];
  readonly offeredRate: number;
  readonly optimum: Optimum;
}

/** Splits the run where the analytic optimum p*(u_target) changes, and where a fault appears. */
function regimesOf(spec: ModelSpec, u: number, endMs: number): Regime[] {
  const tick = 100;
  const regimes: Array<Omit<Regime, 'end'>> = [];
  let key = '';
  const faults: Array<[FaultCause, { at: number } | undefined]> = [
    ['slow-instance', spec.slowInstance],
    ['hung-instance', spec.hungInstance],
    ['crashing-instance', spec.crashingInstance],
  ];
  const faultAt = (t: number) =>
    faults.find(([, f]) => f !== undefined && t > 0 && t === Math.floor(Math.round(f.at * 1000) / tick) * tick)?.[0];
  for (let t = 0; t < endMs; t += tick) {
    const rate = offeredRate(spec.load, t / 1000);
    const optimum = optimumAt(spec, rate, u);
    const k = JSON.stringify(optimum.atTarget);
    const fault = faultAt(t);
    if (k !== key || fault) {
      regimes.push({ at: t / 1000, cause: t === 0 ? 'start' : k !== key ? 'load' : fault!, offeredRate: rate, optimum });
      key = k;
    }
  }
  return regimes.map((r, k) => ({ ...r, end: regimes[k + 1]?.at ?? endMs / 1000 }));
}

/**
 * dhalion.md §7: converged at round R when the two intervals before R had no backpressure and a
 * non-increasing lag, and no action follows in the next 3 rounds (of the same regime).
 */
function measureRegime(
  regime: Regime,
  observations: readonly Observation[],
  intervalMs: number,
  bolts: readonly string[],
): RegimeMetrics & { convergedRoundAt?: number } {
  const startMs = regime.at * 1000;
  const endMs = regime.end * 1000;
  const base = { at: regime.at, cause: regime.cause, offeredRate: regime.offeredRate, optimum: regime.optimum };
  const quiet = (o: Observation) => o.pausedMs <= (BACKPRESSURE_NOISE_MS_PER_SEC * intervalMs) / 1000;
  const tolerance = (_o: Observation) => Math.max(1, regime.offeredRate * (intervalMs / 1000) * 0.001);
  for (let r = 1; r < observations.length; r++) {
    const now = observations[r]!;
    const before = observations[r - 1]!;
    if (now.atMs > endMs) break;
    if (before.atMs - intervalMs < startMs) continue;
    const earlier = observations[r - 2];
    const lagOk =
      now.lag <= before.lag + tolerance(now) &&
      (earlier === undefined || earlier.atMs < startMs || before.lag <= earlier.lag + tolerance(before));
    if (!quiet(now) || !quiet(before) || !lagOk || now.changed || before.changed) continue;
    const following = observations.slice(r + 1, r + 4).filter((o) => o.atMs <= endMs);
    if (following.some((o) => o.changed)) continue;
    const rounds = observations.filter((o) => o.atMs > startMs && o.atMs <= now.atMs && o.changed).length;
    const p = now.parallelism;
    const target = regime.optimum.atTarget;
    const sumTarget = bolts.reduce((acc, b) => acc + target[b]!, 0);
    const over = bolts.reduce((acc, b) => acc + (p[b]! - target[b]!), 0);
    return {
      ...base,
      converged: true,
      roundsToConverge: rounds,
      secondsToConverge: Math.max(0, (before.atMs - intervalMs - startMs) / 1000),
      parallelismAtConvergence: p,
      overProvisioning: Math.round((over / sumTarget) * 1000) / 1000,
      withinOneOfOptimum: bolts.every((b) => p[b]! <= target[b]! + 1),
      underProvisioned: bolts.filter((b) => p[b]! < regime.optimum.atFullUtilization[b]!),
      convergedRoundAt: now.atMs,
    };
  }
  return { ...base, converged: false };
}

/** Consecutive scale actions on one component in opposite directions. */
function countReversals(parameters: ReadonlyArray<Readonly<Record<string, unknown>>>): number {
  const last = new Map<string, number>();
  let reversals = 0;
  for (const p of parameters) {
    const after = p.parallelism as Record<string, number> | undefined;
    const before = p.previous as Record<string, number> | undefined;
    if (!after || !before) continue;
    for (const [component, n] of Object.entries(after)) {
      const direction = Math.sign(n - (before[component] ?? n));
      if (direction === 0) continue;
      const previous = last.get(component);
      if (previous !== undefined && previous !== direction) reversals++;
      last.set(component, direction);
    }
  }
  return reversals;
}

/** The action log and metrics as text, for people. */
export function formatResult(result: SimulationResult): string {
  const m = result.metrics;
  const lines: string[] = [
    `scenario ${result.scenario}, policy ${result.policy}, ` +
      `seed ${result.seed}: ${m.virtualSeconds} virtual s, ${m.policyRounds} policy rounds`,
    '',
    'action log:',
  ];
  const logged = result.actionLog.filter((r) => r.actions.length > 0);
  if (logged.length === 0) lines.push('  (no actions)');
  for (const round of logged) {
    for (const action of round.actions) {
      const verdict = action.verdict ? ` [${action.verdict}]` : '';
      lines.push(
        `  t=${round.at / 1000}s ` +
          `round ${round.round} ${action.diagnosis.type} ${action.diagnosis.component}: ${action.description}${verdict}`,
      );
    }
  }
  lines.push('', 'regimes:');
  for (const r of m.regimes) {
    const head =
      `  t=${r.at}s ${r.cause} λ0=${round3(r.offeredRate)}/s ` +
      `p*(1)=${fmt(r.optimum.atFullUtilization)} p*(${m.targetUtilization})=${fmt(r.optimum.atTarget)}`;
    lines.push(
      r.converged
        ? `${head} → converged in ${r.roundsToConverge} action round(s), ${r.secondsToConverge} s ` +
            `at ${fmt(r.parallelismAtConvergence!)}, OP ${round3(r.overProvisioning! * 100)} %, within ` +
            `+1: ${r.withinOneOfOptimum ? 'yes' : 'no'}` +
            `${r.underProvisioned!.length ? `, under-provisioned: ${r.underProvisioned!.join(', ')}` : ''}`
        : `${head} → not converged`,
    );
  }
  lines.push(
    '',
    `actions ${m.actions} (reports ${m.reports}), reversals ${m.reversals}, false positives ${m.falsePositives}, ` +
      `backpressure ${m.backpressureSeconds} s, lag max ${m.maxLag} final ${m.finalLag}`,
    `final parallelism ${fmt(m.finalParallelism)}; p*(1) ${fmt(m.finalOptimum.atFullUtilization)}, ` +
      `p*(${m.targetUtilization}) ${fmt(m.finalOptimum.atTarget)}; ` +
      `under-provisioned at end: ${m.underProvisionedAtEnd.length ? m.underProvisionedAtEnd.join(', ') : 'none'}`,
  );
  return `${lines.join('\n')}\n`;
}

function fmt(p: Readonly<Record<string, number>>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
