import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLEANUP_TIMEOUT_MS, E2E_WAIT_MS, freshHome, removeHome, repoRoot, type CliResult } from './support.js';

/**
 * Ardea as a user gets it: the CLI installed from packed tarballs (`npm pack` of @ardea/core and the
 * local pool's plugin) into a fresh project outside the repository, and topology packages that are
 * outside it too, so nothing resolves through the repository's node_modules. Registry packages come
 * through the machine's npm configuration, from npm's cache when it has them (`--prefer-offline`).
 */
const run = promisify(execFile);
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund'];
/** Installing the CLI and compiling better-sqlite3 on a busy two-core machine. */
const SETUP_TIMEOUT_MS = 900_000;

let work: string;
let home: string;
let cli: string;
let packageServer: ChildProcess | undefined;
let remoteCluster: string | undefined;

async function npm(cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = Date.now();
  try {
    await run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed: ${failure.stderr ?? failure.message}`, { cause: error });
  }
  return (Date.now() - started) / 1000;
}

/** The installed CLI, run from the work directory. */
async function ardea(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      cwd: work,
      env: { ...process.env, ARDEA_HOME: home },
      timeout: 180_000,
      killSignal: 'SIGKILL',
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

/** A copy of the fixture `test/topologies/<name>` in the work directory, outside the repository. */
function fixture(name: string): string {
  const copy = path.join(work, name);
  cpSync(path.join(repoRoot, 'test', 'topologies', name), copy, { recursive: true });
  return copy;
}

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/**
 * Submits, waits until `out` holds exactly `expected` (in order: one sink instance, global grouping),
 * runs `whileRunning`, then kills. Resolves to what submit printed.
 */
async function runsAndWrites(
  cluster: string,
  source: string,
  topology: string,
  bolt: string,
  expected: string[],
  whileRunning: () => void = () => undefined,
): Promise<string> {
  const out = path.join(work, `${topology}-${path.basename(cluster)}.out`);
  const submit = await ardea('submit', cluster, source, '--config-property', `${bolt}.out=${out}`);
  expect(submit.code, submit.stderr).toBe(0);
  try {
    await vi.waitFor(() => expect(lines(out)).toHaveLength(expected.length), { timeout: E2E_WAIT_MS, interval: 200 });
    expect(lines(out)).toEqual(expected);
    whileRunning();
  } finally {
    const kill = await ardea('kill', cluster, topology);
    expect(kill.code, kill.stderr).toBe(0);
  }
  return submit.stderr;
}

/** `npm install` of the native fixture, keeping the compiled addon for the next run (see the script). */
async function installNative(directory: string): Promise<number> {
  const started = Date.now();
  try {
    await run(process.execPath, [path.join(repoRoot, 'scripts', 'install-native-fixture.mjs'), directory], { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`installing the native fixture in ${directory} failed: ${failure.stderr ?? failure.message}`, { cause: error });
  }
  return (Date.now() - started) / 1000;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'ardea-packaging-'));
  home = freshHome('ardea-packaging-home-');
  const timings: string[] = [];
  // The CLI, as a user installs it: the packed workspace packages, their dependencies from the registry.
  for (const workspace of ['core', path.join('plugins', 'local')])
    await npm(path.join(repoRoot, workspace), ['pack', '--silent', '--pack-destination', work]);
  const project = path.join(work, 'cli');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'ardea-user', version: '1.0.0', private: true }));
  const tarballs = readdirSync(work).filter((name) => name.endsWith('.tgz'));
  expect(tarballs.sort()).toEqual(['ardea-core-0.1.0.tgz', 'ardea-plugin-local-0.1.0.tgz']);
  timings.push(`CLI ${await npm(project, ['install', ...NPM_FLAGS, ...tarballs.map((name) => path.join(work, name))])} s`);
  cli = path.join(project, 'node_modules', '@ardea', 'core', 'bin', 'ardea.mjs');

  fixture('packaging-plain');
  await npm(fixture('packaging-tgz'), ['pack', '--silent', '--pack-destination', work]);
  timings.push(`better-sqlite3 ${await installNative(fixture('packaging-native'))} s`);
  process.stderr.write(`packaging-outside-repo: npm install took ${timings.join(', ')}\n`);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  try {
    await removeHome(home, remoteCluster ? ['local', remoteCluster] : ['local']);
  } finally {
    if (packageServer && packageServer.exitCode === null && packageServer.signalCode === null) {
      const exited = once(packageServer, 'exit');
      packageServer.kill('SIGTERM');
      await exited;
    }
    if (work) rmSync(work, { recursive: true, force: true });
  }
}, CLEANUP_TIMEOUT_MS);

describe('topology packages built by the CLI installed outside the repository', () => {
  it('runs a directory without node_modules, with a TypeScript entry and no build step', async () => {
    const directory = path.join(work, 'packaging-plain');
    expect(existsSync(path.join(directory, 'node_modules'))).toBe(false);
    await runsAndWrites('local', directory, 'packaging-plain', 'squares', ['1 1', '2 4', '3 9', '4 16', '5 25']);
  }, 240_000);

  it('runs a .tgz made by npm pack, installing its dependencies first', async () => {
    const stderr = await runsAndWrites('local', path.join(work, 'packaging-tgz-1.0.0.tgz'), 'packaging-tgz', 'camel', [
      'streamProcessing',
      'heronLineage',
      'packagesThatBuild',
      'ardeaTopology',
    ]);
    expect(stderr).toMatch(/installing the dependencies of packaging-tgz-1\.0\.0\.tgz \(camelcase\) with npm install --omit=dev\n/);
    expect(stderr).toMatch(/installed the dependencies of packaging-tgz-1\.0\.0\.tgz in [\d.]+ s\n/);
  }, 240_000);

  const NATIVE_OUTPUT = ['key0:0 1', 'key1:1 1', 'key2:2 1', 'key0:3 2', 'key1:4 2', 'key2:5 2'];

  it('runs a topology with a native addon as an external, shipped installed beside the bundle', async () => {
    const stderr = await runsAndWrites('local', path.join(work, 'packaging-native'), 'packaging-native', 'store', NATIVE_OUTPUT);
    expect(stderr).toMatch(/uploaded package to file:\/\/\S+\/topology\.tar\.gz \(with externals better-sqlite3\)\n/);
  }, 240_000);

  it('runs the same topology with its package served over HTTP', async () => {
    const directory = path.join(work, 'package-server');
    mkdirSync(directory, { mode: 0o700 });
    const tokenFile = path.join(directory, 'token');
    const child = spawn(
      process.execPath,
      [cli, 'package-server', '--dir', path.join(directory, 'packages'), '--token-file', tokenFile, '--port', '0'],
      {
        cwd: work,
        env: { ...process.env, ARDEA_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    packageServer = child;
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /^package server listening on (http:\/\/\S+) /m.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`the package server exited with code ${code}`)));
    });
    remoteCluster = path.join(work, 'remote');
    mkdirSync(remoteCluster);
    writeFileSync(path.join(remoteCluster, 'scheduler.yaml'), 'plugin: local\n');
    writeFileSync(path.join(remoteCluster, 'uploader.yaml'), `plugin: http\nurl: ${url}\ntokenFile: ${tokenFile}\n`);
    // Each container fetched the archive and unpacked it into its cache: the bundle with node_modules beside it.
    const containers = path.join(home, 'topologies', 'remote', 'packaging-native');
    const unpackedCaches = () => {
      const caches = readdirSync(containers)
        .filter((name) => name.startsWith('container-') && existsSync(path.join(containers, name, 'package-cache')))
        .map((name) => path.join(containers, name, 'package-cache'));
      expect(caches.length).toBeGreaterThan(0);
      for (const cache of caches) {
        const [unpacked, ...others] = readdirSync(cache);
        expect(others).toEqual([]);
        expect(unpacked).toMatch(/^topology-[0-9a-f]{64}$/);
        expect(readdirSync(path.join(cache, unpacked!)).sort()).toEqual(['node_modules', 'topology.mjs']);
        expect(existsSync(path.join(cache, unpacked!, 'node_modules', 'better-sqlite3', 'package.json'))).toBe(true);
      }
    };
    const stderr = await runsAndWrites(
      remoteCluster,
      path.join(work, 'packaging-native'),
      'packaging-native',
      'store',
      NATIVE_OUTPUT,
      unpackedCaches,
    );
    expect(stderr).toMatch(/uploaded package to http:\/\/127\.0\.0\.1:\d+\/\S+\/topology\.tar\.gz\?… \(with externals better-sqlite3\)\n/);
  }, 240_000);
});
