#!/usr/bin/env node
// How fast the tracker answers (issue 19): `npm run bench -- tracker` (builds first) or, after a
// build, `node bench/tracker.mjs [--requests N] [--topologies N]`. Prints ONE JSON line per
// measured route and client count; progress goes to stderr.
//
// Setup, in a private ARDEA_HOME on the local cluster: one real word count (examples/word-count,
// topology.metricsIntervalMs=1000, health manager off) submitted through the CLI, plus TOPOLOGIES-1
// more topologies whose state records (definition, packing plan, execution state, physical plan:
// what submit and the topology master write) are copies of the word count's under other names and
// ids — 50 running topologies do not fit a two-core machine, and the list reads only their state.
// Then `ardea tracker --port 0` runs in its own process and this one sends it REQUESTS GET requests
// per route over keep-alive connections, first from one client (one request at a time), then from 8
// concurrent clients, after WARMUP requests. Latency is per request, wall clock in this process.
//
// Routes:
//  - topologies: `/topologies` (every topology, read from the state manager and cached: served from
//    the cache for 2 s, refreshed in the background up to 30 s; `coldMs` is the first request's time,
//    which reads every record)
//  - metrics: `/topologies/metrics` of the word count (the master's answer is reused for 1 s)
//  - metrics-uncached: the same with a different `windowMs` on every request, so every request goes
//    to the topology master: the latency without the tracker's cache
//  - prometheus: `/metrics` (every topology; the copies have no master and are skipped)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, round, waitForIdle } from './word-count/measure.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const CLI = path.join(ROOT, 'core/dist/main/cli-main.js');
const EXAMPLE = path.join(ROOT, 'examples/word-count');

const argv = process.argv.slice(2);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const REQUESTS = Number(option('--requests') ?? 2000) || 2000;
const TOPOLOGIES = Number(option('--topologies') ?? 50) || 50;
const WARMUP = 100;
const CLIENTS = 8;

const home = mkdtempSync(path.join(os.tmpdir(), 'ardea-bench-tracker-'));
const env = { ...process.env, ARDEA_HOME: home };
const log = (message) => process.stderr.write(`[tracker bench] ${message}\n`);

function cli(...args) {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`ardea ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** Copies of the word count's state records under other names: what the list reads of each topology. */
async function writeCopies(count) {
  const { createArdea } = await import(path.join(ROOT, 'core/dist/index.js'));
  const ardea = await createArdea({ cluster: 'local', env });
  try {
    const [topology, packingPlan, executionState, physicalPlan] = await Promise.all(
      ['topology', 'packingPlan', 'executionState', 'physicalPlan'].map((kind) => ardea.state.get(kind, 'word-count')),
    );
    for (let i = 1; i <= count; i++) {
      const name = `copy-${String(i).padStart(2, '0')}`;
      const id = `${name}-${topology.id.split('-').at(-1)}`;
      await ardea.state.transaction([
        { op: 'create', kind: 'topology', topology: name, value: { ...topology, name, id } },
        { op: 'create', kind: 'packingPlan', topology: name, value: { ...packingPlan, topologyId: id } },
        { op: 'create', kind: 'executionState', topology: name, value: { ...executionState, topologyName: name, topologyId: id } },
        { op: 'create', kind: 'physicalPlan', topology: name, value: { ...physicalPlan, topologyName: name, topologyId: id } },
      ]);
    }
  } finally {
    await ardea.close();
  }
}

function startTracker() {
  const child = spawn(process.execPath, [CLI, 'tracker', '--port', '0', '--cluster', 'local'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /tracker listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`ardea tracker exited with ${code} before listening`)));
  });
}

async function timed(url) {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
  return ms;
}

/** REQUESTS requests spread over `clients` clients each sending one at a time; latencies ascending. */
async function measure(urlOf, clients) {
  for (let i = 0; i < WARMUP; i++) await timed(urlOf(i));
  const latencies = new Float64Array(REQUESTS);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        latencies[i] = await timed(urlOf(WARMUP + i));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  return {
    requests: REQUESTS,
    clients,
    p50Ms: round(percentile(latencies, 50), 2),
    p90Ms: round(percentile(latencies, 90), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    maxMs: round(latencies[latencies.length - 1], 2),
    requestsPerSecond: round(REQUESTS / seconds),
  };
}

let tracker;
try {
  log(`ARDEA_HOME ${home}: submitting the word count`);
  cli(
    'submit',
    'local',
    EXAMPLE,
    '--config-property',
    'topology.metricsIntervalMs=1000',
    '--config-property',
    'topology.healthManager=false',
    '--config-property',
    'sentence.rate=1000',
  );
  log(`writing the state of ${TOPOLOGIES - 1} more topologies`);
  await writeCopies(TOPOLOGIES - 1);
  tracker = await startTracker();
  log(`tracker at ${tracker.url}; letting the metrics cache fill`);
  await new Promise((resolve) => setTimeout(resolve, 5000));

  const coldMs = round(await timed(`${tracker.url}/topologies`), 2);
  const listed = await (await fetch(`${tracker.url}/topologies`)).json();
  if (listed.topologies.length !== TOPOLOGIES)
    throw new Error(`the tracker lists ${listed.topologies.length} topologies, not ${TOPOLOGIES}`);
  const metricsUrl = `${tracker.url}/topologies/metrics?cluster=local&topology=word-count`;
  const routes = [
    ['topologies', () => `${tracker.url}/topologies`, { coldMs }],
    ['metrics', () => metricsUrl, {}],
    // windowMs from 1000 ms up, a new one on every request: never served from the tracker's cache.
    ['metrics-uncached', (i) => `${metricsUrl}&windowMs=${1000 + i}`, {}],
    ['prometheus', () => `${tracker.url}/metrics`, {}],
  ];
  for (const [route, urlOf, extra] of routes) {
    for (const clients of [1, CLIENTS]) {
      const busyCores = await waitForIdle();
      const result = await measure(urlOf, clients);
      process.stdout.write(
        `${JSON.stringify({ bench: 'tracker', route, topologies: TOPOLOGIES, ...result, ...extra, busyCoresBefore: busyCores })}\n`,
      );
    }
  }
} finally {
  if (tracker) {
    tracker.child.kill('SIGTERM');
    await new Promise((resolve) => tracker.child.once('exit', resolve));
  }
  try {
    cli('kill', 'local', 'word-count');
  } catch (error) {
    log(`could not kill the word count: ${error.message}`);
  }
  rmSync(home, { recursive: true, force: true });
}
