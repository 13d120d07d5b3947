import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadClusterConfig } from '../config/cluster-config.js';
import { SchedulerError } from '../errors/index.js';
import { CONTAINER_INDEX_PLACEHOLDER } from '../spi/scheduler.js';
import { INSTALLED_EXECUTOR_BIN, localExecutorArgv } from './executor-command.js';
import { executorSpec } from './executor-spec.js';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'ardea-executor-command-'));
});
afterEach(() => rm(base, { recursive: true, force: true }));

describe('the executor spec', () => {
  it('names the logical command, the topology and the container, and carries the config by value', () => {
    const config = loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: base } });
    const spec = executorSpec(config, 'word-count');
    expect(spec.argv).toEqual(['ardea-executor', '--topology', 'word-count', '--container', CONTAINER_INDEX_PLACEHOLDER]);
    expect(Object.keys(spec.env)).toEqual(['ARDEA_CLUSTER_CONFIG']);
    expect(JSON.parse(spec.env.ARDEA_CLUSTER_CONFIG!)).toMatchObject({ format: 'ardea-cluster-config/1', cluster: 'local', home: base });
  });

  it('uses the cluster’s executor command', () => {
    const config = loadClusterConfig({
      cluster: 'local',
      env: { ARDEA_HOME: base },
      overrides: ['scheduler.executorCommand=/opt/ardea/bin/ardea-executor'],
    });
    expect(executorSpec(config, 't').argv[0]).toBe('/opt/ardea/bin/ardea-executor');
  });
});

describe('starting the executor on this machine', () => {
  const spec = (command: string) => ({ argv: [command, '--topology', 't', '--container', CONTAINER_INDEX_PLACEHOLDER], env: {} });

  it('runs this installation’s ardea-executor with this Node for the default command, whatever PATH holds', async () => {
    const impostor = path.join(base, 'ardea-executor');
    await writeFile(impostor, '#!/bin/sh\nexit 1\n', { mode: 0o700 });
    expect(localExecutorArgv(spec('ardea-executor'), 3, { PATH: base })).toEqual([
      process.execPath,
      INSTALLED_EXECUTOR_BIN,
      '--topology',
      't',
      '--container',
      '3',
    ]);
    expect(INSTALLED_EXECUTOR_BIN).toMatch(/core[/\\]bin[/\\]ardea-executor\.mjs$/);
  });

  it('looks another command name up on PATH, skipping what is not an executable file', async () => {
    const first = path.join(base, 'first');
    const second = path.join(base, 'second');
    for (const directory of [first, second]) await mkdir(directory);
    await writeFile(path.join(first, 'my-executor'), 'not executable', { mode: 0o600 });
    await writeFile(path.join(second, 'my-executor'), '#!/bin/sh\n', { mode: 0o700 });
    expect(localExecutorArgv(spec('my-executor'), 1, { PATH: ['relative/bin', first, second].join(path.delimiter) })).toEqual([
      path.join(second, 'my-executor'),
      '--topology',
      't',
      '--container',
      '1',
    ]);
    await chmod(path.join(second, 'my-executor'), 0o600);
    expect(() => localExecutorArgv(spec('my-executor'), 1, { PATH: [first, second].join(path.delimiter) })).toThrow(SchedulerError);
  });

  it('leaves an absolute path as it is', () => {
    expect(localExecutorArgv(spec('/opt/ardea/bin/ardea-executor'), 2, { PATH: '' })[0]).toBe('/opt/ardea/bin/ardea-executor');
  });

  it('names a command it cannot find and how to set another', () => {
    let error: unknown;
    try {
      localExecutorArgv(spec('no-such-executor'), 2, { PATH: `${base}${path.delimiter}/nonexistent` });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('scheduler.executor-not-found');
    expect((error as SchedulerError).message).toBe(
      `the executor command 'no-such-executor' is not on this machine's PATH (${base}${path.delimiter}/nonexistent); ` +
        "install it there, or set scheduler.executorCommand in the cluster's scheduler.yaml to its absolute path (default: ardea-executor)",
    );
  });
});
