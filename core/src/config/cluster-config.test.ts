import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/index.js';
import { GiB, MiB } from '../model/resources.js';
import { DEFAULT_PACKING_SETTINGS } from '../packing/settings.js';
import { CONFIG_PROPERTIES_ENV } from '../runtime/executor-env.js';
import {
  CLUSTER_CONFIG_ENV,
  clusterConfigFromValue,
  clusterConfigOfProcess,
  clusterConfigToValue,
  loadClusterConfig,
} from './cluster-config.js';
import { parseConfigProperty } from './config-property.js';

let home: string;

beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'ardea-config-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function cluster(name: string, files: Record<string, string>): string {
  const directory = path.join(home, 'clusters', name);
  mkdirSync(directory, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(directory, file), text);
  return directory;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the built-in local cluster', () => {
  it('needs no files: local scheduler, filesystem state manager, uploader and checkpoint storage under ARDEA_HOME', () => {
    const config = loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } });
    expect(config.directory).toBeUndefined();
    expect(config.home).toBe(home);
    expect(config.scheduler).toEqual({ plugin: 'local', config: {} });
    expect(config.statemgr.plugin).toBe('localfs');
    expect(config.uploader.plugin).toBe('localfs');
    expect(config.packing.algorithm).toBe('round-robin');
    expect(config.packing.repackingAlgorithm).toBe('round-robin');
    expect(config.packing.settings).toEqual(DEFAULT_PACKING_SETTINGS);
    expect(config.healthmgr).toEqual({ enabled: true, plugins: [], policies: {} });
    expect(config.checkpoints).toEqual({ plugin: 'localfs', config: {} });
    expect(Object.values(config.sources)).toEqual(Array(6).fill('<built-in local cluster>'));
  });

  it('defaults ARDEA_HOME to ~/.ardea', () => {
    expect(loadClusterConfig({ cluster: 'local', env: {} }).home).toBe(path.join(os.homedir(), '.ardea'));
  });

  it('is shadowed by a cluster directory of the same name', () => {
    const directory = cluster('local', { 'statemgr.yaml': 'plugin: zookeeper\nconnectString: 127.0.0.1:2181\n' });
    const config = loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } });
    expect(config.directory).toBe(directory);
    expect(config.statemgr).toEqual({ plugin: 'zookeeper', config: { connectString: '127.0.0.1:2181' } });
    expect(config.scheduler.plugin).toBe('local');
  });
});

describe('cluster directories', () => {
  it('merges one file per concern over the defaults and expands variables', () => {
    cluster('hpc', {
      'scheduler.yaml': 'plugin: slurm\npartition: debug\nworkdir: ${ARDEA_HOME}/work/${CLUSTER}\n',
      'packing.yml':
        'algorithm: first-fit-decreasing\ncontainer: { cpu: 8, ram: 16GiB }\ninstance: { ram: 512MiB }\npadding: { percent: 5 }\n',
      'healthmgr.yaml': 'policies:\n  dynamic-resource-provisioning: { intervalMs: 20000, noiseFilterMs: 20 }\n',
    });
    const config = loadClusterConfig({ cluster: 'hpc', env: { ARDEA_HOME: home } });
    expect(config.scheduler).toEqual({ plugin: 'slurm', config: { partition: 'debug', workdir: `${home}/work/hpc` } });
    expect(config.packing.algorithm).toBe('first-fit-decreasing');
    expect(config.packing.settings.containerMax).toEqual({
      cpu: 8,
      ramBytes: 16 * GiB,
      diskBytes: DEFAULT_PACKING_SETTINGS.containerMax.diskBytes,
    });
    expect(config.packing.settings.instanceDefaults.ramBytes).toBe(512 * MiB);
    expect(config.packing.settings.padding.percent).toBe(5);
    expect(config.healthmgr.policies['dynamic-resource-provisioning']).toEqual({ intervalMs: 20000, noiseFilterMs: 20 });
  });

  it('accepts a path as the cluster', () => {
    const directory = cluster('by-path', { 'uploader.yaml': 'plugin: ./my-uploader.mjs\n' });
    const config = loadClusterConfig({ cluster: directory, env: { ARDEA_HOME: home } });
    expect(config.cluster).toBe('by-path');
    expect(config.uploader.plugin).toBe('./my-uploader.mjs');
  });

  it('applies --config-property overrides with YAML-typed values', () => {
    cluster('c', { 'packing.yaml': 'algorithm: first-fit-decreasing\n' });
    const config = loadClusterConfig({
      cluster: 'c',
      env: { ARDEA_HOME: home },
      overrides: [
        'packing.algorithm=resource-compliant-round-robin',
        'packing.containers=3',
        'scheduler.stopGraceMs=250',
        'healthmgr.enabled=false',
      ],
    });
    expect(config.packing.algorithm).toBe('resource-compliant-round-robin');
    expect(config.packing.settings.containers).toBe(3);
    expect(config.scheduler.config).toEqual({ stopGraceMs: 250 });
    expect(config.healthmgr.enabled).toBe(false);
  });
});

