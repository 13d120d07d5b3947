#!/usr/bin/env node
// `npm install --omit=dev` of a package that depends on better-sqlite3 (the packaging test's native
// fixture, test/topologies/packaging-native), keeping the addon it compiles for the next install.
//
// better-sqlite3's installer (prebuild-install) fetches a prebuilt binary from GitHub, which these
// machines cannot reach, and then compiles the addon: minutes on a busy machine. So the binary it
// compiled is kept where prebuild-install looks for "local prebuilds", in npm's cache directory, named
// as the release it stands for (version, Node ABI, platform, architecture); the next install takes it
// from there, as it would take a downloaded one.
//
// usage: node scripts/install-native-fixture.mjs [directory]
// Without a directory it installs a copy of the fixture in a temporary directory and removes it: CI
// runs it so before the tests, where the compile would compete with them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function install(directory) {
  const prebuilds = path.join(execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim(), '_ardea-test-prebuilds');
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev'], {
    cwd: directory,
    env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: prebuilds },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const installed = path.join(directory, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
  // musl's releases carry a libc part in their name; only glibc (an empty part) is kept.
  const glibc = process.report.getReport().header?.glibcVersionRuntime;
  const release = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const kept = existsSync(path.join(prebuilds, release));
  if (process.platform === 'linux' && glibc && !kept) {
    mkdirSync(prebuilds, { recursive: true });
    const temporary = path.join(prebuilds, `.${release}.${process.pid}.tmp`);
    execFileSync('tar', ['-czf', temporary, '-C', installed, 'build/Release/better_sqlite3.node']);
    renameSync(temporary, path.join(prebuilds, release));
  }
  return kept ? `from the kept build ${release}` : `compiled, kept as ${release}`;
}

const started = Date.now();
const given = process.argv[2];
let how;
if (given) how = install(path.resolve(given));
else {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'ardea-native-fixture-'));
  try {
    const copy = path.join(scratch, 'packaging-native');
    cpSync(path.join(repoRoot, 'test', 'topologies', 'packaging-native'), copy, { recursive: true });
    how = install(copy);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
process.stderr.write(`better-sqlite3 installed ${how} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
