#!/usr/bin/env node
// The scenario matrix of dhalion.md §8.1 in the deterministic simulator: every scenario × policy ×
// seed, one JSON line per (scenario, policy) with the §7 metrics, then a table of the built-in
// policy against the Heron-Dhalion, DS2 and Flink-autoscaler baselines, a verdict for each of G1–G5,
// and per family which policy did best.
//
//   npm run bench -- dhalion [--seeds N] [--workers N]
//
// Scenarios are generated here rather than kept as YAML: the matrix is a product of a few axes.
// Runs are spread over worker threads (one per core by default); each run is deterministic, so the
// split does not change any number.
import os from 'node:os';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { optimumAt, modelSpecOf, simulate, validateScenario } from '@ardea/core';

const OURS = 'dynamic-resource-provisioning';
const FLINK = 'flink-autoscaler';
const POLICIES = [OURS, 'heron-dhalion', 'ds2', FLINK];
const STEP_AT = 600;

// ---------------------------------------------------------------------------------------------
// Scenario matrix
// ---------------------------------------------------------------------------------------------

const TOPOLOGIES = {
  // Base rates keep every bolt at one or two instances, so ×16 is a real jump.
  'word-count': { builtin: 'word-count', base: 500, slowComponent: 'split', slowRate: 2000, skewed: 'count' },
  diamond: { builtin: 'diamond', base: 400, slowComponent: 'enrich', slowRate: 1500, skewed: 'aggregate' },
};

/** Initial parallelism: the analytic optimum at the built-in policy's headroom for the starting load. */
function sizedFor(builtin, rate) {
  const probe = validateScenario({ name: 'probe', topology: { builtin }, load: { type: 'constant', rate }, duration: 1 });
  return { ...optimumAt(modelSpecOf(probe, 0), rate, 0.85).atTarget };
}

