import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ArdeaError, SchedulerError } from '../errors/index.js';
import { SilentLogger, type Logger } from '../logging/index.js';
import type { ComponentMetrics, ExceptionsView, MetricsView } from '../model/metrics.js';
import type { ExecutionState } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { MetricsSink, MetricsSnapshot } from '../spi/metrics-sink.js';
import type { ContainerStatus } from '../spi/scheduler.js';
import { InMemoryStateManager } from '../testing/in-memory-state-manager.js';
import { isLoopbackAddress } from './auth.js';
import type { TrackedCluster, TrackedDescription } from './backend.js';
// @ts-expect-error: a plain-JS test fixture without type declarations
import { parsePrometheusText } from './fixtures/prometheus-text.mjs';
import { ROUTES } from './routes.js';
import { loadSinkModules, SinkPublisher, sinksOf } from './sinks.js';
import { createTracker, type Tracker } from './tracker.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const TOKEN = 'a-tracker-token-of-some-length';

type Families = Map<
  string,
  { type: string; help?: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }
>;
const parse = parsePrometheusText as (text: string) => Families;

function counts(executed: number, extra: Partial<ComponentMetrics> = {}): ComponentMetrics {
  return {
    emitted: executed * 2,
    executed,
    acked: executed,
    failed: 1,
    errors: 3,
    emitRate: 10,
    executeRate: 5,
    backpressureMs: 1500,
    pendingBytes: 2048,
    maxPendingBytes: 4096,
    restarts: 0,
    hungRestarts: 0,
    memoryRestarts: 0,
    recentHungRestarts: 0,
    recentMemoryRestarts: 0,
    memoryBytes: 1_000_000,
    recentRestarts: 0,
    executeLatencyMs: 2.5,
    busyFraction: 0.25,
    instanceCount: 2,
    ...extra,
  };
}

function definition(name: string): TopologyDefinition {
  return {
    name,
    id: `${name}-0123abcd`,
    config: {},
    components: [
      { name: 'sentence', kind: 'spout', parallelism: 1, config: {}, inputs: [], outputs: [{ id: 'default', fields: ['sentence'] }] },
      {
        name: 'count',
        kind: 'bolt',
        parallelism: 2,
        config: {},
        inputs: [{ component: 'sentence', stream: 'default', grouping: { type: 'fields', fields: ['sentence'] } }],
        outputs: [],
      },
    ],
  };
}

/** An in-memory cluster: what `Ardea` answers, from state the test writes and a master the test controls. */
class FakeCluster implements TrackedCluster {
  readonly state = new InMemoryStateManager();
  readonly config: TrackedCluster['config'];
  masterCalls = 0;
  master: (name: string) => Promise<MetricsView> = async () => this.view(100);
  closed = false;

  constructor(cluster = 'local') {
    this.config = { cluster, scheduler: { plugin: 'local' }, statemgr: { plugin: 'localfs' } };
  }

  async add(name: string): Promise<void> {
    await this.state.start();
    const topology = definition(name);
    const execution: ExecutionState = {
      topologyName: name,
      topologyId: topology.id,
      cluster: this.config.cluster,
      submittedBy: 'someone',
      submittedAt: 1_700_000_000_000,
      ardeaVersion: '0.1.0',
      packageUri: 'https://packages.example/p.tgz?signature=secret-signature',
      schedulerPlugin: 'local',
      schedulerMode: 'service',
      secret: 'a-very-secret-submission-secret',
      initialState: 'RUNNING',
    };
    await this.state.set('topology', name, topology);
    await this.state.set('executionState', name, execution);
    await this.state.set('packingPlan', name, { topologyId: topology.id, containers: [] });
  }

  view(executed: number): MetricsView {
    return {
      windowMs: 60_000,
      timestamp: 1,
      components: {
        sentence: counts(0, { emitted: executed, instanceCount: 1 }),
        count: {
          ...counts(executed),
          instances: { container_1_count_2: counts(executed / 2), container_2_count_3: counts(executed / 2) },
        },
      },
      streamManagers: {
        'stmgr-1': {
          backpressureInitiatedMs: 0,
          spoutsPausedMs: 0,
          spoutsPausedFraction: 0,
          cpuCores: 0.5,
          rssBytes: 50_000_000,
          heapUsedBytes: 10_000_000,
          restarts: 1,
          droppedFrames: 0,
          droppedTuples: 0,
        },
      },
      droppedFrames: 0,
      droppedTuples: 0,
    };
  }

