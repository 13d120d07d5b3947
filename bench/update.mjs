#!/usr/bin/env node
// Times `ardea update` on the local pool: from the request until every new instance is processing
// tuples, for a scale-up of count by +2 (the repacker adds a container) and for the scale-down back.
// Prints one JSON line per operation with the median over RUNS rounds. The baseline, measured in the
// same run, is a plain restart of one container (what the update avoids for untouched containers).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createArdea } from '@ardea/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 5);
const home = mkdtempSync(path.join(os.tmpdir(), 'ardea-bench-update-'));
const name = 'word-count';
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ardea = await createArdea({ cluster: 'local', env: { ...process.env, ARDEA_HOME: home } });

/** Waits until every instance of `component` has executed tuples since `since`. */
async function allProcessing(component, before) {
  for (;;) {
    const view = await ardea.metrics(name, { instances: true, windowMs: 1000 });
    const instances = Object.entries(view.components[component]?.instances ?? {});
    if (instances.length > 0 && instances.every(([id, m]) => m.executed > (before.get(id) ?? -1))) return;
    await sleep(20);
  }
}

async function executedByInstance(component) {
  const view = await ardea.metrics(name, { instances: true, windowMs: 1000 });
  return new Map(Object.entries(view.components[component]?.instances ?? {}).map(([id, m]) => [id, m.executed]));
}

const results = { up: [], down: [], restart: [] };
let containersAfterUp = 0;
try {
  await ardea.submit({
    packagePath: path.join(root, 'examples', 'word-count'),
    properties: [
      { key: 'topology.metricsIntervalMs', value: 200 },
      { key: 'sentence.rate', value: 5000 },
    ],
  });
  await sleep(1500);
  for (let round = 0; round < RUNS; round++) {
    let before = await executedByInstance('count');
    let start = performance.now();
    const up = await ardea.update(name, { parallelism: { count: 4 } });
    await allProcessing('count', before);
    results.up.push(performance.now() - start);
    containersAfterUp = up.plan.containers.length;

    before = await executedByInstance('count');
    start = performance.now();
    await ardea.update(name, { parallelism: { count: 2 } });
    await allProcessing('count', before);
    results.down.push(performance.now() - start);

    before = await executedByInstance('count');
    start = performance.now();
    await ardea.restart(name, 2);
    for (;;) {
      const status = await ardea.status(name);
      if (status.every((s) => s.state === 'running')) break;
      await sleep(20);
    }
    await allProcessing('count', before);
    results.restart.push(performance.now() - start);
  }
} finally {
  await ardea.kill(name).catch(() => undefined);
  await ardea.close();
  rmSync(home, { recursive: true, force: true });
}

const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadavg1: os.loadavg()[0] };
const line = (operation, values, extra = {}) => {
  const msMedian = Math.round(median(values));
  const msMin = Math.round(Math.min(...values));
  const msMax = Math.round(Math.max(...values));
  process.stdout.write(
    `${JSON.stringify({ bench: 'update', operation, msMedian, msMin, msMax, runs: values.length, ...extra, machine })}\n`,
  );
};
line('scale-up count 2->4', results.up, { containersAfter: containersAfterUp });
line('scale-down count 4->2', results.down);
line('restart container 2 (baseline)', results.restart);
