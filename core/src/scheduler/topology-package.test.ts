import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TopologyError } from '../errors/index.js';
import { buildTopologyPackage } from './topology-package.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const run = promisify(execFile);

/** A topology whose bolt uses `helper` (a dependency) to say hello; `helper` imports the API too. */
const TOPOLOGY = `import { TopologyBuilder } from '@ardea/core/api';
import { greet } from 'helper';
class Source { open(_c, collector) { this.collector = collector; } nextTuple() { this.collector.emit([greet('world')]); } }
class Sink { execute() {} }
const builder = new TopologyBuilder('packaged');
builder.setSpout('source', () => new Source()).outputFields('greeting');
builder.setBolt('sink', () => new Sink()).shuffleGrouping('source');
export default builder.build();
`;

let base: string;
beforeEach(async () => {
  // Outside the repository: nothing above it has node_modules with @ardea/core.
  base = await mkdtemp(path.join(os.tmpdir(), 'ardea-topology-package-'));
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function write(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

/** A package directory at `base/name` with the topology above, `helper` installed, and `manifest` merged in. */
async function topologyPackage(name: string, manifest: Record<string, unknown> = {}): Promise<string> {
  const directory = path.join(base, name);
  await write(
    path.join(directory, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'topology.mjs', ...manifest }),
  );
  await write(path.join(directory, 'topology.mjs'), TOPOLOGY);
  const helper = path.join(directory, 'node_modules', 'helper');
  await write(
    path.join(helper, 'package.json'),
    JSON.stringify({ name: 'helper', type: 'module', main: 'index.js', dependencies: { words: '1' } }),
  );
  await write(
    path.join(helper, 'index.js'),
    "import { TICK_FREQUENCY_KEY } from '@ardea/core/api';\nimport hello from 'words';\n" +
      'export const greet = (who) => `${hello} ${who}, ticks under ${TICK_FREQUENCY_KEY}`;\n',
  );
  // Hoisted, as npm installs it: found from helper by walking up.
  await write(
    path.join(directory, 'node_modules', 'words', 'package.json'),
    JSON.stringify({ name: 'words', main: 'index.js', dependencies: { letters: '1', vowels: '1' } }),
  );
  await write(
    path.join(directory, 'node_modules', 'words', 'index.js'),
    "module.exports = require('letters').h + require('vowels').e + 'llo from words';\n",
  );
  // Nested: the version words needs, kept in words' own node_modules.
  await write(
    path.join(directory, 'node_modules', 'words', 'node_modules', 'letters', 'package.json'),
    '{ "name": "letters", "main": "index.js" }',
  );
  await write(path.join(directory, 'node_modules', 'words', 'node_modules', 'letters', 'index.js'), "exports.h = 'h';\n");
  await write(path.join(directory, 'node_modules', 'vowels', 'package.json'), '{ "name": "vowels", "main": "index.js" }');
  await write(path.join(directory, 'node_modules', 'vowels', 'index.js'), "exports.e = 'e';\n");
  // Installed, but needed by nothing the topology ships.
  await write(path.join(directory, 'node_modules', 'unrelated', 'package.json'), '{ "name": "unrelated" }');
  return directory;
}

describe('building a topology package', () => {
  it('takes @ardea/core from the running installation when the package has none, in one copy', async () => {
    const directory = await topologyPackage('plain');
    const built = await buildTopologyPackage(directory, path.join(base, 'out'));
    expect(built.definition.components.map((c) => c.name)).toEqual(['source', 'sink']);
    expect(built.uploadPath).toBe(built.bundlePath);
    expect(built.externals).toEqual([]);
    const bundle = await readFile(built.bundlePath, 'utf8');
    // The topology and helper both import the API; the bundle holds it once, and no zod.
    expect(bundle.match(/^var TopologyBuilder\d* = class/gm)).toHaveLength(1);
    expect(bundle.includes('llo from words')).toBe(true);
    expect(bundle.includes('node_modules/zod/')).toBe(false);
  });

  it("prefers the package's own @ardea/core, and sends every import of it there", async () => {
    const directory = await topologyPackage('own-core');
    const own = path.join(directory, 'node_modules', '@ardea', 'core');
    await write(path.join(own, 'package.json'), JSON.stringify({ name: '@ardea/core', type: 'module', exports: { './api': './api.js' } }));
    const running = path.join(repoRoot, 'core', 'dist', 'api', 'index.js');
    await write(path.join(own, 'api.js'), `export * from ${JSON.stringify(running)};\nexport const OWN_COPY = 'the package own copy';\n`);
    await write(
      path.join(directory, 'topology.mjs'),
      `import { OWN_COPY } from '@ardea/core/api';\n${TOPOLOGY}\nexport const marker = OWN_COPY;\n`,
    );
    const built = await buildTopologyPackage(directory, path.join(base, 'out'));
    const bundle = await readFile(built.bundlePath, 'utf8');
    expect(bundle.includes('var OWN_COPY = "the package own copy"')).toBe(true);
    expect(bundle.match(/^var TopologyBuilder\d* = class/gm)).toHaveLength(1);
  });

  it('leaves externals out of the bundle and ships them installed beside it, with their dependency closure', async () => {
    // words is a CommonJS dependency of helper, with one dependency nested and one hoisted.
    const directory = await topologyPackage('with-externals', { ardea: { external: ['words'] } });
    const out = path.join(base, 'out');
    const built = await buildTopologyPackage(directory, out);
    expect(built.externals).toEqual(['words']);
    expect(built.uploadPath).toBe(path.join(out, 'topology.tar.gz'));
    const bundle = await readFile(built.bundlePath, 'utf8');
    expect(bundle.includes('llo from words')).toBe(false);
    expect(/from "words"/.test(bundle)).toBe(true);
    const modules = path.join(path.dirname(built.bundlePath), 'node_modules');
    expect(readdirSync(modules).sort()).toEqual(['vowels', 'words']);
    expect(existsSync(path.join(modules, 'words', 'node_modules', 'letters', 'index.js'))).toBe(true);
    const { stdout } = await run('tar', ['-tzf', built.uploadPath]);
    const members = stdout.split('\n').filter(Boolean);
    expect(members).toContain('topology.mjs');
    expect(members).toContain('node_modules/words/node_modules/letters/index.js');
    expect(members.some((member) => member.includes('unrelated'))).toBe(false);
  });

  it('refuses to bundle a package with a native addon, naming it to make external', async () => {
    const directory = await topologyPackage('native');
    await write(path.join(directory, 'node_modules', 'words', 'binding.gyp'), '{ "targets": [] }');
    await expect(buildTopologyPackage(directory, path.join(base, 'out'))).rejects.toThrow(
      /bundles words, which has a native addon \(binding\.gyp\), and cannot run from a bundle: .*"ardea": \{ "external": \["words"\] \}/,
    );
    await write(
      path.join(directory, 'package.json'),
      JSON.stringify({ name: 'native', type: 'module', main: 'topology.mjs', ardea: { external: ['words'] } }),
    );
    expect((await buildTopologyPackage(directory, path.join(base, 'out'))).externals).toEqual(['words']);
  });

  it('says which dependency of an external is not installed', async () => {
    const directory = await topologyPackage('missing', { ardea: { external: ['words'] } });
    await rm(path.join(directory, 'node_modules', 'vowels'), { recursive: true });
    await expect(buildTopologyPackage(directory, path.join(base, 'out'))).rejects.toThrow(
      /words \(node_modules\/words\) needs vowels, which is not installed; run npm install in the package/,
    );
  });

  it('refuses an "ardea.external" that is not a list of package names', async () => {
    const directory = await topologyPackage('bad-externals', { ardea: { external: 'helper' } });
    const failure = buildTopologyPackage(directory, path.join(base, 'out'));
    await expect(failure).rejects.toBeInstanceOf(TopologyError);
    await expect(failure).rejects.toThrow(/"ardea.external" must be a list of package names such as \["better-sqlite3"\], got "helper"/);
  });

  it('refuses an external that depends on @ardea/core, which instances take from their own installation', async () => {
    const directory = await topologyPackage('core-external', { ardea: { external: ['helper'] } });
    await write(
      path.join(directory, 'node_modules', 'helper', 'package.json'),
      JSON.stringify({ name: 'helper', type: 'module', main: 'index.js', dependencies: { '@ardea/core': '*' } }),
    );
    await expect(buildTopologyPackage(directory, path.join(base, 'out'))).rejects.toThrow(
      /helper \(node_modules\/helper\) depends on @ardea\/core/,
    );
  });

  it("fails a .tgz whose dependencies npm cannot install with npm's own error", async () => {
    const directory = path.join(base, 'broken');
    await write(
      path.join(directory, 'package.json'),
      JSON.stringify({ name: 'broken', version: '1.0.0', main: 'topology.mjs', dependencies: { nowhere: 'file:./nowhere.tgz' } }),
    );
    await write(path.join(directory, 'topology.mjs'), TOPOLOGY);
    await run('npm', ['pack', '--silent', '--pack-destination', base], { cwd: directory });
    const progress: string[] = [];
    const failure = buildTopologyPackage(path.join(base, 'broken-1.0.0.tgz'), path.join(base, 'out'), {
      onProgress: (line) => progress.push(line),
    });
    await expect(failure).rejects.toThrow(/npm install --omit=dev failed:\n[\s\S]*npm error code ENOENT[\s\S]*nowhere\.tgz/);
    expect(progress).toEqual(['installing the dependencies of broken-1.0.0.tgz (nowhere) with npm install --omit=dev']);
  });

  it('bundles word count in a tenth of what it took with zod inside (2.7 MB)', async () => {
    const built = await buildTopologyPackage(path.join(repoRoot, 'examples', 'word-count'), path.join(base, 'out'));
    expect((await stat(built.bundlePath)).size).toBeLessThanOrEqual(270 * 1024);
  });
});