  list = () => this.state.list('topology');
  runState = async (name: string) => ((await this.state.get('topology', name)) ? 'RUNNING' : 'STARTING');
  describe = async (name: string): Promise<TrackedDescription> => {
    const topology = await this.state.get('topology', name);
    if (!topology) throw new ArdeaError(`no topology '${name}'`, { code: 'topology.not-found' });
    const executionState = await this.state.get('executionState', name);
    return { topology, reliability: 'at-most-once', ...(executionState ? { executionState } : {}) };
  };
  status = async (): Promise<ContainerStatus[]> => [{ containerId: 0, state: 'running', restarts: 0, handle: '123', host: 'h' }];
  metrics = async (name: string) => {
    this.masterCalls++;
    return this.master(name);
  };
  metricsTimeline = async () => ({ intervalMs: 1000, points: [] });
  exceptions = async (): Promise<ExceptionsView> => ({
    timestamp: 5,
    instances: [
      { instance: 'container_1_count_2', component: 'count', containerId: 1, taskId: 2, count: 2, last: { message: 'old', at: 10 } },
      {
        instance: 'container_2_count_3',
        component: 'count',
        containerId: 2,
        taskId: 3,
        count: 1,
        last: { message: 'new', stack: 'Error: new\n  at x', at: 20 },
      },
      { instance: 'container_1_sentence_1', component: 'sentence', containerId: 1, taskId: 1, count: 0 },
    ],
  });
  runtimeInfo = async () => ({ ardeaVersion: '0.1.0', nodeVersion: 'v20', startedAt: 1, host: 'h' });
  containerLog = async () => {
    throw new SchedulerError('the pool keeps no logs here', { code: 'scheduler.logs-unsupported' });
  };
  close = async () => {
    this.closed = true;
  };
}

class RecordingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  debug(): void {}
  info(): void {}
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
  child(): Logger {
    return this;
  }
}

let tracker: Tracker | undefined;
let temp: string | undefined;
afterEach(async () => {
  await tracker?.close();
  tracker = undefined;
  if (temp) rmSync(temp, { recursive: true, force: true });
  temp = undefined;
});

async function start(cluster: FakeCluster, options: { token?: string; logger?: Logger } = {}) {
  tracker = createTracker({
    clusters: [cluster],
    host: '127.0.0.1',
    port: 0,
    logger: options.logger ?? new SilentLogger(),
    ...(options.token ? { token: options.token } : {}),
  });
  const url = await tracker.listen();
  const get = async (route: string, headers: Record<string, string> = {}) => {
    const response = await fetch(url + route, { headers });
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) as Record<string, unknown> & unknown[] };
  };
  return { url, get };
}

