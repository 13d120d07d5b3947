#!/usr/bin/env node
// Word count on the local pool against a hand-written baseline (issue 3, item 9; method of
// ../shared/references/perf.md §2 and §4 B2/B4). `npm run bench -- word-count` (builds first) or
// `node bench/word-count.mjs [--reps N]` after a build. Prints ONE JSON line; progress goes to stderr.
//
// One run = REPS repetitions of three measurements, interleaved so machine noise hits all of them:
//  1. throughput: examples/word-count, unmodified, sentence.rate=0 (unthrottled), 2 containers.
//     After a warm-up, the cumulative count.executed is sampled every 0.5 s over a window; words/s is
//     the least-squares slope. CPU = utime+stime from /proc of the supervisor and every executor
//     process of the topology (worker threads included), over the same window.
//  2. baseline: bench/word-count/baseline-node.mjs, three plain Node processes (source -> split ->
//     count) over TCP on 127.0.0.1 with per-turn batching and a binary codec, same sentences (taken
//     from the example's own SentenceSpout) and vocabulary. Same window, same CPU accounting.
//  3. latency and backpressure: bench/topologies/word-count-latency (word count whose tuples carry
//     their emit time). At sentence.rate=10000 (100k words/s) every counted word's emit->count
//     latency is recorded for LATENCY_WINDOW_MS. Then, at 100k words/s, 1M words/s and unthrottled,
//     the count bolts are stalled (their thread blocks) and the bench measures the time from the
//     first count instance stalling to the spout's last emit (after which it emits nothing for
//     >= 100 ms while the stall lasts), and from the stall's end to the spout's next emit.
// Medians over the repetitions are reported; every figure also has its [min, max].
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  clock,
  machineBusy,
  median,
  percentile,
  procCpu,
  range,
  round,
  slope,
  sleep,
  topologyProcesses,
  waitForIdle,
} from './word-count/measure.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const CLI = path.join(ROOT, 'core/dist/main/cli-main.js');
const EXAMPLE = path.join(ROOT, 'examples/word-count');
const LATENCY_PACKAGE = path.join(BENCH_DIR, 'topologies/word-count-latency');
const BASELINE = path.join(BENCH_DIR, 'word-count/baseline-node.mjs');

const argv = process.argv.slice(2);
const REPS = Number(argv[argv.indexOf('--reps') + 1] || 3) || 3;
const WARMUP_MS = 2500;
const WINDOW_MS = 6000;
const SAMPLE_EVERY_MS = 500;
const METRICS_INTERVAL_MS = 250;
const LATENCY_RATE = 10_000; // sentences/s = 100k words/s
const LATENCY_WARMUP_MS = 2000;
const LATENCY_WINDOW_MS = 5000;
const BP_RATES = [
  ['100k', 10_000],
  ['1M', 100_000],
  ['max', 0],
];
const BP_SETTLE_MS = 1500;
const BP_STOP_TIMEOUT_MS = 5000;
const NOISY_CORES = 0.35;
const MAX_RETRIES = 3;
let retriesLeft = MAX_RETRIES;
const GOALS = { wordsPerSec: 2_000_000, efficiency: 0.5, p99Ms: 5, backpressureReactionMs: 20 };

const HOME = path.join(os.tmpdir(), `ardea-bench-${process.pid}`);
process.env.ARDEA_HOME = HOME;
const log = (message) => process.stderr.write(`[word-count] ${message}\n`);

// ---------------------------------------------------------------------------------------------
// Cleanup: every topology we submitted and every baseline process we forked.
const running = new Set(); // topology names
const children = new Set();

function cleanupSync() {
  for (const child of children) child.kill('SIGKILL');
  for (const name of running)
    spawnSync(process.execPath, [CLI, 'kill', 'local', name], { env: process.env, stdio: 'ignore', timeout: 20_000 });
  running.clear();
  rmSync(HOME, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanupSync();
    process.exit(130);
  });
}

