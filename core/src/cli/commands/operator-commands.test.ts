import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BUILTIN_PLUGINS, type ResolvedPlugin } from '../../app/ardea-container.js';
import { createArdea } from '../../app/ardea.js';
import type { ExceptionsView } from '../../model/metrics.js';
import { ARDEA_VERSION } from '../../model/version.js';
import type { PluginDescriptor } from '../../plugin/plugin-descriptor.js';
import { sampleStateRecord } from '../../testing/state-manager-conformance.js';
import type { CliIo } from '../cli-io.js';
import { EXIT_FAILURE, EXIT_OK, runCli } from '../program.js';
import { exceptionsText, logRestarted, pluginVersion, statusText, versionText, wholeLines } from './operator-commands.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('status', () => {
  it('prints a row per container in id order, - for what the pool does not know, and the run state', () => {
    const text = statusText({
      topology: 'wc',
      cluster: 'hpc',
      state: 'RUNNING',
      timestamp: 0,
      containers: [
        { containerId: 1, state: 'restarting', restarts: 2, message: 'exited with code 1' },
        { containerId: 0, state: 'running', handle: '4242', restarts: 0, host: 'node-07' },
      ],
    });
    expect(text).toBe(
      'topology wc on hpc: RUNNING, 1/2 containers running\n' +
        'CONTAINER  STATE       HANDLE  RESTARTS  HOST     MESSAGE\n' +
        '0          running     4242    0         node-07\n' +
        '1          restarting  -       2         -        exited with code 1\n',
    );
  });
});

describe('logs', () => {
  const chunk = (start: number, text: string) => ({ containerId: 0, start, end: start + Buffer.byteLength(text), text, source: '/x.log' });

  it('drops the cut-off line a tail starts with, but not a log read from its start', () => {
    expect(wholeLines(chunk(10, 'ine one\nline two\n'))).toBe('line two\n');
    expect(wholeLines(chunk(0, 'line one\nline two\n'))).toBe('line one\nline two\n');
    expect(wholeLines(chunk(10, 'no newline at all'))).toBe('');
  });

  it('sees a log that started again: shorter than what was read, answered from another offset, or another log', () => {
    expect(logRestarted(100, chunk(100, 'more\n'), '/x.log')).toBe(false);
    expect(logRestarted(100, chunk(100, ''), '/x.log')).toBe(false);
    // A pool answers a read past the end from the start of the (new, shorter) log...
    expect(logRestarted(100, chunk(0, 'starting again\n'), '/x.log')).toBe(true);
    // ...or with nothing, at the end of the shorter log.
    expect(logRestarted(100, { ...chunk(40, ''), end: 40 }, '/x.log')).toBe(true);
    // A new allocation's log, already longer than what was read of the old one.
    expect(logRestarted(100, chunk(100, 'of the new one\n'), '/old-allocation.log')).toBe(true);
  });
});

describe('exceptions', () => {
  const view: ExceptionsView = {
    timestamp: 0,
    instances: [
      { instance: 'container_1_count_3', component: 'count', containerId: 1, taskId: 3, count: 0 },
      {
        instance: 'container_2_split_2',
        component: 'split',
        containerId: 2,
        taskId: 2,
        count: 12,
        last: {
          message: 'bad sentence',
          stack: 'Error: bad sentence\n    at splitIt (file:///t.mjs:3:9)\n    at Split.execute (file:///t.mjs:7:5)',
          at: Date.UTC(2030, 0, 1),
        },
      },
      { instance: 'container_1_split_1', component: 'split', containerId: 1, taskId: 1, count: 1, last: { message: 'no stack', at: 0 } },
      { instance: 'container_1_count_4', component: 'count', containerId: 1, taskId: 4, count: 0 },
      { instance: 'container_1_words_5', component: 'words', containerId: 1, taskId: 5, count: 0 },
    ],
  };

  it('lists failing instances with the last message and the stack frames indented, then the others in one line', () => {
    expect(exceptionsText(view, 'wc')).toBe(
      'container_1_split_1 (split, container 1): 1 error, last at 1970-01-01T00:00:00.000Z\n' +
        '  no stack\n' +
        'container_2_split_2 (split, container 2): 12 errors, last at 2030-01-01T00:00:00.000Z\n' +
        '  bad sentence\n' +
        '      at splitIt (file:///t.mjs:3:9)\n' +
        '      at Split.execute (file:///t.mjs:7:5)\n' +
        '\n' +
        'no errors: count (2 instances), words (1 instance)\n',
    );
  });

  it('says there are no errors, and where it looked', () => {
    const clean = { timestamp: 0, instances: view.instances.filter((i) => i.count === 0) };
    expect(exceptionsText(clean, 'wc')).toBe('no errors in wc: count (2 instances), words (1 instance)\n');
    expect(exceptionsText({ timestamp: 0, instances: [] }, 'wc')).toBe('no errors in wc\n');
  });
});