describe('the tracker REST API', () => {
  it('lists clusters and topologies, and describes a topology resource by resource', async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const { get } = await start(cluster);
    expect((await get('/clusters')).json()).toEqual([{ name: 'local', stateManager: 'localfs', scheduler: 'local' }]);
    expect((await get('/topologies')).json()).toEqual({
      topologies: [
        {
          cluster: 'local',
          name: 'words',
          id: 'words-0123abcd',
          state: 'RUNNING',
          reliability: 'at-most-once',
          components: 2,
          containers: 1,
          submittedAt: 1_700_000_000_000,
        },
      ],
      errors: [],
    });
    const q = 'cluster=local&topology=words';
    const logical = (await get(`/topologies/logicalplan?${q}`)).json() as unknown as { components: unknown[] };
    expect(logical.components).toEqual([
      { name: 'sentence', kind: 'spout', parallelism: 1, inputs: [], outputs: [{ stream: 'default', fields: ['sentence'] }] },
      {
        name: 'count',
        kind: 'bolt',
        parallelism: 2,
        inputs: [{ component: 'sentence', stream: 'default', grouping: { type: 'fields', fields: ['sentence'] } }],
        outputs: [],
      },
    ]);
    const execution = (await get(`/topologies/executionstate?${q}`)).text;
    expect(execution).not.toContain('a-very-secret-submission-secret');
    expect(execution).not.toContain('secret-signature');
    expect((await get(`/topologies/info?${q}`)).json()).toMatchObject({ name: 'words', state: 'RUNNING', runtime: { host: 'h' } });
    expect((await get(`/topologies/containers?${q}`)).json()).toEqual({
      containers: [{ containerId: 0, state: 'running', restarts: 0, handle: '123', host: 'h' }],
    });
    expect((await get(`/topologies/exceptionsummary?${q}`)).json()).toEqual({
      timestamp: 5,
      components: [
        { component: 'count', count: 3, instancesWithErrors: 2, last: { message: 'new', at: 20, instance: 'container_2_count_3' } },
        { component: 'sentence', count: 0, instancesWithErrors: 0 },
      ],
    });
    expect((await get(`/topologies/health?${q}`)).json()).toEqual({ rounds: [] });
    const physical = await get(`/topologies/physicalplan?${q}`);
    expect(physical.status).toBe(404);
    expect(physical.json()).toMatchObject({ code: 'tracker.no-record' });
  });

  it('rejects bad, unknown and repeated query parameters with 400 naming them, and unknown clusters and topologies with 404', async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const { get } = await start(cluster);
    const cases: Array<[string, number, RegExp]> = [
      ['/topologies/metrics?cluster=local&topology=words&windowMs=abc', 400, /'windowMs'/],
      ['/topologies/metrics?cluster=local&topology=words&windowMs=-5', 400, /'windowMs'/],
      ['/topologies/metrics?cluster=local&topology=words&instances=yes', 400, /'instances'/],
      ['/topologies/metrics?cluster=local&topology=words&windowms=5000', 400, /unknown query parameter 'windowms'/],
      ['/topologies/info?cluster=local', 400, /'topology' is required/],
      ['/topologies/info?cluster=local&topology=words&topology=other', 400, /'topology' is given more than once/],
      ['/topologies/info?cluster=local&topology=../etc', 400, /'topology'/],
      ['/topologies/container/log?cluster=local&topology=words', 400, /'container' is required/],
      ['/topologies/info?cluster=elsewhere&topology=words', 404, /does not serve a cluster 'elsewhere'/],
      ['/topologies?cluster=elsewhere', 404, /does not serve a cluster 'elsewhere'/],
      ['/topologies/info?cluster=local&topology=gone', 404, /no topology 'gone' on cluster local/],
      ['/no/such/route', 404, /openapi\.json/],
    ];
    for (const [route, status, message] of cases) {
      const answer = await get(route);
      expect({ route, status: answer.status }).toEqual({ route, status });
      const body = answer.json() as unknown as { error: string; code: string };
      expect(body.error).toMatch(message);
      expect(Object.keys(body).sort()).toEqual(['code', 'error']);
    }
  });

  it("answers 502 with the master's words when it fails, 501 when the pool keeps no logs, and 500 without a stack otherwise", async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const logger = new RecordingLogger();
    const { get } = await start(cluster, { logger });
    const q = 'cluster=local&topology=words';
    cluster.master = async () => {
      throw new ArdeaError("the topology master of 'words' at 127.0.0.1:1 did not answer", { code: 'http.unreachable' });
    };
    const failed = await get(`/topologies/metrics?${q}`);
    expect(failed.status).toBe(502);
    expect(failed.json()).toEqual({ error: "the topology master of 'words' at 127.0.0.1:1 did not answer", code: 'http.unreachable' });
    const log = await get(`/topologies/container/log?${q}&container=1`);
    expect(log.status).toBe(501);
    expect(log.json()).toMatchObject({ code: 'scheduler.logs-unsupported' });
    cluster.master = async () => {
      throw new TypeError('cannot read properties of undefined');
    };
    const broken = await get(`/topologies/metrics?${q}&windowMs=5000`);
    expect(broken.status).toBe(500);
    expect(broken.text).not.toContain('cannot read properties');
    expect(broken.text).not.toMatch(/ at /);
    expect(logger.lines.some((line) => line.level === 'error' && String(line.fields?.error).includes('cannot read properties'))).toBe(true);
  });

  it("reuses a topology's metrics answer within a second, so pollers together cost one call to its master", async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const { get } = await start(cluster);
    const q = 'cluster=local&topology=words&instances=true';
    const answers = await Promise.all([get(`/topologies/metrics?${q}`), get(`/topologies/metrics?${q}`), get(`/topologies/metrics?${q}`)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(cluster.masterCalls).toBe(1);
    expect((answers[0]!.json() as unknown as MetricsView).components.count!.executed).toBe(100);
  });

  it('describes itself in OpenAPI 3.1: every route with its query parameters, from the same schemas', async () => {
    const { get } = await start(new FakeCluster());
    const document = (await get('/openapi.json')).json() as unknown as {
      openapi: string;
      paths: Record<string, { get: { parameters?: Array<{ name: string; required: boolean; schema: { type?: string } }> } }>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual([...ROUTES.map((r) => r.path), '/metrics', '/openapi.json'].sort());
    const metrics = document.paths['/topologies/metrics']!.get.parameters!;
    expect(metrics.map((p) => [p.name, p.required])).toEqual([
      ['cluster', true],
      ['topology', true],
      ['windowMs', false],
      ['instances', false],
    ]);
    expect(metrics.find((p) => p.name === 'windowMs')!.schema.type).toBe('integer');
  });
});

