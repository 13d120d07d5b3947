import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArdea } from '../app/ardea.js';
import type { MetricsView, ReliabilityMode } from '../model/metrics.js';
import type { InstanceMetricsSample, MetricsReport } from '../runtime/control-messages.js';
import { LATENCY_BUCKETS } from '../runtime/instance/messages.js';
import { MetricsCache } from '../runtime/metrics-cache.js';
import { sampleStateRecord } from '../testing/state-manager-conformance.js';
import { CliIo } from './cli-io.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runCli } from './program.js';

let home: string;

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-cli-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: { ARDEA_HOME: home },
    cwd: home,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const COMMANDS = [
  'submit',
  'kill',
  'activate',
  'deactivate',
  'restart',
  'update',
  'list',
  'status',
  'logs',
  'exceptions',
  'describe',
  'metrics',
  'health',
  'config',
  'version',
];

describe('ardea CLI', () => {
  it('lists every command in --help', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(EXIT_OK);
    for (const command of [...COMMANDS, 'tracker', 'completion', 'simulate', 'package-server'])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(stdout).not.toContain('__complete');
  });

  it('has help for the tracker', async () => {
    const { code, stdout } = await run('tracker', '--help');
    expect(code).toBe(EXIT_OK);
    for (const option of ['--host', '--port', '--cluster', '--token-file', '--require-token', '--sink-module', '--sink-interval'])
      expect(stdout).toContain(option);
  });

  it.each(COMMANDS)('has help for %s', async (command) => {
    const { code, stdout } = await run(command, '--help');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(new RegExp(`^Usage: ardea ${command} `));
    expect(stdout).toContain('--config-property <key=value>');
  });

  it('prints the merged config of the built-in local cluster', async () => {
    const { code, stdout, stderr } = await run('config', 'local');
    expect(stderr).toBe('');
    expect(code).toBe(EXIT_OK);
    expect(stdout).toContain('# cluster local: built in');
    expect(stdout).toMatch(/^scheduler:\n {2}plugin: local\n/m);
    expect(stdout).toMatch(/^statemgr:\n {2}plugin: localfs\n/m);
    expect(stdout).toMatch(/^packing:\n {2}algorithm: round-robin/m);
  });

  it('prints JSON with --json and applies --config-property', async () => {
    const { code, stdout } = await run('config', 'local', '--json', '--config-property', 'packing.algorithm=first-fit-decreasing');
    expect(code).toBe(EXIT_OK);
    const view = JSON.parse(stdout) as { concerns: { packing: { algorithm: string } } };
    expect(view.concerns.packing.algorithm).toBe('first-fit-decreasing');
  });

  it('fails with one line naming file and key for a malformed cluster YAML', async () => {
    const directory = path.join(home, 'clusters', 'broken');
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, 'packing.yaml'), 'algorithm: [round-robin\n');
    const { code, stderr } = await run('config', 'broken');
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(new RegExp(`^ardea: ${path.join(directory, 'packing.yaml')}: line \\d+, column \\d+: invalid YAML`));
  });

  it('fails with one line naming the plugin for an unknown plugin name', async () => {
    const directory = path.join(home, 'clusters', 'mystery');
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, 'statemgr.yaml'), 'plugin: etcd\n');
    const { code, stderr } = await run('config', 'mystery');
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toContain(
      `ardea: ${path.join(directory, 'statemgr.yaml')}: statemgr.plugin: statemgr plugin 'etcd' cannot be loaded: it is not installed`,
    );
  });

  it('exits 2 on usage errors', async () => {
    expect((await run('config')).code).toBe(EXIT_USAGE);
    expect((await run('frobnicate')).code).toBe(EXIT_USAGE);
  });

  it('checks update arguments before touching anything', async () => {
    expect((await run('update', 'local', 'word-count', '--component-parallelism', 'count')).stderr).toMatch(
      /--component-parallelism 'count': expected <component>:<n>/,
    );
    expect((await run('update', 'local', 'word-count')).stderr).toMatch(
      /give --component-parallelism and\/or --container-number, or --runtime-config/,
    );
    expect((await run('update', 'local', 'word-count', '--runtime-config', 'rate=3')).stderr).toMatch(
      /--runtime-config 'rate=3': expected <component>:<key>=<value>/,
    );
  });

  it('lists an empty cluster and reports an unknown topology', async () => {
    const list = await run('list', 'local');
    expect(list).toMatchObject({ code: EXIT_OK, stdout: 'no topologies on cluster local\n' });
    const describe = await run('describe', 'local', 'word-count');
    expect(describe.code).toBe(EXIT_FAILURE);
    expect(describe.stderr).toBe("ardea: no topology 'word-count' on cluster local; 'ardea list local' shows the running ones\n");
  });

  it('rejects a bad tracker port or sink interval as a usage error before starting anything', async () => {
    const port = await run('tracker', '--port', '70000');
    expect(port.code).toBe(EXIT_USAGE);
    expect(port.stderr).toContain("option '--port <port>' argument '70000' is invalid. expected a port number from 0 to 65535");
    const interval = await run('tracker', '--sink-interval', '0');
    expect(interval.code).toBe(EXIT_USAGE);
    expect(interval.stderr).toContain("option '--sink-interval <seconds>' argument '0' is invalid");
  });
});

