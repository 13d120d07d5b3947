import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExceptionsView, MetricsTimeline, MetricsView, PackingPlan } from '@ardea/core';
import {
  ardea,
  ardeaBin,
  CLEANUP_TIMEOUT_MS,
  E2E_WAIT_MS,
  freshHome,
  metrics,
  metricsView,
  removeHome,
  repoRoot,
  settledCounts,
  wordCountComplete,
} from './support.js';
// @ts-expect-error: a plain-JS test fixture without type declarations
import { parsePrometheusText } from '../core/src/tracker/fixtures/prometheus-text.mjs';

const WORD_COUNT = path.join(repoRoot, 'examples', 'word-count');
const SINK_MODULE = path.join(repoRoot, 'core', 'src', 'tracker', 'fixtures', 'recording-sink.mjs');
/** Every resource the tracker must describe in /openapi.json (the contract of issue 19). */
const RESOURCES = [
  '/clusters',
  '/topologies',
  '/topologies/info',
  '/topologies/logicalplan',
  '/topologies/packingplan',
  '/topologies/physicalplan',
  '/topologies/executionstate',
  '/topologies/schedulerlocation',
  '/topologies/containers',
  '/topologies/metrics',
  '/topologies/metrics/timeline',
  '/topologies/exceptions',
  '/topologies/exceptionsummary',
  '/topologies/health',
  '/topologies/container/log',
  '/metrics',
  '/openapi.json',
];

type Families = Map<string, { type: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }>;
const parse = parsePrometheusText as (text: string) => Families;