describe("the tracker's Prometheus /metrics", () => {
  it('renders valid exposition text with per-component, per-instance and per-container series in base units', async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const { url } = await start(cluster);
    const answer = await fetch(`${url}/metrics`);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parse(await answer.text());
    const sample = (name: string, labels: Record<string, string>) =>
      families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(families.get('ardea_component_executed_tuples_total')!.type).toBe('counter');
    expect(sample('ardea_component_executed_tuples_total', { cluster: 'local', topology: 'words', component: 'count' })!.value).toBe(100);
    expect(
      sample('ardea_instance_executed_tuples_total', { component: 'count', instance: 'container_2_count_3', container: '2' })!.value,
    ).toBe(50);
    expect(families.get('ardea_component_execute_latency_seconds')!.type).toBe('gauge');
    expect(sample('ardea_component_execute_latency_seconds', { component: 'count' })!.value).toBe(0.0025);
    expect(sample('ardea_component_backpressure_seconds', { component: 'count' })!.value).toBe(1.5);
    expect(sample('ardea_container_resident_memory_bytes', { container: '1' })!.value).toBe(50_000_000);
    expect(sample('ardea_container_restarts_total', { container: '1' })!.value).toBe(1);
    for (const [name, family] of families) {
      expect(name).toMatch(/^ardea_/);
      if (family.type === 'counter') expect(name).toMatch(/_total$/);
    }
  });

  it('skips a topology whose master does not answer and counts it in ardea_tracker_scrape_errors_total', async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    await cluster.add('other');
    cluster.master = async (name) => {
      if (name === 'other') throw new ArdeaError('no answer', { code: 'http.timeout' });
      return cluster.view(7);
    };
    const { get } = await start(cluster);
    for (const expected of [1, 2]) {
      const families = parse((await get('/metrics')).text);
      const topologies = new Set(families.get('ardea_component_executed_tuples_total')!.samples.map((s) => s.labels.topology));
      expect([...topologies]).toEqual(['words']);
      expect(families.get('ardea_tracker_scrape_errors_total')!.samples).toEqual([
        { name: 'ardea_tracker_scrape_errors_total', labels: { cluster: 'local' }, value: expected },
      ]);
      // Past the metrics answer's lifetime, so that the second scrape asks the master again.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
  });

  it('the text parser of these tests refuses what breaks the format', () => {
    expect(() => parse('# TYPE a counter\na 1\n')).not.toThrow();
    expect(() => parse('a{b="c} 1\n')).toThrow(/unterminated/);
    expect(() => parse('a 1\nb 2\na 3\n')).toThrow(/one group|twice/);
    expect(() => parse('a one\n')).toThrow(/not a float/);
    expect(() => parse('# TYPE a counter\na -1\n')).toThrow(/counter/);
    expect(() => parse('a 1')).toThrow(/line feed/);
  });
});