describe('configuration errors name the file, the key and what is expected', () => {
  it('malformed YAML: file, line and column', () => {
    const directory = cluster('bad', { 'scheduler.yaml': 'plugin: local\nrestartBackoff: {initialMs: 1\n' });
    const error = errorOf(() => loadClusterConfig({ cluster: 'bad', env: { ARDEA_HOME: home } }));
    expect(error.message).toMatch(new RegExp(`^${path.join(directory, 'scheduler.yaml')}: line \\d+, column \\d+: invalid YAML`));
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('duplicate keys are YAML errors, not silent overwrites', () => {
    cluster('dup', { 'packing.yaml': 'algorithm: round-robin\nalgorithm: first-fit-decreasing\n' });
    expect(errorOf(() => loadClusterConfig({ cluster: 'dup', env: { ARDEA_HOME: home } })).message).toMatch(
      /packing\.yaml: line 2.*invalid YAML/,
    );
  });

  it('a wrong type names the key and the value', () => {
    const directory = cluster('types', { 'packing.yaml': 'containers: three\n' });
    const error = errorOf(() => loadClusterConfig({ cluster: 'types', env: { ARDEA_HOME: home } }));
    expect(error.message).toMatch(new RegExp(`^${path.join(directory, 'packing.yaml')}: packing\\.containers: .*expected number.*"three"`));
  });

  it('a bad byte amount says what a byte amount looks like', () => {
    cluster('bytes', { 'packing.yaml': 'container: { ram: lots }\n' });
    expect(errorOf(() => loadClusterConfig({ cluster: 'bytes', env: { ARDEA_HOME: home } })).message).toMatch(
      /packing\.yaml: packing\.container\.ram: expected a byte amount such as 512MiB or 2GiB, got "lots"/,
    );
  });

  it('an unknown key lists the keys that are accepted', () => {
    cluster('keys', { 'packing.yaml': 'algoritm: round-robin\n' });
    const message = errorOf(() => loadClusterConfig({ cluster: 'keys', env: { ARDEA_HOME: home } })).message;
    expect(message).toMatch(
      /packing\.yaml: packing\.algoritm: unknown key 'algoritm'; expected one of: algorithm, repackingAlgorithm, plugins/,
    );
  });

  it('a bad override is blamed on the --config-property that set it', () => {
    expect(
      errorOf(() => loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home }, overrides: ['packing.containers=-1'] })).message,
    ).toMatch(/^--config-property packing\.containers: [^p]/);
    expect(
      errorOf(() => loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home }, overrides: ['count.parallelism=3'] })).message,
    ).toMatch(/--config-property count\.parallelism: not a cluster property; cluster properties start with scheduler\./);
    expect(() => parseConfigProperty('novalue')).toThrow(/expected key=value/);
  });

  it('unknown variables, stray files and unknown clusters are reported', () => {
    cluster('vars', { 'uploader.yaml': 'directory: ${ARDEA_HOEM}/packages\n' });
    expect(errorOf(() => loadClusterConfig({ cluster: 'vars', env: { ARDEA_HOME: home } })).message).toMatch(
      /uploader\.yaml: directory: unknown variable \$\{ARDEA_HOEM\}; known variables are \$\{ARDEA_HOME\}/,
    );
    cluster('stray', { 'statmgr.yaml': 'plugin: zookeeper\n' });
    expect(errorOf(() => loadClusterConfig({ cluster: 'stray', env: { ARDEA_HOME: home } })).message).toMatch(
      /statmgr\.yaml: unexpected file in a cluster directory; expected scheduler\.yaml, statemgr\.yaml/,
    );
    expect(errorOf(() => loadClusterConfig({ cluster: 'prod', env: { ARDEA_HOME: home } })).message).toMatch(
      /^unknown cluster 'prod': no directory .*clusters\/prod; 'local' is built in/,
    );
    cluster('list', { 'scheduler.yaml': '- local\n' });
    expect(errorOf(() => loadClusterConfig({ cluster: 'list', env: { ARDEA_HOME: home } })).message).toMatch(
      /scheduler\.yaml: expected a mapping of keys to values at the top level, got a list/,
    );
  });
});