function scenarios() {
  const list = [];
  for (const [topo, t] of Object.entries(TOPOLOGIES)) {
    const make = (name, family, startRate, rest) => ({
      family,
      event: rest.event,
      period: rest.period,
      raw: {
        name: `${topo}/${name}`,
        topology: { builtin: t.builtin, parallelism: sizedFor(t.builtin, startRate), ...(rest.topology ?? {}) },
        load: rest.load,
        duration: rest.duration,
        noise: { cv: rest.cv ?? 0.1 },
        ...(rest.extra ?? {}),
      },
    });
    for (const k of [2, 4, 8, 16]) {
      list.push(
        make(`step-up-x${k}`, 'step-up', t.base, {
          event: STEP_AT,
          duration: 2400,
          load: { type: 'steps', rate: t.base, steps: [{ at: STEP_AT, factor: k }] },
        }),
      );
      list.push(
        make(`step-down-x${k}`, 'step-down', t.base * k, {
          event: STEP_AT,
          duration: 2400,
          load: { type: 'steps', rate: t.base * k, steps: [{ at: STEP_AT, rate: t.base }] },
        }),
      );
    }
    for (const cv of [0, 0.2]) {
      list.push(
        make(`step-up-x4-cv${cv * 100}`, 'step-up-noise', t.base, {
          event: STEP_AT,
          cv,
          duration: 2400,
          load: { type: 'steps', rate: t.base, steps: [{ at: STEP_AT, factor: 4 }] },
        }),
      );
    }
    for (const type of ['square', 'sine']) {
      list.push(
        make(`${type}-x4`, 'periodic', t.base, {
          period: 2400,
          duration: 4800,
          load: { type, low: t.base, high: 4 * t.base, period: 2400 },
        }),
      );
    }
    // Spikes shorter than one of our intervals; with catch-up 2 their backlog drains in as long again.
    list.push(
      make('spikes-x3-20s', 'spikes', t.base, {
        duration: 1800,
        load: { type: 'spikes', rate: t.base, spikes: [600, 1000, 1400].map((at) => ({ at, duration: 20, factor: 3 })) },
      }),
    );
    for (const factor of [3, 10]) {
      list.push(
        make(`slow-instance-${factor}x`, 'slow-instance', t.slowRate, {
          event: STEP_AT,
          duration: 1800,
          load: { type: 'constant', rate: t.slowRate },
          extra: { slowInstance: { component: t.slowComponent, instance: 1, factor, at: STEP_AT } },
        }),
      );
    }
    list.push(
      make('zipf-1.2', 'skew', t.slowRate, {
        duration: 1800,
        load: { type: 'constant', rate: t.slowRate },
        extra: { skew: { zipfExponent: 1.2, keys: 10_000 } },
      }),
    );
    list.push(
      make('cpu-capped-2-cores-x4', 'cpu-capped', t.base, {
        event: STEP_AT,
        duration: 2400,
        load: { type: 'steps', rate: t.base, steps: [{ at: STEP_AT, factor: 4 }] },
        extra: { cpu: { cores: 2 } },
      }),
    );
    for (const cv of [0, 0.1, 0.2]) {
      list.push(
        make(`stationary-cv${cv * 100}`, 'stationary', 4 * t.base, {
          cv,
          duration: 3600,
          load: { type: 'constant', rate: 4 * t.base },
          extra: { source: { arrivals: 'poisson' } },
        }),
      );
    }
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// One run → the numbers the summary needs
// ---------------------------------------------------------------------------------------------

const CHANGES = new Set(['scale-up', 'scale-down', 'route-around', 'restart']);
const sum = (o) =>
  Object.entries(o)
    .filter(([k]) => k !== 'sentence' && k !== 'source')
    .reduce((a, [, v]) => a + v, 0);

async function runOne(entry, policy, seed) {
  const scenario = validateScenario({ ...entry.raw, seeds: [seed] }, entry.raw.name);
  const result = await simulate(scenario, { policy, seed });
  const m = result.metrics;
  const changing = result.actionLog.flatMap((r) => r.actions.filter((a) => CHANGES.has(a.type)).map((a) => ({ at: r.at / 1000, a })));
  const out = {
    actions: m.actions,
    reversals: m.reversals,
    falsePositives: m.falsePositives,
    bpSeconds: m.backpressureSeconds,
    maxLag: m.maxLag,
    finalLag: m.finalLag,
    underAtEnd: m.underProvisionedAtEnd.length,
  };
  if (entry.event !== undefined) {
    const regime = m.regimes.find((r) => r.at === entry.event) ?? m.regimes.find((r) => r.at >= entry.event);
    const after = changing.filter((c) => c.at >= entry.event);
    out.converged = regime?.converged ?? false;
    if (regime?.converged) {
      out.rounds = regime.roundsToConverge;
      out.seconds = regime.secondsToConverge;
      out.op = regime.overProvisioning;
      out.within1 = regime.withinOneOfOptimum;
      out.under = regime.underProvisioned.length;
      const p1 = regime.optimum.atFullUtilization;
      out.opVsP1 = Math.round(((sum(regime.parallelismAtConvergence) - sum(p1)) / sum(p1)) * 1000) / 1000;
      out.sumOptimum = sum(regime.optimum.atTarget);
    }
    out.scaleUpsAfter = after.filter((c) => c.a.type === 'scale-up').length;
    out.scaleDownsAfter = after.filter((c) => c.a.type === 'scale-down').length;
    out.instancesAdded = after.reduce((acc, c) => {
      const p = c.a.parameters.parallelism ?? {};
      const q = c.a.parameters.previous ?? {};
      return acc + Object.keys(p).reduce((x, k) => x + Math.max(0, p[k] - (q[k] ?? p[k])), 0);
    }, 0);
    if (entry.family === 'slow-instance') {
      const slowComponent = entry.raw.slowInstance.component;
      const rounds = result.actionLog.filter((r) => r.at / 1000 > entry.event);
      const first = rounds.findIndex((r) => r.diagnoses.some((d) => d.component === slowComponent));
      const firstDiagnosis = first >= 0 ? rounds[first].diagnoses.find((d) => d.component === slowComponent).type : undefined;
      out.slowDiagnosis = firstDiagnosis;
      // Rounds of the policy's interval from the fault to the first diagnosis of the slowed component.
      out.slowDetectedInRounds = first >= 0 ? Math.ceil((rounds[first].at / 1000 - entry.event) / intervalOf(policy) - 1e-9) : undefined;
      out.mitigated = regime?.converged === true && regime.roundsToConverge <= 3 && out.instancesAdded === 0;
    }
  }
  if (entry.period !== undefined) {
    // G3(b): per operator, actions per period, and direction flips within one half-period.
    const half = entry.period / 2;
    let maxPerOpPerPeriod = 0;
    let halfPeriodReversals = 0;
    const byOp = new Map();
    for (const c of changing) {
      for (const [op, n] of Object.entries(c.a.parameters.parallelism ?? {})) {
        const dir = Math.sign(n - (c.a.parameters.previous?.[op] ?? n));
        if (dir === 0) continue;
        const list = byOp.get(op) ?? [];
        list.push({ at: c.at, dir });
        byOp.set(op, list);
      }
    }
    for (const list of byOp.values()) {
      const periods = new Map();
      list.forEach((x, k) => {
        const p = Math.floor(x.at / entry.period);
        periods.set(p, (periods.get(p) ?? 0) + 1);
        const prev = list[k - 1];
        if (prev && prev.dir !== x.dir && Math.floor(prev.at / half) === Math.floor(x.at / half)) halfPeriodReversals++;
      });
      maxPerOpPerPeriod = Math.max(maxPerOpPerPeriod, ...periods.values());
    }
    out.maxActionsPerOpPerPeriod = maxPerOpPerPeriod;
    out.halfPeriodReversals = halfPeriodReversals;
  }
  return out;
}

const INTERVALS = { [OURS]: 30, 'heron-dhalion': 60, ds2: 10, [FLINK]: 20 };
function intervalOf(policy) {
  return INTERVALS[policy];
}

// ---------------------------------------------------------------------------------------------
// Worker
// ---------------------------------------------------------------------------------------------

function worker() {
  const list = scenarios();
  parentPort.on('message', async (job) => {
    if (job === null) return process.exit(0);
    const out = await runOne(list[job.scenario], job.policy, job.seed);
    parentPort.postMessage({ ...job, out });
  });
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function arg(name, fallback) {
  const k = process.argv.indexOf(`--${name}`);
  return k >= 0 ? Number(process.argv[k + 1]) : fallback;
}

async function main() {
  const started = performance.now();
  const seedCount = arg('seeds', 20);
  const workers = arg('workers', Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
  const list = scenarios();
  const seeds = Array.from({ length: seedCount }, (_, k) => k + 1);
  const jobs = [];
  list.forEach((_, scenario) => POLICIES.forEach((policy) => seeds.forEach((seed) => jobs.push({ scenario, policy, seed }))));
  const results = new Map();
  await new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    const pool = Array.from({ length: Math.min(workers, jobs.length) }, () => new Worker(new URL(import.meta.url)));
    const feed = (w) => (next < jobs.length ? w.postMessage(jobs[next++]) : w.postMessage(null));
    for (const w of pool) {
      w.on('error', reject);
      w.on('message', (msg) => {
        const key = `${msg.scenario}|${msg.policy}`;
        const bucket = results.get(key) ?? [];
        bucket[msg.seed - 1] = msg.out;
        results.set(key, bucket);
        if (++done === jobs.length) resolve();
        feed(w);
      });
      feed(w);
    }
  });

  const rows = [];
  list.forEach((entry, s) => {
    for (const policy of POLICIES) {
      const runs = results.get(`${s}|${policy}`);
      const line = aggregate(entry, policy, runs);
      rows.push(line);
      console.log(JSON.stringify(line));
    }
  });
  const wall = (performance.now() - started) / 1000;
  console.log('');
  console.log(summaryTable(list, rows));
  console.log('');
  console.log(familyTable(list, rows));
  console.log('');
  console.log(goals(list, rows));
  console.log('');
  console.log(
    `${jobs.length} runs (${list.length} scenarios × ${POLICIES.length} policies ` +
      `× ${seedCount} seeds) on ${workers} worker(s) in ${wall.toFixed(1)} s wall`,
  );
}

const median = (xs) => {
  const v = xs.filter((x) => x !== undefined && x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const mean = (xs) => (xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000) / 1000 : null);
const frac = (xs, f) => (xs.length ? Math.round((xs.filter(f).length / xs.length) * 1000) / 1000 : null);

function aggregate(entry, policy, runs) {
  const conv = runs.filter((r) => r.converged);
  const line = {
    scenario: entry.raw.name,
    family: entry.family,
    policy,
    seeds: runs.length,
    actionsMean: mean(runs.map((r) => r.actions)),
    reversalsMean: mean(runs.map((r) => r.reversals)),
    falsePositivesMean: mean(runs.map((r) => r.falsePositives)),
    backpressureSecondsMedian: median(runs.map((r) => r.bpSeconds)),
    maxLagMedian: median(runs.map((r) => r.maxLag)),
    finalLagMedian: median(runs.map((r) => r.finalLag)),
    underProvisionedAtEndMean: mean(runs.map((r) => r.underAtEnd)),
  };
  if (entry.event !== undefined) {
    Object.assign(line, {
      convergedFraction: frac(runs, (r) => r.converged),
      roundsToConvergeMedian: median(conv.map((r) => r.rounds)),
      roundsToConvergeMax: conv.length ? Math.max(...conv.map((r) => r.rounds)) : null,
      atMost2RoundsFraction: frac(runs, (r) => r.converged && r.rounds <= 2),
      oneRoundFraction: frac(runs, (r) => r.converged && r.rounds <= 1),
      secondsToConvergeMedian: median(conv.map((r) => r.seconds)),
      overProvisioningMedian: median(conv.map((r) => r.op)),
      overProvisioningVsP1Median: median(conv.map((r) => r.opVsP1)),
      withinOneFraction: frac(runs, (r) => r.converged && r.within1),
      underProvisionedAtConvergenceMean: mean(conv.map((r) => r.under)),
      scaleUpsAfterEventMean: mean(runs.map((r) => r.scaleUpsAfter)),
      scaleDownsAfterEventMean: mean(runs.map((r) => r.scaleDownsAfter)),
      instancesAddedAfterEventMean: mean(runs.map((r) => r.instancesAdded)),
      sumOptimum: conv[0]?.sumOptimum ?? null,
    });
  }
  if (entry.family === 'slow-instance') {
    Object.assign(line, {
      classifiedSlowWithin2RoundsFraction: frac(runs, (r) => r.slowDiagnosis === 'slow-instance' && r.slowDetectedInRounds <= 2),
      firstDiagnoses: [...new Set(runs.map((r) => r.slowDiagnosis ?? 'none'))],
      mitigatedWithin3RoundsNoInstancesFraction: frac(runs, (r) => r.mitigated),
    });
  }
  if (entry.period !== undefined) {
    Object.assign(line, {
      maxActionsPerOperatorPerPeriod: Math.max(...runs.map((r) => r.maxActionsPerOpPerPeriod)),
      halfPeriodReversalsMean: mean(runs.map((r) => r.halfPeriodReversals)),
    });
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

const fmt = (x, d = 2) =>
  x === null || x === undefined ? '–' : typeof x === 'number' ? String(Math.round(x * 10 ** d) / 10 ** d) : String(x);
const pct = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);

function cell(entry, line) {
  switch (entry.family) {
    case 'step-up':
    case 'step-up-noise':
    case 'step-down':
    case 'cpu-capped':
      return (
        `${pct(line.convergedFraction)} R${fmt(line.roundsToConvergeMedian)} ${fmt(line.secondsToConvergeMedian, 0)}s ` +
        `OP${fmt(line.overProvisioningMedian)} a${fmt(line.actionsMean, 1)}`
      );
    case 'slow-instance':
      return (
        `slow${pct(line.classifiedSlowWithin2RoundsFraction)} fix${pct(line.mitigatedWithin3RoundsNoInstancesFraction)} ` +
        `+${fmt(line.instancesAddedAfterEventMean, 1)}i a${fmt(line.actionsMean, 1)}`
      );
    case 'periodic':
      return (
        `a${fmt(line.actionsMean, 1)} max/op/T ${line.maxActionsPerOperatorPerPeriod} ` +
        `rev½T ${fmt(line.halfPeriodReversalsMean, 1)} bp${fmt(line.backpressureSecondsMedian, 0)}s`
      );
    default:
      return (
        `a${fmt(line.actionsMean, 2)} rev${fmt(line.reversalsMean, 1)} ` +
        `bp${fmt(line.backpressureSecondsMedian, 0)}s lag${fmt(line.finalLagMedian, 0)}`
      );
  }
}

function summaryTable(list, rows) {
  const header = ['scenario', 'ours (dynamic-resource-provisioning)', 'heron-dhalion', 'ds2', FLINK];
  const body = list.map((entry) => [
    entry.raw.name,
    ...POLICIES.map((p) =>
      cell(
        entry,
        rows.find((r) => r.scenario === entry.raw.name && r.policy === p),
      ),
    ),
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...body.map((r) => r[k].length)));
  const line = (r) => `| ${r.map((c, k) => c.padEnd(widths[k])).join(' | ')} |`;
  return [
    'Cells: steps/cpu: converged% R<median action rounds> <median s to ' +
      'converge> OP<median over-provisioning vs p*(u_target)> a<mean actions>;',
    '       slow instance: classified slow ≤2 rounds % / mitigated ≤3 rounds with 0 instances added % / mean instances added / actions;',
    '       periodic: mean actions, max actions per operator per period, ' +
      'mean reversals within a half-period, median BP-s; others: actions, reversals, BP-s, final lag.',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ].join('\n');
}

/** The matrix per family: every policy side by side, each cell aggregated over the family's scenarios. */
function familyTable(list, rows) {
  const families = [...new Set(list.map((e) => e.family))];
  const header = ['family (scenarios)', ...POLICIES];
  const body = families.map((family) => [
    `${family} (${list.filter((e) => e.family === family).length})`,
    ...POLICIES.map((p) =>
      familyCell(
        family,
        rows.filter((r) => r.family === family && r.policy === p),
      ),
    ),
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...body.map((r) => r[k].length)));
  const line = (r) => `| ${r.map((c, k) => c.padEnd(widths[k])).join(' | ')} |`;
  return [
    'Per family (over its scenarios): steps/cpu: mean converged % / worst ≤2-round % / median of the median action rounds /',
    '       median of the median OP vs p*(u_target) (each policy its own target) / the same vs p*(1) (one yardstick for',
    '       all) / mean actions; slow instance: worst classified ≤2 rounds % / worst',
    '       mitigated % / mean instances added / mean actions; periodic: mean actions, max actions per operator per period,',
    '       mean reversals within a half-period; others: mean actions, mean reversals, median BP-s.',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ].join('\n');
}

function familyCell(family, rs) {
  const known = (f) => rs.map(f).filter((x) => x !== null && x !== undefined);
  const least = (f) => (known(f).length ? Math.min(...known(f)) : null);
  switch (family) {
    case 'step-up':
    case 'step-up-noise':
    case 'step-down':
    case 'cpu-capped':
      return (
        `${pct(mean(known((r) => r.convergedFraction)))} ≤2R ${pct(least((r) => r.atMost2RoundsFraction))} ` +
        `R${fmt(median(known((r) => r.roundsToConvergeMedian)))} OP${fmt(median(known((r) => r.overProvisioningMedian)))} ` +
        `P1+${fmt(median(known((r) => r.overProvisioningVsP1Median)))} a${fmt(mean(known((r) => r.actionsMean)), 1)}`
      );
    case 'slow-instance':
      return (
        `slow${pct(least((r) => r.classifiedSlowWithin2RoundsFraction))} ` +
        `fix${pct(least((r) => r.mitigatedWithin3RoundsNoInstancesFraction))} ` +
        `+${fmt(mean(known((r) => r.instancesAddedAfterEventMean)), 1)}i a${fmt(mean(known((r) => r.actionsMean)), 1)}`
      );
    case 'periodic':
      return (
        `a${fmt(mean(known((r) => r.actionsMean)), 1)} max/op/T ${Math.max(...known((r) => r.maxActionsPerOperatorPerPeriod))} ` +
        `rev½T ${fmt(mean(known((r) => r.halfPeriodReversalsMean)), 1)}`
      );
    default:
      return (
        `a${fmt(mean(known((r) => r.actionsMean)), 2)} rev${fmt(mean(known((r) => r.reversalsMean)), 1)} ` +
        `bp${fmt(median(known((r) => r.backpressureSecondsMedian)), 0)}s`
      );
  }
}

function goals(list, rows) {
  const pick = (family, policy) => rows.filter((r) => r.family === family && r.policy === policy);
  const out = ['Goals (dhalion.md §7), per policy:'];
  for (const policy of POLICIES) {
    const ups = [...pick('step-up', policy), ...pick('step-up-noise', policy).filter((r) => !r.scenario.endsWith('cv20'))];
    const g1two = Math.min(...ups.map((r) => r.atMost2RoundsFraction ?? 0));
    const g1one = Math.min(...ups.map((r) => r.oneRoundFraction ?? 0));
    const g1worst = ups
      .filter((r) => (r.atMost2RoundsFraction ?? 0) === g1two)
      .map((r) => r.scenario.replace('step-up-x', '×').replace('-cv0', ' CV0'));
    const g1rounds = ups
      .map((r) => {
        const scenario = r.scenario.replace('step-up-x', '×').replace('word-count/', 'wc ').replace('diamond/', 'dia ');
        return `${scenario}:${fmt(r.roundsToConvergeMedian)}`;
      })
      .join(' ');
    const g1 = g1two === 1 && g1one >= 0.9;
    const g2within = Math.min(...ups.map((r) => r.withinOneFraction ?? 0));
    const g2under = Math.max(...ups.map((r) => r.underProvisionedAtConvergenceMean ?? 0));
    const big = ups.filter((r) => (r.sumOptimum ?? 0) >= 10);
    const g2op = big.length ? Math.max(...big.map((r) => r.overProvisioningMedian ?? Infinity)) : 0;
    const g2 = g2within === 1 && g2under === 0 && g2op <= 0.1;
    const stat = pick('stationary', policy);
    const g3a = Math.max(...stat.map((r) => r.actionsMean));
    const per = pick('periodic', policy);
    const g3bMax = Math.max(...per.map((r) => r.maxActionsPerOperatorPerPeriod));
    const g3bRev = Math.max(...per.map((r) => r.halfPeriodReversalsMean));
    const g3c = Math.max(...pick('spikes', policy).map((r) => r.actionsMean));
    const g3 = g3a === 0 && g3bMax <= 2 && g3bRev === 0 && g3c === 0;
    const downs = pick('step-down', policy);
    const g4within = Math.min(...downs.map((r) => r.withinOneFraction ?? 0));
    const g4rounds = Math.max(...downs.map((r) => r.roundsToConvergeMax ?? Infinity));
    const g4reverts = Math.max(...downs.map((r) => r.scaleUpsAfterEventMean ?? 0));
    const g4 = g4within === 1 && g4rounds <= 2 && g4reverts === 0;
    const slow = pick('slow-instance', policy);
    const g5class = Math.min(...slow.map((r) => r.classifiedSlowWithin2RoundsFraction ?? 0));
    const g5fix = Math.min(...slow.map((r) => r.mitigatedWithin3RoundsNoInstancesFraction ?? 0));
    const g5 = g5class >= 0.95 && g5fix >= 0.95;
    const v = (ok) => (ok ? 'MET' : 'NOT MET');
    out.push(`  ${policy}:`);
    out.push(
      `    G1 step-up ×2…×16 (CV ≤ 10 %): ${v(g1)} — worst scenario: ≤2 rounds in ${pct(g1two)} of seeds (target 100 %; ` +
        `worst: ${g1worst.join(', ')}), 1 round in ${pct(g1one)} (target ≥ 90 %); median action rounds ${g1rounds}`,
    );
    out.push(
      `    G2 accuracy: ${v(g2)} — worst within +1 of p*(u): ${pct(g2within)} (target 100 %); worst median OP where Σp* ≥ ` +
        `10: ${fmt(g2op * 100, 1)} % (target ≤ 10 %); under-provisioned at convergence (mean, worst): ${fmt(g2under)} (target 0)`,
    );
    out.push(
      `    G3 stability: ${v(g3)} — (a) stationary CV 0/10/20 %: worst mean actions ${fmt(g3a)} (target 0); ` +
        `(b) periodic: max actions/operator/period ${g3bMax} (≤ 2), ` +
        `mean reversals within a half-period ${fmt(g3bRev)} (0); (c) spikes: mean actions ${fmt(g3c)} (0)`,
    );
    out.push(
      `    G4 scale-down ÷2…÷16: ${v(g4)} — within +1 of p*(u): worst ${pct(g4within)} (100 %); ` +
        `worst max action rounds ${Number.isFinite(g4rounds) ? fmt(g4rounds) : 'not converged in some scenario'} (≤ 2); ` +
        `mean scale-ups after the step (reverts): worst ${fmt(g4reverts)} (0)`,
    );
    out.push(
      `    G5 slow instance 3×/10×: ${v(g5)} — classified slow within 2 rounds: worst ${pct(g5class)} (≥ 95 %); ` +
        `mitigated within 3 rounds with 0 instances added: worst ${pct(g5fix)} (≥ 95 %)`,
    );
  }
  return out.join('\n');
}

// Last, so every helper above is initialised before the first run.
if (isMainThread) await main();
else worker();