describe('tracker auth', () => {
  it('treats only 127.0.0.0/8, ::1 and localhost as loopback', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.1.1', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost'])
      expect({ host, loopback: isLoopbackAddress(host) }).toEqual({ host, loopback: true });
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'example.org', '127.example.org', ''])
      expect({ host, loopback: isLoopbackAddress(host) }).toEqual({ host, loopback: false });
  });

  it('refuses to listen beyond loopback without a token', () => {
    expect(() => createTracker({ clusters: [new FakeCluster()], host: '0.0.0.0', port: 0, logger: new SilentLogger() })).toThrow(
      /beyond loopback, so it needs a bearer token/,
    );
  });

  it('with a token, answers every API route 401 without it and serves the UI files to anyone', async () => {
    const cluster = new FakeCluster();
    await cluster.add('words');
    const { get } = await start(cluster, { token: TOKEN });
    for (const route of [
      '/clusters',
      '/topologies',
      '/topologies/info?cluster=local&topology=words',
      '/metrics',
      '/openapi.json',
      '/nope',
    ]) {
      for (const header of [undefined, 'Bearer wrong-token-of-some-length', `Basic ${TOKEN}`, TOKEN]) {
        const answer = await get(route, header ? { authorization: header } : {});
        expect({ route, header, status: answer.status }).toEqual({ route, header, status: 401 });
        expect(answer.json()).toMatchObject({ code: 'tracker.unauthorized' });
      }
      expect((await get(route, { authorization: `Bearer ${TOKEN}` })).status).not.toBe(401);
    }
    expect((await get('/')).status).toBe(200);
    const openapi = (await get('/openapi.json', { authorization: `Bearer ${TOKEN}` })).json() as unknown as { security: unknown };
    expect(openapi.security).toEqual([{ bearer: [] }]);
  });
});

describe('metrics sinks', () => {
  it("loads a sink module, hands it each topology's snapshot, logs a sink that throws without stopping the rest, closes them", async () => {
    temp = mkdtempSync(path.join(os.tmpdir(), 'ardea-sink-'));
    const file = path.join(temp, 'snapshots.jsonl');
    process.env['ARDEA_TEST_SINK_FILE'] = file;
    const logger = new RecordingLogger();
    const sinks = await sinksOf(await loadSinkModules(['./recording-sink.mjs'], FIXTURES), logger);
    expect(sinks.map((s) => s.name).sort()).toEqual(['failing', 'recording']);
    const cluster = new FakeCluster();
    await cluster.add('words');
    tracker = createTracker({ clusters: [cluster], host: '127.0.0.1', port: 0, logger, sinks });
    await tracker.listen();
    await tracker.publishNow();
    await tracker.publishNow();
    await tracker.close();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as MetricsSnapshot & { closed?: true });
    expect(lines.map((line) => line.closed ?? line.topology)).toEqual(['words', 'words', true]);
    expect(lines[0]).toMatchObject({ cluster: 'local', topology: 'words', topologyId: 'words-0123abcd' });
    expect(lines[0]!.metrics.components['count']!.instances).toBeDefined();
    expect(logger.lines.filter((line) => line.message === 'metrics sink failed to publish')).toHaveLength(2);
    expect(cluster.closed).toBe(true);
  });

  it('refuses a module that is missing or exports no ContainerModule, saying which', async () => {
    await expect(loadSinkModules(['./no-such-sink.mjs'], FIXTURES)).rejects.toThrow(/--sink-module \.\/no-such-sink\.mjs: no such module/);
    await expect(loadSinkModules(['./prometheus-text.mjs'], FIXTURES)).rejects.toThrow(
      /default export is not an inversify ContainerModule/,
    );
    await expect(loadSinkModules(['./prometheus-text.mjs#parsePrometheusText'], FIXTURES)).rejects.toThrow(
      /export 'parsePrometheusText' is not an inversify ContainerModule/,
    );
  });

  it('a sink still busy with one poll skips the next rather than piling up', async () => {
    let release: () => void = () => undefined;
    const published: string[] = [];
    const slow: MetricsSink = {
      name: 'slow',
      publish: (snapshot) => {
        published.push(snapshot.topology);
        return new Promise<void>((resolve) => (release = resolve));
      },
      close: () => undefined,
    };
    const logger = new RecordingLogger();
    const snapshot = { cluster: 'local', topology: 'words', topologyId: 'x', timestamp: 1, metrics: new FakeCluster().view(1) };
    const publisher = new SinkPublisher({ sinks: [slow], intervalMs: 1000, poll: async () => [snapshot], logger });
    await publisher.pollOnce();
    await publisher.pollOnce();
    expect(published).toEqual(['words']);
    expect(logger.lines.map((l) => l.message)).toContain('metrics sink still busy with the previous poll; skipping this one');
    release();
    await publisher.close();
  });
});