describe('version', () => {
  const resolved = (descriptor: PluginDescriptor, name: string): ResolvedPlugin => ({
    name,
    kind: descriptor.kind,
    descriptor,
    config: {},
  });

  it('finds built-in plugins in the core, and a package plugin by its package.json', () => {
    const builtin = BUILTIN_PLUGINS[0]!;
    expect(pluginVersion(resolved(builtin, builtin.name), '/')).toEqual({
      kind: builtin.kind,
      name: builtin.name,
      package: '@ardea/core',
      version: ARDEA_VERSION,
    });
    const local = { ...builtin, kind: 'scheduler' as const, name: 'local' };
    expect(pluginVersion(resolved(local, 'local'), '/')).toEqual({
      kind: 'scheduler',
      name: 'local',
      package: '@ardea/plugin-local',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    const missing = { ...builtin, kind: 'scheduler' as const, name: '@acme/not-installed' };
    expect(pluginVersion(resolved(missing, '@acme/not-installed'), '/')).toEqual({
      kind: 'scheduler',
      name: '@acme/not-installed',
      package: '@acme/not-installed',
    });
  });

  it('takes a path plugin version from the package.json above it', () => {
    const builtin = { ...BUILTIN_PLUGINS[0]!, kind: 'scheduler' as const };
    const seen = pluginVersion(resolved(builtin, './fixtures/recording-scheduler.mjs'), path.join(here, '..', '..', 'plugin'));
    expect(seen).toMatchObject({ package: path.join(here, '..', '..', 'plugin', 'fixtures', 'recording-scheduler.mjs') });
    expect(seen.version).toBe(ARDEA_VERSION);
  });

  it('prints the CLI, the plugins and container 0', () => {
    expect(
      versionText({
        cli: { ardea: '1.2.3', node: 'v20.20.0' },
        cluster: { name: 'hpc', plugins: [{ kind: 'scheduler', name: 'slurm', package: '@ardea/plugin-slurm' }] },
        topology: { name: 'wc', ardeaVersion: '1.2.2', nodeVersion: 'v20.19.0', host: 'node-1', startedAt: Date.UTC(2030, 0, 1) },
      }),
    ).toBe(
      'ardea CLI 1.2.3, Node v20.20.0\n' +
        'plugins of cluster hpc:\n' +
        '  scheduler  slurm  @ardea/plugin-slurm  version unknown\n' +
        'topology wc, container 0: Ardea 1.2.2, Node v20.19.0, on node-1 since 2030-01-01T00:00:00.000Z\n',
    );
  });
});

describe('logs of a pool that serves none', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ardea-cli-logs-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('gives the pool error in one line and exits 1', async () => {
    const cluster = path.join(home, 'clusters', 'nologs');
    mkdirSync(cluster, { recursive: true });
    const recording = path.join(here, '..', '..', 'plugin', 'fixtures', 'recording-scheduler.mjs');
    writeFileSync(path.join(cluster, 'scheduler.yaml'), `plugin: ${recording}\npool: gpu\n`);
    const ardea = await createArdea({ cluster: 'nologs', env: { ARDEA_HOME: home }, cwd: home });
    try {
      await ardea.state.set('topology', 'wc', sampleStateRecord('topology', 'wc'));
      await ardea.state.set('executionState', 'wc', sampleStateRecord('executionState', 'wc'));
      await ardea.state.set('scheduler', 'wc', { topologyName: 'wc', mode: 'library', jobLinks: [] });
    } finally {
      await ardea.close();
    }
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      env: { ARDEA_HOME: home },
      cwd: home,
    };
    expect(await runCli(['logs', 'nologs', 'wc', '1'], io)).toBe(EXIT_FAILURE);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      "ardea: this pool's scheduler does not serve container logs; the log of container 1 of 'wc' " +
        "is where the pool's own tools show it (see the pool's page in docs/)\n",
    );
  });
});

describe('logs -f', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ardea-cli-follow-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('prints what is appended, follows a log that starts again from its start, and exits 0 on Ctrl-C', async () => {
    const cluster = path.join(home, 'clusters', 'filelogs');
    const logDir = path.join(home, 'logs');
    mkdirSync(cluster, { recursive: true });
    mkdirSync(logDir);
    const log = path.join(logDir, 'container-1.log');
    writeFileSync(log, 'first process, line 1\nfirst process, line 2\n');
    writeFileSync(
      path.join(cluster, 'scheduler.yaml'),
      `plugin: ${path.join(here, 'fixtures', 'file-log-scheduler.mjs')}\nlogDir: ${logDir}\n`,
    );
    const ardea = await createArdea({ cluster: 'filelogs', env: { ARDEA_HOME: home }, cwd: home });
    try {
      await ardea.state.set('topology', 'wc', sampleStateRecord('topology', 'wc'));
      await ardea.state.set('executionState', 'wc', sampleStateRecord('executionState', 'wc'));
      await ardea.state.set('scheduler', 'wc', { topologyName: 'wc', mode: 'library', jobLinks: [] });
    } finally {
      await ardea.close();
    }
    let stdout = '';
    let stderr = '';
    let interrupt: () => void = () => undefined;
    const io: CliIo = {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      env: { ARDEA_HOME: home },
      cwd: home,
      onInterrupt: (listener) => {
        interrupt = listener;
        return () => undefined;
      },
    };
    const following = runCli(['logs', 'filelogs', 'wc', '1', '-f'], io);
    await vi.waitFor(() => expect(stdout).toBe('first process, line 1\nfirst process, line 2\n'), { timeout: 60_000 });
    appendFileSync(log, 'first process, line 3\n');
    await vi.waitFor(() => expect(stdout).toContain('line 3\n'), { timeout: 60_000 });
    // The container restarts with a new, shorter log.
    writeFileSync(log, 'second process\n');
    await vi.waitFor(() => expect(stdout).toContain('second process\n'), { timeout: 60_000 });
    interrupt();
    expect(await following).toBe(EXIT_OK);
    expect(stdout).toBe('first process, line 1\nfirst process, line 2\nfirst process, line 3\nsecond process\n');
    expect(stderr).toBe('ardea: the log of container 1 started again (a restart?); following it from its start\n');
  }, 120_000);
});