interface RunningTracker {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => { stdout: string; stderr: string };
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** `ardea tracker --port 0 ...` as a user starts it; resolves once it printed the URL it listens on. */
async function startTracker(home: string, args: readonly string[], env: Record<string, string> = {}): Promise<RunningTracker> {
  const child = spawn(process.execPath, [ardeaBin, 'tracker', '--port', '0', ...args], {
    env: { ...process.env, ARDEA_HOME: home, ...env },
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  trackers.push(child);
  await vi.waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`ardea tracker exited (${child.exitCode}): ${stderr}`);
      expect(stdout).toMatch(/tracker listening on http:\/\/127\.0\.0\.1:\d+/);
    },
    { timeout: E2E_WAIT_MS, interval: 100 },
  );
  const url = /tracker listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!;
  return {
    url,
    child,
    output: () => ({ stdout, stderr }),
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

let home: string;
let trackers: ChildProcess[] = [];

beforeEach(() => {
  home = freshHome('ardea-tracker-e2e-');
  trackers = [];
});

afterEach(async () => {
  for (const child of trackers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await removeHome(home);
}, CLEANUP_TIMEOUT_MS);

async function json<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

describe('ardea tracker on the local pool', () => {
  it('serves a running word count through every resource, feeds a sink module; its Prometheus counter matches the cache', async () => {
    const submit = await ardea(
      home,
      'submit',
      'local',
      WORD_COUNT,
      '--config-property',
      'topology.metricsIntervalMs=1000',
      '--config-property',
      'sentence.rate=2000',
      '--config-property',
      'topology.healthManager=false',
    );
    expect(submit).toMatchObject({ code: 0 });

    const sinkFile = path.join(home, 'snapshots.jsonl');
    const tracker = await startTracker(home, ['--sink-module', SINK_MODULE, '--sink-interval', '1'], { ARDEA_TEST_SINK_FILE: sinkFile });
    expect(tracker.output().stdout).toMatch(/\(clusters: local; sinks: (recording, failing|failing, recording)\)\n$/);
    const q = (extra = '') => `cluster=local&topology=word-count${extra}`;
    const get = <T>(route: string) => json<T>(`${tracker.url}${route}`);

    expect(await get('/clusters')).toEqual([{ name: 'local', stateManager: 'localfs', scheduler: 'local' }]);
    const { topologies } = await get<{ topologies: Array<Record<string, unknown>> }>('/topologies');
    expect(topologies).toEqual([
      expect.objectContaining({ cluster: 'local', name: 'word-count', state: 'RUNNING', reliability: 'at-most-once', components: 3 }),
    ]);

    const logical = await get<{ components: Array<{ name: string; kind: string; parallelism: number; inputs: unknown[] }> }>(
      `/topologies/logicalplan?${q()}`,
    );
    expect(logical.components.map((c) => [c.name, c.kind, c.inputs])).toEqual([
      ['sentence', 'spout', []],
      ['split', 'bolt', [{ component: 'sentence', stream: 'default', grouping: { type: 'shuffle' } }]],
      ['count', 'bolt', [{ component: 'split', stream: 'default', grouping: { type: 'fields', fields: ['word'] } }]],
    ]);

    const packing = await get<PackingPlan>(`/topologies/packingplan?${q()}`);
    const physical = await get<{ streamManagers: unknown[]; instances: unknown[]; state: string }>(`/topologies/physicalplan?${q()}`);
    expect(physical.state).toBe('RUNNING');
    expect(physical.streamManagers).toHaveLength(packing.containers.length);
    expect(physical.instances).toHaveLength(logical.components.reduce((sum, c) => sum + c.parallelism, 0));
    expect(topologies[0]!.containers).toBe(packing.containers.length + 1);

    const execution = await get<Record<string, unknown>>(`/topologies/executionstate?${q()}`);
    expect(execution).toMatchObject({ topologyName: 'word-count', cluster: 'local', schedulerPlugin: 'local' });
    expect(execution).not.toHaveProperty('secret');
    expect(await get(`/topologies/schedulerlocation?${q()}`)).toMatchObject({ topologyName: 'word-count', mode: 'service' });
    const info = await get<Record<string, unknown>>(`/topologies/info?${q()}`);
    expect(info).toMatchObject({ name: 'word-count', state: 'RUNNING', runtime: { nodeVersion: process.version } });

    const { containers } = await get<{ containers: Array<{ containerId: number; state: string }> }>(`/topologies/containers?${q()}`);
    expect(containers.map((c) => [c.containerId, c.state])).toEqual(
      [0, ...packing.containers.map((c) => c.id)].map((id) => [id, 'running']),
    );

    await vi.waitFor(
      async () => {
        const view = await get<MetricsView>(`/topologies/metrics?${q('&instances=true&windowMs=5000')}`);
        expect(view.windowMs).toBe(5000);
        expect(view.components['count']!.executed).toBeGreaterThan(1000);
        expect(Object.keys(view.components['count']!.instances ?? {})).toHaveLength(
          logical.components.find((c) => c.name === 'count')!.parallelism,
        );
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    await vi.waitFor(
      async () => {
        const timeline = await get<MetricsTimeline>(`/topologies/metrics/timeline?${q('&instances=true')}`);
        expect(timeline.intervalMs).toBe(1000);
        expect(timeline.points.length).toBeGreaterThanOrEqual(3);
        expect(timeline.points.at(-1)!.components['count']!.executeRate).toBeGreaterThan(0);
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );

    const exceptions = await get<ExceptionsView>(`/topologies/exceptions?${q()}`);
    expect(exceptions.instances.map((i) => i.component).sort()).toEqual(
      logical.components.flatMap((c) => Array<string>(c.parallelism).fill(c.name)).sort(),
    );
    expect(exceptions.instances.every((i) => i.count === 0)).toBe(true);
    const summary = await get<{ components: Array<{ component: string; count: number }> }>(`/topologies/exceptionsummary?${q()}`);
    expect(summary.components.map((c) => [c.component, c.count])).toEqual([
      ['count', 0],
      ['sentence', 0],
      ['split', 0],
    ]);
    expect(await get(`/topologies/health?${q()}`)).toEqual({ rounds: [] });

    const log = await get<{ containerId: number; text: string; start: number; end: number }>(
      `/topologies/container/log?${q('&container=1&maxBytes=4096')}`,
    );
    expect(log.containerId).toBe(1);
    expect(log.end - log.start).toBeGreaterThan(0);
    expect(log.end - log.start).toBeLessThanOrEqual(4096);
    expect(log.text.length).toBeGreaterThan(0);

    const openapi = await get<{ openapi: string; paths: Record<string, unknown> }>('/openapi.json');
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths).sort()).toEqual([...RESOURCES].sort());

    // The sink module was loaded by the CLI and fed every second; its failing twin did not stop it.
    await vi.waitFor(
      () => {
        const lines = existsSync(sinkFile) ? readFileSync(sinkFile, 'utf8').trim().split('\n') : [];
        const snapshots = lines.map((line) => JSON.parse(line) as { topology?: string; metrics?: MetricsView });
        expect(
          snapshots.filter((s) => s.topology === 'word-count' && (s.metrics?.components['count']?.executed ?? 0) > 0).length,
        ).toBeGreaterThanOrEqual(2);
      },
      { timeout: E2E_WAIT_MS, interval: 500 },
    );
    expect(tracker.output().stderr).toContain('metrics sink failed to publish');

    // Paused and drained, the counts stand still, so the tracker's counter and the cache can be compared exactly.
    expect(await ardea(home, 'deactivate', 'local', 'word-count')).toMatchObject({ code: 0 });
    await settledCounts(() => metrics(home, 'word-count'), wordCountComplete);
    const cache = await metricsView(home, 'word-count');
    const scrape = await fetch(`${tracker.url}/metrics`);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const families = parse(await scrape.text());
    const executed = families.get('ardea_component_executed_tuples_total')!;
    expect(executed.type).toBe('counter');
    const countSamples = executed.samples.filter((s) => s.labels['component'] === 'count');
    expect(countSamples).toEqual([
      {
        name: 'ardea_component_executed_tuples_total',
        labels: { cluster: 'local', topology: 'word-count', component: 'count' },
        value: cache.components['count']!.executed,
      },
    ]);
    const perInstance = families.get('ardea_instance_executed_tuples_total')!.samples.filter((s) => s.labels['component'] === 'count');
    expect(perInstance.reduce((sum, s) => sum + s.value, 0)).toBe(cache.components['count']!.executed);
    expect(new Set(perInstance.map((s) => s.labels['container']))).toEqual(
      new Set(packing.containers.filter((c) => c.instances.some((i) => i.component === 'count')).map((c) => String(c.id))),
    );
    expect(families.get('ardea_container_resident_memory_bytes')!.samples.length).toBe(packing.containers.length);
    expect(families.get('ardea_tracker_scrape_errors_total')!.samples).toEqual([]);

    expect(await tracker.stop()).toBe(0);
    expect(readFileSync(sinkFile, 'utf8').trim().split('\n').at(-1)).toBe('{"closed":true}');
  }, 600_000);

  it('with --require-token creates a private token file and answers the API only to requests that carry the token', async () => {
    const tokenFile = path.join(home, 'tracker.token');
    const tracker = await startTracker(home, ['--cluster', 'local', '--require-token']);
    expect(tracker.output().stdout).toContain(`bearer token in ${tokenFile} (new)`);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const refused = await fetch(`${tracker.url}/topologies`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'tracker.unauthorized' });
    expect(await json(`${tracker.url}/topologies`, { authorization: `Bearer ${token}` })).toEqual({ topologies: [], errors: [] });
    expect((await fetch(`${tracker.url}/`)).status).toBe(200);
    expect(await tracker.stop()).toBe(0);
  }, 120_000);
});
