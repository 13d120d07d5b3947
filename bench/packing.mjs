#!/usr/bin/env node
// Packing benchmark: each built-in algorithm packs a topology of 100 components and 10,000
// instances, then repacks it with 10 components scaled up by 20 % and, separately, scaled down by
// 20 %. Prints one JSON line per algorithm with the median of each operation over the timed runs.
//
//   node bench/run.mjs packing [--runs=7] [--warmup=3]
//
// Import from the built package (npm run bench builds first), as a user of @ardea/core would.
import { performance } from 'node:perf_hooks';
import {
  checkPackingPlan,
  componentCounts,
  DEFAULT_PACKING_SETTINGS,
  FirstFitDecreasingPacking,
  GiB,
  MiB,
  ResourceCompliantRoundRobinPacking,
  RoundRobinPacking,
} from '@ardea/core';

function option(name, fallback) {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  if (!arg) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} expects a whole number, got ${arg}`);
    process.exit(2);
  }
  return value;
}

const RUNS = Math.max(1, option('runs', 7));
const WARMUP = option('warmup', 3);
const COMPONENTS = 100;

const CPU = [0.25, 0.5, 1, 2];
const RAM = [256 * MiB, 512 * MiB, GiB, 2 * GiB, 3 * GiB];
const DISK = [0, 512 * MiB, GiB];

/** 100 components, parallelism 55..145 (10,000 instances in all), sizes cycling through the lists above. */
function topology() {
  const components = [];
  for (let i = 0; i < COMPONENTS; i++) {
    components.push({
      name: `c${String(i).padStart(3, '0')}`,
      kind: i === 0 ? 'spout' : 'bolt',
      parallelism: 55 + (i % 10) * 10,
      resources: { cpu: CPU[i % CPU.length], ramBytes: RAM[i % RAM.length], diskBytes: DISK[i % DISK.length] },
      config: {},
      outputs: [{ id: 'default', fields: ['value'] }],
      inputs: i === 0 ? [] : [{ component: 'c000', stream: 'default', grouping: { type: 'shuffle' } }],
    });
  }
  return { name: 'bench', id: 'bench-1', components, config: {} };
}

/** Every tenth component's parallelism times `factor`. */
function scaled(base, factor) {
  return {
    ...base,
    components: base.components.map((c, i) => (i % 10 === 3 ? { ...c, parallelism: Math.max(1, Math.round(c.parallelism * factor)) } : c)),
  };
}

const settings = {
  ...DEFAULT_PACKING_SETTINGS,
  containerMax: { cpu: 32, ramBytes: 64 * GiB, diskBytes: 64 * GiB },
  maxInstancesPerContainer: 24,
  padding: { ...DEFAULT_PACKING_SETTINGS.padding, percent: 5 },
};

// round-robin needs a container count that holds everything; resource-compliant round robin is
// left to find its own from 1, which is the part of it worth measuring.
const ALGORITHMS = [
  [new RoundRobinPacking(), { ...settings, containers: 800 }],
  [new FirstFitDecreasingPacking(), settings],
  [new ResourceCompliantRoundRobinPacking(), { ...settings, containers: 1 }],
];

function median(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function time(fn) {
  const start = performance.now();
  const result = fn();
  return [performance.now() - start, result];
}

function check(plan, topo, what) {
  checkPackingPlan(plan);
  for (const c of topo.components) {
    if (componentCounts(plan).get(c.name) !== c.parallelism) throw new Error(`${what}: component ${c.name} has the wrong instance count`);
  }
}

const base = topology();
const up = scaled(base, 1.2);
const down = scaled(base, 0.8);
const instances = base.components.reduce((n, c) => n + c.parallelism, 0);

for (const [algorithm, algorithmSettings] of ALGORITHMS) {
  const packed = algorithm.pack(base, algorithmSettings);
  check(packed, base, `${algorithm.name} pack`);
  check(algorithm.repack({ current: packed, topology: up }, algorithmSettings), up, `${algorithm.name} repack up`);
  check(algorithm.repack({ current: packed, topology: down }, algorithmSettings), down, `${algorithm.name} repack down`);
  const samples = { pack: [], up: [], down: [] };
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const [packMs, plan] = time(() => algorithm.pack(base, algorithmSettings));
    const [upMs] = time(() => algorithm.repack({ current: plan, topology: up }, algorithmSettings));
    const [downMs] = time(() => algorithm.repack({ current: plan, topology: down }, algorithmSettings));
    if (run < WARMUP) continue;
    samples.pack.push(packMs);
    samples.up.push(upMs);
    samples.down.push(downMs);
  }
  const round = (ms) => Math.round(ms * 100) / 100;
  console.log(
    JSON.stringify({
      bench: 'packing',
      algorithm: algorithm.name,
      instances,
      components: base.components.length,
      containers: packed.containers.length,
      packMsMedian: round(median(samples.pack)),
      repackUpMsMedian: round(median(samples.up)),
      repackDownMsMedian: round(median(samples.down)),
      runs: RUNS,
    }),
  );
}