describe('the executor command', () => {
  it('is ardea-executor unless scheduler.yaml names another, and is the core’s key, not the pool plugin’s', () => {
    expect(loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home } }).executorCommand).toBe('ardea-executor');
    cluster('hpc', { 'scheduler.yaml': 'plugin: slurm\nhost: login\nexecutorCommand: /opt/ardea/bin/ardea-executor\n' });
    const config = loadClusterConfig({ cluster: 'hpc', env: { ARDEA_HOME: home } });
    expect(config.executorCommand).toBe('/opt/ardea/bin/ardea-executor');
    expect(config.scheduler).toEqual({ plugin: 'slurm', config: { host: 'login' } });
    expect(
      loadClusterConfig({ cluster: 'hpc', env: { ARDEA_HOME: home }, overrides: ['scheduler.executorCommand=my-executor'] })
        .executorCommand,
    ).toBe('my-executor');
  });

  it('must be a command name or an absolute path', () => {
    for (const command of ['bin/ardea-executor', './ardea-executor', "''", '"line\\nbreak"', '7']) {
      const error = errorOf(() =>
        loadClusterConfig({ cluster: 'local', env: { ARDEA_HOME: home }, overrides: [`scheduler.executorCommand=${command}`] }),
      );
      expect(error.message, command).toMatch(/^--config-property scheduler\.executorCommand: /);
      expect(error.message, command).toMatch(
        /name of a command on the containers' PATH \(such as ardea-executor\) or an absolute path|expected string/,
      );
    }
  });
});

describe('the cluster config by value', () => {
  it('reads back what the cluster directory said, with the overrides, without the directory', () => {
    const directory = cluster('remote', {
      'statemgr.yaml': 'plugin: zookeeper\nconnectString: zk:2181\nauth: { scheme: digest, credentials: "ardea:s3cret" }\n',
      'uploader.yaml': 'plugin: http\nurl: http://127.0.0.1:8478\ntokenFile: ${ARDEA_HOME}/package-server.token\n',
      'packing.yaml': 'algorithm: first-fit-decreasing\ncontainer: { ram: 4GiB }\n',
      'scheduler.yaml': 'executorCommand: /opt/ardea/bin/ardea-executor\n',
    });
    const original = loadClusterConfig({
      cluster: 'remote',
      env: { ARDEA_HOME: home },
      overrides: ['packing.containers=3', 'healthmgr.enabled=false'],
    });
    const value = clusterConfigToValue(original);
    rmSync(directory, { recursive: true });
    const copy = clusterConfigFromValue(value);
    expect(copy).toEqual(original);
    expect(copy.uploader.config).toEqual({ url: 'http://127.0.0.1:8478', tokenFile: `${home}/package-server.token` });
    expect(copy.packing.settings.containers).toBe(3);
    expect(copy.healthmgr.enabled).toBe(false);
    expect(clusterConfigToValue(copy)).toBe(value);
  });

  it('is validated again where it is read, naming where it came from', () => {
    const directory = cluster('checked', { 'packing.yaml': 'algorithm: round-robin\n' });
    const value = JSON.parse(clusterConfigToValue(loadClusterConfig({ cluster: 'checked', env: { ARDEA_HOME: home } }))) as {
      sections: { packing: Record<string, unknown> };
    };
    value.sections.packing.containers = 0;
    expect(errorOf(() => clusterConfigFromValue(JSON.stringify(value))).message).toBe(
      `ARDEA_CLUSTER_CONFIG: ${path.join(directory, 'packing.yaml')}: packing.containers: Too small: expected number to be >=1 (got 0)`,
    );
    expect(errorOf(() => clusterConfigFromValue('{"format":')).message).toMatch(
      /^ARDEA_CLUSTER_CONFIG: the cluster config passed by value is not JSON/,
    );
    expect(errorOf(() => clusterConfigFromValue(JSON.stringify({ ...value, format: 'ardea-cluster-config/2' }))).message).toMatch(
      new RegExp(
        String.raw`^ARDEA_CLUSTER_CONFIG: not a cluster config this Ardea can read \(format: .*\); the process that wrote it may run ` +
          String.raw`another Ardea version$`,
      ),
    );
  });

  it('is what a process the cluster starts reads, unless it is given --cluster', () => {
    cluster('by-hand', { 'packing.yaml': 'algorithm: first-fit-decreasing\n' });
    const usage = 'usage: test';
    const byValue = clusterConfigToValue(
      loadClusterConfig({ cluster: 'by-hand', env: { ARDEA_HOME: home }, overrides: ['packing.containers=2'] }),
    );
    expect(clusterConfigOfProcess({ env: { [CLUSTER_CONFIG_ENV]: byValue }, usage }).packing.settings.containers).toBe(2);
    const byHand = clusterConfigOfProcess({
      cluster: 'by-hand',
      env: { ARDEA_HOME: home, [CONFIG_PROPERTIES_ENV]: '["packing.containers=4"]' },
      usage,
    });
    expect(byHand.packing.algorithm).toBe('first-fit-decreasing');
    expect(byHand.packing.settings.containers).toBe(4);
    expect(errorOf(() => clusterConfigOfProcess({ env: {}, usage })).message).toBe(
      'no cluster config: pass --cluster <cluster> or set ARDEA_CLUSTER_CONFIG (usage: test)',
    );
  });
});