/** Counters of one instance, zero but for `counts`. */
function sample(component: string, taskId: number, counts: Partial<InstanceMetricsSample> = {}): InstanceMetricsSample {
  return {
    component,
    taskId,
    ...{ emitted: 0, executed: 0, acked: 0, failed: 0, errors: 0, busyNs: 0, executeNs: 0, timedOut: 0, completed: 0 },
    ...{ completeLatencyNs: 0, completeLatencyHistogram: new Array<number>(LATENCY_BUCKETS).fill(0) },
    ...{ pendingBytes: 0, maxPendingBytes: 0, restarts: 0, backpressureMs: 0 },
    ...counts,
  };
}

function report(timestamp: number, instances: Record<string, InstanceMetricsSample>): MetricsReport {
  return {
    type: 'metrics',
    containerId: 1,
    incarnation: 'first',
    timestamp,
    instances,
    streamManager: { backpressureInitiatedMs: 0, spoutsPausedMs: 0, cpuUserUs: 0, cpuSystemUs: 0, rssBytes: 0, heapUsedBytes: 0 },
  } as MetricsReport;
}

describe('ardea metrics and describe by delivery guarantee', () => {
  const NAME = 'word-count';
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /**
   * A topology of this reliability in the state of the local cluster, whose topology master (when
   * `view` is given) answers /metrics with that view, as a running one would.
   */
  async function deploy(reliability: ReliabilityMode, view?: MetricsView): Promise<void> {
    const ardea = await createArdea({ cluster: 'local', env: { ARDEA_HOME: home }, cwd: home });
    cleanups.push(() => ardea.close());
    const sampleTopology = sampleStateRecord('topology', NAME);
    const topology = { ...sampleTopology, config: { ...sampleTopology.config, reliability } };
    const execution = { ...sampleStateRecord('executionState', NAME), topologyId: topology.id };
    await ardea.state.set('topology', NAME, topology);
    await ardea.state.set('executionState', NAME, execution);
    if (!view) return;
    const master = createServer((request, response) => {
      const authorized = request.headers.authorization === `Bearer ${execution.secret}`;
      const known = request.method === 'GET' && request.url?.startsWith('/metrics?');
      response.writeHead(authorized ? (known ? 200 : 404) : 401, { 'content-type': 'application/json' });
      response.end(JSON.stringify(authorized && known ? view : { error: authorized ? 'no such route' : 'wrong secret' }));
    });
    await new Promise<void>((resolve) => master.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => master.close(() => resolve())));
    await ardea.state.set('topologyMaster', NAME, {
      topologyName: NAME,
      topologyId: topology.id,
      host: '127.0.0.1',
      serverPort: 1,
      controllerPort: (master.address() as AddressInfo).port,
    });
  }

  /** A spout that completed 100 trees in the window (98 within 1.024 ms, 2 within 65.536 ms) and timed out 3, and a bolt. */
  function busyView(reliability: ReliabilityMode, record: (cache: MetricsCache) => void = () => undefined): MetricsView {
    const cache = new MetricsCache({ maxSamples: 10, intervalMs: 1000, topologyId: `${NAME}-0`, reliability });
    cache.add(report(1000, { container_1_words_1: sample('words', 1), container_1_count_2: sample('count', 2) }));
    const histogram = new Array<number>(LATENCY_BUCKETS).fill(0);
    histogram[4] = 98;
    histogram[10] = 2;
    cache.add(
      report(2000, {
        container_1_words_1: sample('words', 1, {
          emitted: 103,
          acked: 100,
          failed: 3,
          timedOut: 3,
          completed: 100,
          completeLatencyNs: 120e6,
          completeLatencyHistogram: histogram,
        }),
        container_1_count_2: sample('count', 2, { executed: 103, acked: 103 }),
      }),
    );
    record(cache);
    return cache.view({ windowMs: 1000, instances: false, now: 2000 });
  }

  const rowOf = (table: string, component: string) =>
    table
      .split('\n')
      .find((line) => line.startsWith(`${component} `))!
      .trim()
      .split(/\s{2,}/);

  it('at-least-once: metrics adds acked, failed with the timed-out share, and the complete latency p99 of spouts', async () => {
    await deploy('at-least-once', busyView('at-least-once'));
    const table = await run('metrics', 'local', NAME);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(EXIT_OK);
    const header = table.stdout
      .split('\n')[0]!
      .trim()
      .split(/\s{2,}/);
    expect(header).toEqual([
      'COMPONENT',
      'EMITTED',
      'EXECUTED',
      'ACKED',
      'FAILED',
      'EMIT/S',
      'EXEC/S',
      'LATENCY ms',
      'COMPLETE p99 ms',
      'BUSY',
      'BP ms',
      'PENDING',
      'ERRORS',
      'RESTARTS',
    ]);
    const column = (name: string) => header.indexOf(name);
    const words = rowOf(table.stdout, 'words');
    expect([words[column('ACKED')], words[column('FAILED')], words[column('COMPLETE p99 ms')]]).toEqual([
      '100',
      '3 (3 timed out)',
      '65.536',
    ]);
    expect(rowOf(table.stdout, 'count')[column('COMPLETE p99 ms')]).toBe('-');
    // --json carries every value, the windowed ones too.
    const json = JSON.parse((await run('metrics', 'local', NAME, '--json')).stdout) as MetricsView;
    expect(json.components.words).toMatchObject({
      acked: 100,
      failed: 3,
      timedOut: 3,
      ackRate: 100,
      failRate: 3,
      completeLatencyMs: { mean: 1.2, p50: 1.024, p99: 65.536 },
    });
    expect(json.delivery).toEqual({ reliability: 'at-least-once', checkpoints: 0, restores: 0 });
    const described = await run('describe', 'local', NAME);
    expect(described.stdout).toContain('\n  reliability: at-least-once\n');
    expect(described.stdout).not.toContain('checkpoint');
  });

  it('at-most-once: metrics prints the table it always did', async () => {
    await deploy('at-most-once', busyView('at-most-once'));
    const table = await run('metrics', 'local', NAME);
    expect(table.code).toBe(EXIT_OK);
    expect(
      table.stdout
        .split('\n')[0]!
        .trim()
        .split(/\s{2,}/),
    ).toEqual(['COMPONENT', 'EMITTED', 'EXECUTED', 'EMIT/S', 'EXEC/S', 'LATENCY ms', 'BUSY', 'BP ms', 'PENDING', 'ERRORS', 'RESTARTS']);
    expect(table.stdout).not.toContain('checkpoint');
    expect((await run('describe', 'local', NAME)).stdout).toContain('\n  reliability: at-most-once\n');
  });

  it('effectively-once: describe and metrics show the last committed checkpoint and the restores', async () => {
    const completedAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    const view = busyView('effectively-once', (cache) => {
      cache.restored({ epoch: 1, checkpointId: undefined, at: completedAt - 60_000, reason: 'container 2 failed' });
      cache.checkpointCommitted({ checkpointId: 41, startedAt: completedAt - 10_120, completedAt: completedAt - 10_000, bytes: 1 });
      cache.checkpointCommitted({ checkpointId: 42, startedAt: completedAt - 120, completedAt, bytes: 3 * 1024 * 1024 });
    });
    await deploy('effectively-once', view);
    const described = await run('describe', 'local', NAME);
    expect(described.stderr).toBe('');
    expect(described.stdout).toContain(
      '\n  reliability: effectively-once\n' +
        '  last checkpoint: 42 at 2030-01-02T03:04:05.000Z, took 120 ms, 3MiB; 2 committed since container 0 started\n' +
        '  restores: 1 (last at 2030-01-02T03:03:05.000Z to empty state: container 2 failed)\n',
    );
    const json = JSON.parse((await run('describe', 'local', NAME, '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      reliability: 'effectively-once',
      delivery: { lastCheckpoint: { checkpointId: 42, completedAt, durationMs: 120, bytes: 3 * 1024 * 1024 }, checkpoints: 2, restores: 1 },
    });
    const table = (await run('metrics', 'local', NAME)).stdout;
    expect(table).toContain('last checkpoint: 42 at 2030-01-02T03:04:05.000Z');
    expect(table).not.toContain('ACKED');
  });

  it('effectively-once: describe says why the last checkpoint is unknown when the topology master is not running', async () => {
    await deploy('effectively-once');
    const described = await run('describe', 'local', NAME);
    expect(described.code).toBe(EXIT_OK);
    expect(described.stdout).toMatch(
      /\n {2}reliability: effectively-once\n {2}last checkpoint: unknown \(.*topology master .* is not running/,
    );
  });
});