function cli(args, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`ardea ${args.slice(0, 3).join(' ')} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

async function submit(pkg, name, properties) {
  running.add(name);
  await cli(['submit', 'local', pkg, ...properties.flatMap((p) => ['--config-property', p])]);
  const procs = topologyProcesses(name, HOME);
  if (procs.length !== 4) throw new Error(`expected a supervisor and 3 executors for ${name}, found ${JSON.stringify(procs)}`);
  return procs;
}

async function kill(name, procs) {
  await cli(['kill', 'local', name]);
  running.delete(name);
  for (let i = 0; i < 50 && procs.some((p) => Number.isFinite(procCpu(p.pid))); i++) await sleep(100);
}

const cpuOf = (procs) => procs.map((p) => procCpu(p.pid));

/** CPU seconds per thread of a process: Map tid -> seconds. */
function threadCpu(pid) {
  const result = new Map();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) result.set(Number(tid), procCpu(`${pid}/task/${tid}`));
  } catch {
    // gone
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// 1. Engine throughput (examples/word-count, unmodified).
let ardea;
async function metrics(name, options) {
  if (!ardea) {
    const core = await import(path.join(ROOT, 'core/dist/index.js'));
    ardea = await core.createArdea({ cluster: 'local', env: process.env, cwd: ROOT });
  }
  return ardea.metrics(name, options);
}

async function engineThroughput() {
  const busyBefore = await waitForIdle();
  const procs = await submit(EXAMPLE, 'word-count', [`topology.metricsIntervalMs=${METRICS_INTERVAL_MS}`, 'sentence.rate=0']);
  try {
    await sleep(WARMUP_MS);
    return { busyBefore, ...(await quietest(() => engineWindow(procs))) };
  } finally {
    await kill('word-count', procs);
  }
}

/**
 * Runs a measurement window; if other sessions used more than NOISY_CORES during it, runs one more
 * window in the same deployment and keeps the quieter one (perf.md §4: reject runs with background
 * load above 0.35 cores). `noisyWindows` counts the noisy windows seen (kept or not). At most
 * MAX_RETRIES extra windows per run, so a busy machine cannot stretch the run much past 3 minutes.
 */
async function quietest(measure) {
  const first = await measure();
  if (!(first.foreignCores > NOISY_CORES)) return { ...first, noisyWindows: 0 };
  if (retriesLeft <= 0) return { ...first, noisyWindows: 1 };
  retriesLeft--;
  const second = await measure();
  const best = second.foreignCores < first.foreignCores ? second : first;
  return { ...best, noisyWindows: second.foreignCores > NOISY_CORES ? 2 : 1 };
}

async function engineWindow(procs) {
  const samples = [];
  let threadsStart;
  const start = clock();
  for (let i = 0; i * SAMPLE_EVERY_MS <= WINDOW_MS; i++) {
    await sleep(start + i * SAMPLE_EVERY_MS - clock());
    const view = await metrics('word-count');
    samples.push({ t: clock(), executed: view.components.count?.executed ?? 0, cpu: cpuOf(procs), busy: machineBusy(), view });
    if (i === 0) threadsStart = new Map(procs.map((p) => [p.pid, threadCpu(p.pid)]));
  }
  const threadsEnd = new Map(procs.map((p) => [p.pid, threadCpu(p.pid)]));
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seconds = (last.t - first.t) / 1000;
  const windowed = await metrics('word-count', { windowMs: Math.round(seconds * 1000) });
  const wordsPerSec = slope(samples.map((s) => ({ x: s.t / 1000, y: s.executed })));
  const cpuByProcess = Object.fromEntries(procs.map((p, i) => [p.role, round((last.cpu[i] - first.cpu[i]) / seconds, 2)]));
  const ourCpu = procs.reduce((a, _, i) => a + last.cpu[i] - first.cpu[i], 0);
  // Per thread of each executor, busiest first ('main' = the stream manager's or topology master's
  // event loop; the others are instance worker threads, GC and libuv threads).
  const threads = {};
  for (const p of procs) {
    if (!p.role.startsWith('container-')) continue;
    const a = threadsStart.get(p.pid);
    const list = [...threadsEnd.get(p.pid)].map(([tid, cpu]) => ({ tid, cores: (cpu - (a.get(tid) ?? 0)) / seconds }));
    threads[p.role] = list
      .filter((t) => t.cores >= 0.01)
      .sort((x, y) => y.cores - x.cores)
      .map((t) => `${t.tid === p.pid ? 'main' : t.tid}:${round(t.cores, 2)}`);
  }
  const paused = (view, id) => view.streamManagers[`stmgr-${id}`]?.spoutsPausedMs ?? 0;
  const c = windowed.components;
  return {
    wordsPerSec,
    cpuCores: ourCpu / seconds,
    wordsPerCpuSec: (wordsPerSec * seconds) / ourCpu,
    foreignCores: (last.busy - first.busy - ourCpu) / seconds,
    cpuByProcess,
    threads,
    spoutPausedFraction: (paused(last.view, 1) - paused(first.view, 1)) / (seconds * 1000),
    rates: { sentence: round(c.sentence?.emitRate), splitIn: round(c.split?.executeRate), count: round(c.count?.executeRate) },
    busyFraction: {
      sentence: round(c.sentence?.busyFraction, 2),
      split: round(c.split?.busyFraction, 2),
      count: round(c.count?.busyFraction, 2),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Baseline: three plain Node processes.
function startBaseline(role, args) {
  const child = fork(BASELINE, [role, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`baseline ${role} exited ${code} before it was ready`)));
  });
}

function askCount(child) {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.count));
    child.send({ type: 'sample' });
  });
}

async function baselineWindow(all, counter) {
  const samples = [];
  const start = clock();
  for (let i = 0; i * SAMPLE_EVERY_MS <= WINDOW_MS; i++) {
    await sleep(start + i * SAMPLE_EVERY_MS - clock());
    const executed = await askCount(counter);
    samples.push({ t: clock(), executed, cpu: all.map((c) => procCpu(c.pid)), busy: machineBusy() });
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seconds = (last.t - first.t) / 1000;
  const wordsPerSec = slope(samples.map((s) => ({ x: s.t / 1000, y: s.executed })));
  const perProcess = all.map((_, i) => last.cpu[i] - first.cpu[i]);
  const ourCpu = perProcess.reduce((a, b) => a + b, 0);
  return {
    wordsPerSec,
    cpuCores: ourCpu / seconds,
    wordsPerCpuSec: (wordsPerSec * seconds) / ourCpu,
    foreignCores: (last.busy - first.busy - ourCpu) / seconds,
    cpuByProcess: {
      source: round(perProcess[0] / seconds, 2),
      split: round(perProcess[1] / seconds, 2),
      count: round(perProcess[2] / seconds, 2),
    },
  };
}

async function baselineThroughput(sentencesFile) {
  const busyBefore = await waitForIdle();
  const count = await startBaseline('count', []);
  const split = await startBaseline('split', [String(count.port)]);
  const source = await startBaseline('source', [String(split.port), sentencesFile]);
  const all = [source.child, split.child, count.child];
  try {
    await sleep(WARMUP_MS);
    return { busyBefore, ...(await quietest(() => baselineWindow(all, count.child))) };
  } finally {
    for (const child of all) child.kill('SIGTERM');
    await Promise.all(all.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Latency at 100k words/s, then backpressure reaction at three rates.
const readEvents = (file) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

async function waitFor(predicate, timeoutMs, everyMs = 10) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > until) return undefined;
    await sleep(everyMs);
  }
}

function writeAtomic(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Records every counted word's emit->count latency for LATENCY_WINDOW_MS. */
async function latencyWindow(dir, procs) {
  for (const f of readdirSync(dir)) if (/^lat-\d+\.f32$/.test(f)) rmSync(path.join(dir, f));
  const cpu0 = cpuOf(procs);
  const busy0 = machineBusy();
  const t0 = clock();
  writeFileSync(path.join(dir, 'record'), '');
  await sleep(LATENCY_WINDOW_MS);
  rmSync(path.join(dir, 'record'));
  const seconds = (clock() - t0) / 1000;
  const ourCpu = procs.reduce((a, p, i) => a + procCpu(p.pid) - cpu0[i], 0);
  const foreignCores = (machineBusy() - busy0 - ourCpu) / seconds;
  const files = await waitFor(() => {
    const found = readdirSync(dir).filter((f) => /^lat-\d+\.f32$/.test(f));
    return found.length === 2 ? found : undefined;
  }, 5000);
  if (!files) throw new Error('the count bolts did not write their latency samples');
  const parts = files.map((f) => {
    const bytes = readFileSync(path.join(dir, f));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  });
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  all.sort();
  const ms = (p) => round(percentile(all, p) / 1000, 3);
  return {
    samples: all.length,
    wordsPerSec: round(all.length / seconds),
    cpuCores: round(ourCpu / seconds, 2),
    foreignCores: round(foreignCores, 2),
    p50Ms: ms(50),
    p90Ms: ms(90),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    maxMs: round(all[all.length - 1] / 1000, 3),
  };
}

async function latencyAndBackpressure(rep) {
  const dir = path.join(HOME, `control-${rep}`);
  mkdirSync(dir, { recursive: true });
  const busyBefore = await waitForIdle();
  const name = 'word-count-latency';
  const procs = await submit(LATENCY_PACKAGE, name, [
    'topology.metricsIntervalMs=1000',
    `sentence.rate=${LATENCY_RATE}`,
    `topology.benchDir=${dir}`,
  ]);
  try {
    await sleep(LATENCY_WARMUP_MS);
    const latency = { busyBefore, ...(await quietest(() => latencyWindow(dir, procs))) };

    const backpressure = {};
    const spoutLog = path.join(dir, 'spout-1.jsonl');
    const countLogs = () =>
      readdirSync(dir)
        .filter((f) => /^count-\d+\.jsonl$/.test(f))
        .map((f) => path.join(dir, f));
    for (const [label, rate] of BP_RATES) {
      writeAtomic(path.join(dir, 'rate'), String(rate));
      await sleep(BP_SETTLE_MS);
      const requested = clock();
      const stall = path.join(dir, 'stall');
      writeFileSync(stall, '');
      const stop = await waitFor(
        () => readEvents(spoutLog).find((e) => e.event === 'stop' && e.detectedAt > requested),
        BP_STOP_TIMEOUT_MS,
      );
      rmSync(stall);
      const released = clock();
      const resume = await waitFor(() => readEvents(spoutLog).find((e) => e.event === 'resume' && e.at > released), 5000);
      await sleep(20);
      const events = countLogs().flatMap(readEvents);
      const stalls = events.filter((e) => e.event === 'stall' && e.at >= requested).map((e) => e.at);
      const unstalls = events.filter((e) => e.event === 'unstall' && e.at >= requested).map((e) => e.at);
      const stalledAt = stalls.length ? Math.min(...stalls) : requested;
      const unstalledAt = unstalls.length ? Math.max(...unstalls) : released;
      backpressure[label] = {
        rate,
        // null: the spout was still emitting when the stall ended after BP_STOP_TIMEOUT_MS.
        reactionMs: stop ? round(Math.max(0, stop.lastEmit - stalledAt), 1) : null,
        alreadyPaused: stop ? stop.lastEmit < stalledAt : false,
        resumeMs: stop && resume ? round(resume.at - unstalledAt, 1) : null,
      };
    }
    const view = await metrics(name);
    backpressure.maxPendingBytes = view.components.count?.maxPendingBytes ?? null;
    return { latency, backpressure };
  } finally {
    await kill(name, procs);
  }
}

// ---------------------------------------------------------------------------------------------
function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim(),
    node: process.version,
    kernel: os.release(),
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    loadavg: os.loadavg().map((v) => round(v, 2)),
  };
}

/** The example's own sentence pool (task 1 is the spout's task id on 2 containers), for the baseline. */
async function exampleSentences() {
  const { SentenceSpout } = await import(path.join(EXAMPLE, 'dist/topology.js'));
  const spout = new SentenceSpout();
  spout.open({ taskId: 1, config: {} }, { emit() {} });
  const sentences = spout.sentences;
  if (!Array.isArray(sentences) || sentences.length === 0) throw new Error('cannot read the sentences of examples/word-count');
  // The latency topology generates its own copy; it must be the same text.
  const latency = await import(path.join(LATENCY_PACKAGE, 'topology.mjs'));
  const copy = new latency.SentenceSpout();
  const dir = path.join(HOME, 'sentence-check');
  mkdirSync(dir, { recursive: true });
  copy.open({ taskId: 1, config: { benchDir: dir } }, { emit() {} });
  copy.close();
  if (JSON.stringify(copy.sentences) !== JSON.stringify(sentences))
    throw new Error('bench/topologies/word-count-latency no longer generates the sentences of examples/word-count');
  const file = path.join(HOME, 'sentences.json');
  writeFileSync(file, JSON.stringify(sentences));
  return { file, words: sentences.reduce((a, s) => a + s.split(' ').length, 0) / sentences.length };
}

const summarize = (values, digits = 0) => ({
  median: round(median(values), digits),
  range: range(values)?.map((v) => round(v, digits)) ?? null,
});

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  rmSync(HOME, { recursive: true, force: true });
  mkdirSync(HOME, { recursive: true });
  const startedAt = Date.now();
  const facts = machine();
  const { file: sentencesFile, words: wordsPerSentence } = await exampleSentences();
  const engine = [];
  const baseline = [];
  const lat = [];
  for (let rep = 0; rep < REPS; rep++) {
    engine.push(await engineThroughput());
    log(`rep ${rep + 1}/${REPS} engine ${round(engine.at(-1).wordsPerSec)} words/s, ${round(engine.at(-1).cpuCores, 2)} cores`);
    baseline.push(await baselineThroughput(sentencesFile));
    log(`rep ${rep + 1}/${REPS} baseline ${round(baseline.at(-1).wordsPerSec)} words/s, ${round(baseline.at(-1).cpuCores, 2)} cores`);
    lat.push(await latencyAndBackpressure(rep));
    const l = lat.at(-1);
    log(
      `rep ${rep + 1}/${REPS} latency p50 ${l.latency.p50Ms} ms p99 ${l.latency.p99Ms} ms; ` +
        `backpressure ${BP_RATES.map(([k]) => `${k} ${l.backpressure[k].reactionMs} ms`).join(', ')}`,
    );
  }

  const wordsPerSec = median(engine.map((r) => r.wordsPerSec));
  const baselineWordsPerSec = median(baseline.map((r) => r.wordsPerSec));
  const engineWpc = median(engine.map((r) => r.wordsPerCpuSec));
  const baselineWpc = median(baseline.map((r) => r.wordsPerCpuSec));
  const efficiency = engineWpc / baselineWpc;
  const p50Ms = median(lat.map((r) => r.latency.p50Ms));
  const p99Ms = median(lat.map((r) => r.latency.p99Ms));
  const reactionByRate = Object.fromEntries(
    BP_RATES.map(([k]) => [
      k,
      summarize(
        lat.map((r) => r.backpressure[k].reactionMs ?? Number.POSITIVE_INFINITY),
        1,
      ),
    ]),
  );
  // A rate at which the spout never stopped within the timeout counts as "more than the timeout".
  for (const [k] of BP_RATES)
    if (lat.some((r) => r.backpressure[k].reactionMs === null)) reactionByRate[k].notStoppedWithinMs = BP_STOP_TIMEOUT_MS;
  const backpressureReactionMs = Math.max(
    ...BP_RATES.map(([k]) => median(lat.map((r) => r.backpressure[k].reactionMs ?? BP_STOP_TIMEOUT_MS))),
  );

  const result = {
    bench: 'word-count',
    date: new Date().toISOString().slice(0, 10),
    wordsPerSec: round(wordsPerSec),
    baselineWordsPerSec: round(baselineWordsPerSec),
    efficiency: round(efficiency, 3),
    cpuSecondsPerMillionWords: round(1e6 / engineWpc, 3),
    baselineCpuSecondsPerMillionWords: round(1e6 / baselineWpc, 3),
    p50Ms,
    p99Ms,
    backpressureReactionMs: round(backpressureReactionMs, 1),
    goals: {
      wordsPerSec: { goal: GOALS.wordsPerSec, met: wordsPerSec >= GOALS.wordsPerSec },
      efficiency: { goal: GOALS.efficiency, met: efficiency >= GOALS.efficiency },
      p99Ms: { goal: GOALS.p99Ms, met: p99Ms <= GOALS.p99Ms },
      backpressureReactionMs: { goal: GOALS.backpressureReactionMs, met: backpressureReactionMs <= GOALS.backpressureReactionMs },
    },
    reps: REPS,
    detail: {
      engine: {
        wordsPerSec: summarize(engine.map((r) => r.wordsPerSec)),
        wordsPerCpuSec: summarize(engine.map((r) => r.wordsPerCpuSec)),
        cpuCores: summarize(
          engine.map((r) => r.cpuCores),
          2,
        ),
        spoutPausedFraction: summarize(
          engine.map((r) => r.spoutPausedFraction),
          2,
        ),
        runs: engine.map((r) => ({
          ...r,
          wordsPerSec: round(r.wordsPerSec),
          wordsPerCpuSec: round(r.wordsPerCpuSec),
          cpuCores: round(r.cpuCores, 2),
          foreignCores: round(r.foreignCores, 2),
          spoutPausedFraction: round(r.spoutPausedFraction, 2),
        })),
      },
      baseline: {
        wordsPerSec: summarize(baseline.map((r) => r.wordsPerSec)),
        wordsPerCpuSec: summarize(baseline.map((r) => r.wordsPerCpuSec)),
        cpuCores: summarize(
          baseline.map((r) => r.cpuCores),
          2,
        ),
        runs: baseline.map((r) => ({
          ...r,
          wordsPerSec: round(r.wordsPerSec),
          wordsPerCpuSec: round(r.wordsPerCpuSec),
          cpuCores: round(r.cpuCores, 2),
          foreignCores: round(r.foreignCores, 2),
        })),
      },
      latency: {
        rateWordsPerSec: LATENCY_RATE * wordsPerSentence,
        p50Ms: summarize(
          lat.map((r) => r.latency.p50Ms),
          3,
        ),
        p90Ms: summarize(
          lat.map((r) => r.latency.p90Ms),
          3,
        ),
        p99Ms: summarize(
          lat.map((r) => r.latency.p99Ms),
          3,
        ),
        p999Ms: summarize(
          lat.map((r) => r.latency.p999Ms),
          3,
        ),
        runs: lat.map((r) => r.latency),
      },
      backpressure: {
        reactionMsByRate: reactionByRate,
        resumeMsByRate: Object.fromEntries(
          BP_RATES.map(([k]) => [
            k,
            summarize(
              lat.map((r) => r.backpressure[k].resumeMs),
              1,
            ),
          ]),
        ),
        runs: lat.map((r) => r.backpressure),
      },
    },
    machine: {
      ...facts,
      busyCoresBeforeRuns: [...engine, ...baseline, ...lat.map((r) => r.latency)].map((r) => r.busyBefore),
      // Cores other sessions used during the kept windows (engine, baseline, latency per rep).
      foreignCoresDuring: [...engine, ...baseline, ...lat.map((r) => r.latency)].map((r) => round(r.foreignCores, 2)),
      extraWindows: MAX_RETRIES - retriesLeft,
    },
    config: {
      warmupMs: WARMUP_MS,
      windowMs: WINDOW_MS,
      metricsIntervalMs: METRICS_INTERVAL_MS,
      latencyRateSentencesPerSec: LATENCY_RATE,
      latencyWindowMs: LATENCY_WINDOW_MS,
      wordsPerSentence,
    },
    elapsedS: round((Date.now() - startedAt) / 1000, 1),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  await main();
} catch (error) {
  log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
} finally {
  await ardea?.close().catch(() => undefined);
  cleanupSync();
}
