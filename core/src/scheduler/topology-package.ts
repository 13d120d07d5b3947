import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { isTopology } from '../api/topology-builder.js';
import { describeError, TopologyError } from '../errors/index.js';
import type { TopologyDefinition } from '../model/topology.js';

const execFileAsync = promisify(execFile);

export interface BuiltTopologyPackage {
  /** The single-file ESM bundle every instance imports. */
  readonly bundlePath: string;
  readonly definition: TopologyDefinition;
}

/**
 * Turns a topology package (a directory with package.json, or a .tgz of one) into one bundled ESM
 * file, then imports it to read the topology it default-exports. Everything the topology imports is
 * inside the bundle, so containers need nothing but the core to run it.
 */
export async function buildTopologyPackage(source: string, outputDirectory: string): Promise<BuiltTopologyPackage> {
  const resolved = path.resolve(source);
  if (!existsSync(resolved)) throw new TopologyError(`topology package ${resolved} does not exist`);
  let scratch: string | undefined;
  let directory = resolved;
  if (statSync(resolved).isFile()) {
    if (!/\.(tgz|tar\.gz)$/.test(resolved))
      throw new TopologyError(`topology package ${resolved} is a file; expected a directory or a .tgz made by npm pack`);
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ardea-package-'));
    try {
      await execFileAsync('tar', ['-xzf', resolved, '-C', scratch]);
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw new TopologyError(`cannot unpack topology package ${resolved}: ${describeError(error)}`, { cause: error });
    }
    directory = existsSync(path.join(scratch, 'package', 'package.json')) ? path.join(scratch, 'package') : scratch;
  }
  try {
    const entry = packageEntry(directory, resolved);
    await mkdir(outputDirectory, { recursive: true });
    const bundlePath = path.join(outputDirectory, 'topology.mjs');
    try {
      await build({
        entryPoints: [entry],
        outfile: bundlePath,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'silent',
        sourcemap: 'inline',
        // Bundled CommonJS dependencies may call require() for Node built-ins.
        banner: {
          js: "import { createRequire as __ardeaCreateRequire } from 'node:module'; const require = __ardeaCreateRequire(import.meta.url);",
        },
      });
    } catch (error) {
      const first = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> })
        .errors?.[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : '';
      throw new TopologyError(`cannot build topology package ${resolved}: ${where}${first?.text ?? describeError(error)}`, {
        cause: error,
      });
    }
    let module: { default?: unknown };
    try {
      module = (await import(`${pathToFileURL(bundlePath).href}?load=${Date.now()}`)) as { default?: unknown };
    } catch (error) {
      throw new TopologyError(`topology package ${resolved} failed while loading: ${describeError(error)}`, { cause: error });
    }
    if (!isTopology(module.default)) {
      throw new TopologyError(
        `topology package ${resolved}: ${path.relative(directory, entry)} does not ` +
          `default-export a topology; end it with \`export default builder.build()\``,
      );
    }
    return { bundlePath, definition: module.default.definition };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

function packageEntry(directory: string, shownAs: string): string {
  const manifestPath = path.join(directory, 'package.json');
  if (!existsSync(manifestPath)) throw new TopologyError(`topology package ${shownAs} has no package.json`);
  let manifest: { main?: unknown; ardea?: { topology?: unknown } };
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as typeof manifest;
  } catch (error) {
    throw new TopologyError(`topology package ${shownAs}: package.json is not valid JSON: ${describeError(error)}`, { cause: error });
  }
  const declared = manifest.ardea?.topology ?? manifest.main;
  if (typeof declared !== 'string' || !declared) {
    throw new TopologyError(`topology package ${shownAs}: package.json names no entry; set "ardea": { "topology": "<file>" } or "main"`);
  }
  const entry = path.resolve(directory, declared);
  if (!existsSync(entry))
    throw new TopologyError(`topology package ${shownAs}: its entry ${declared} does not exist (build the package first?)`);
  return entry;
}
