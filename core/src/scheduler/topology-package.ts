import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { isTopology } from '../api/topology-builder.js';
import { describeError, TopologyError } from '../errors/index.js';
import type { TopologyDefinition } from '../model/topology.js';
import { BUNDLE_FILE, PACKAGE_ARCHIVE_FILE } from '../runtime/package-fetch.js';

const execFileAsync = promisify(execFile);

export interface BuiltTopologyPackage {
  /** The ESM bundle every instance imports; its externals, if any, are in `node_modules` beside it. */
  readonly bundlePath: string;
  /** What to upload: the bundle itself, or a {@link PACKAGE_ARCHIVE_FILE} of its directory when it has externals. */
  readonly uploadPath: string;
  /** Dependencies left out of the bundle and shipped installed (package.json `"ardea": { "external": [...] }`). */
  readonly externals: readonly string[];
  readonly definition: TopologyDefinition;
}

export interface BuildTopologyPackageOptions {
  /** Told about slow steps (installing a .tgz's dependencies), one line each. */
  readonly onProgress?: (message: string) => void;
}

interface PackageManifest {
  main?: unknown;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  ardea?: { topology?: unknown; external?: unknown };
}

const ARDEA_CORE = '@ardea/core';
/** Marks a resolution the core plugin started itself, so that it does not intercept it again. */
const OWN_RESOLUTION = Symbol('ardea-core-resolution');

/**
 * Turns a topology package (a directory with package.json, or a .tgz of one) into one bundled ESM
 * file, then imports it to read the topology it default-exports. Everything the topology imports is
 * inside the bundle but its declared externals, which are copied installed beside it; so containers
 * need nothing but the core to run it.
 *
 * `@ardea/core` comes from the package's own node_modules when it has one, else from the
 * installation running this code, and every import of it in the bundle goes to that one copy.
 * A .tgz has its production dependencies installed with npm first, in a private scratch directory.
 */
export async function buildTopologyPackage(
  source: string,
  outputDirectory: string,
  options: BuildTopologyPackageOptions = {},
): Promise<BuiltTopologyPackage> {
  const progress = options.onProgress ?? (() => undefined);
  const resolved = path.resolve(source);
  if (!existsSync(resolved)) throw new TopologyError(`topology package ${resolved} does not exist`);
  let scratch: string | undefined;
  let directory = resolved;
  if (statSync(resolved).isFile()) {
    if (!/\.(tgz|tar\.gz)$/.test(resolved))
      throw new TopologyError(`topology package ${resolved} is a file; expected a directory or a .tgz made by npm pack`);
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ardea-package-'));
    try {
      await execFileAsync('tar', ['-xzf', resolved, '-C', scratch, '--no-same-owner']);
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw new TopologyError(`cannot unpack topology package ${resolved}: ${describeError(error)}`, { cause: error });
    }
    directory = existsSync(path.join(scratch, 'package', 'package.json')) ? path.join(scratch, 'package') : scratch;
  }
  try {
    const manifest = readManifest(directory, resolved);
    const entry = packageEntry(manifest, directory, resolved);
    const externals = externalsOf(manifest, resolved);
    if (scratch) await installDependencies(directory, manifest, resolved, progress);
    // With externals the bundle gets a directory of its own, archived whole for the upload.
    const bundleDirectory = externals.length > 0 ? path.join(outputDirectory, 'package') : outputDirectory;
    await mkdir(bundleDirectory, { recursive: true });
    const bundlePath = path.join(bundleDirectory, BUNDLE_FILE);
    let inputs: string[];
    try {
      const result = await build({
        entryPoints: [entry],
        metafile: true,
        outfile: bundlePath,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'silent',
        sourcemap: 'inline',
        external: externals.flatMap((name) => [name, `${name}/*`]),
        plugins: [ardeaCoreResolution(directory)],
        // Bundled CommonJS dependencies may call require() for Node built-ins.
        banner: {
          js: "import { createRequire as __ardeaCreateRequire } from 'node:module'; const require = __ardeaCreateRequire(import.meta.url);",
        },
      });
      inputs = Object.keys(result.metafile.inputs);
    } catch (error) {
      const first = (error as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> })
        .errors?.[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : '';
      const hint = first?.text.includes('No loader is configured for ".node" files')
        ? ' (a native addon: list the dependency that loads it in package.json "ardea": { "external": [...] } to ship it installed)'
        : '';
      throw new TopologyError(`cannot build topology package ${resolved}: ${where}${first?.text ?? describeError(error)}${hint}`, {
        cause: error,
      });
    }
    refuseBundledAddons(inputs, resolved);
    if (externals.length > 0) await copyExternals(externals, directory, path.join(bundleDirectory, 'node_modules'), resolved);
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
    let uploadPath = bundlePath;
    if (externals.length > 0) {
      uploadPath = path.join(outputDirectory, PACKAGE_ARCHIVE_FILE);
      try {
        await execFileAsync('tar', ['-czf', uploadPath, '-C', bundleDirectory, BUNDLE_FILE, 'node_modules']);
      } catch (error) {
        throw new TopologyError(`cannot archive topology package ${resolved} with its externals: ${describeError(error)}`, {
          cause: error,
        });
      }
    }
    return { bundlePath, uploadPath, externals, definition: module.default.definition };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

function readManifest(directory: string, shownAs: string): PackageManifest {
  const manifestPath = path.join(directory, 'package.json');
  if (!existsSync(manifestPath)) throw new TopologyError(`topology package ${shownAs} has no package.json`);
  try {
    return JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageManifest;
  } catch (error) {
    throw new TopologyError(`topology package ${shownAs}: package.json is not valid JSON: ${describeError(error)}`, { cause: error });
  }
}

function packageEntry(manifest: PackageManifest, directory: string, shownAs: string): string {
  const declared = manifest.ardea?.topology ?? manifest.main;
  if (typeof declared !== 'string' || !declared) {
    throw new TopologyError(`topology package ${shownAs}: package.json names no entry; set "ardea": { "topology": "<file>" } or "main"`);
  }
  const entry = path.resolve(directory, declared);
  if (!existsSync(entry))
    throw new TopologyError(`topology package ${shownAs}: its entry ${declared} does not exist (build the package first?)`);
  return entry;
}

const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

function externalsOf(manifest: PackageManifest, shownAs: string): string[] {
  const declared = manifest.ardea?.external;
  if (declared === undefined) return [];
  if (!Array.isArray(declared) || declared.some((name) => typeof name !== 'string' || !PACKAGE_NAME.test(name))) {
    throw new TopologyError(
      `topology package ${shownAs}: package.json "ardea.external" must be a list of package names ` +
        `such as ["better-sqlite3"], got ${JSON.stringify(declared)}`,
    );
  }
  const names = [...new Set(declared as string[])];
  if (names.includes(ARDEA_CORE))
    throw new TopologyError(
      `topology package ${shownAs}: "ardea.external" lists ${ARDEA_CORE}, which the bundle always takes from one copy; remove it`,
    );
  return names;
}

/**
 * Installs what a .tgz declares it needs at run time, as `npm install --omit=dev` would in its
 * unpacked copy. `@ardea/core` is left out: the bundle takes it from the running installation, and
 * it need not be on the registry. Development dependencies are dropped before npm sees them, so
 * that npm does not even resolve them.
 */
async function installDependencies(
  directory: string,
  manifest: PackageManifest,
  shownAs: string,
  progress: (message: string) => void,
): Promise<void> {
  const without = (deps: Record<string, string> | undefined) =>
    deps && Object.fromEntries(Object.entries(deps).filter(([name]) => name !== ARDEA_CORE));
  const installed: PackageManifest = {
    ...manifest,
    dependencies: without(manifest.dependencies),
    optionalDependencies: without(manifest.optionalDependencies),
    peerDependencies: without(manifest.peerDependencies),
  };
  delete installed.devDependencies;
  const names = Object.keys({ ...installed.dependencies, ...installed.optionalDependencies });
  if (names.length === 0) return;
  await writeFile(path.join(directory, 'package.json'), JSON.stringify(installed, null, 2));
  progress(`installing the dependencies of ${path.basename(shownAs)} (${names.join(', ')}) with npm install --omit=dev`);
  const started = Date.now();
  try {
    await execFileAsync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock'], {
      cwd: directory,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new TopologyError(
        `cannot install the dependencies of topology package ${shownAs}: npm is not on the PATH; ` +
          `install npm, or submit the package's directory with its node_modules installed`,
        { cause: error },
      );
    }
    const said = (failure.stderr ?? '').trim() || describeError(error);
    throw new TopologyError(`cannot install the dependencies of topology package ${shownAs}: npm install --omit=dev failed:\n${said}`, {
      cause: error,
    });
  }
  progress(`installed the dependencies of ${path.basename(shownAs)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Sends every import of `@ardea/core` to one copy: the package's own when it has one, else the one
 * this code runs from (found from this module's location), so that a package built outside any
 * project with the core installed still bundles, and never carries two copies of the API.
 */
function ardeaCoreResolution(packageDirectory: string): Plugin {
  return {
    name: 'ardea-core',
    setup(esbuild) {
      // Found as Node finds a package, not through its exports, which need not list package.json.
      let root: string | undefined;
      esbuild.onResolve({ filter: /^@ardea\/core(\/|$)/ }, async (args) => {
        if (args.pluginData === OWN_RESOLUTION) return undefined;
        root ??= installedPackage(ARDEA_CORE, packageDirectory) ?? runningCoreRoot();
        // Resolved from the core's own directory: a package may import itself by name (its "exports").
        const result = await esbuild.resolve(args.path, { kind: args.kind, resolveDir: root, pluginData: OWN_RESOLUTION });
        if (result.errors.length > 0) return { errors: result.errors };
        return { path: result.path, sideEffects: result.sideEffects };
      });
    },
  };
}

function runningCoreRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === ARDEA_CORE) return directory;
    const parent = path.dirname(directory);
    if (parent === directory) throw new TopologyError(`cannot find the ${ARDEA_CORE} installation this CLI runs from`);
    directory = parent;
  }
}

/**
 * A package with a native addon loads its `.node` file at run time through a path of its own
 * (`bindings`, `node-gyp-build`), which no bundle holds: it would build, then fail in every
 * instance. Caught here instead, naming the package to make external.
 */
function refuseBundledAddons(inputs: readonly string[], shownAs: string): void {
  const packages = new Set<string>();
  for (const input of inputs) {
    const match = /^(.*[\\/]node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(path.resolve(input));
    if (match) packages.add(match[1]!);
  }
  for (const directory of packages) {
    if (!existsSync(path.join(directory, 'binding.gyp'))) continue;
    const name = (JSON.parse(readFileSync(path.join(directory, 'package.json'), 'utf8')) as { name?: string }).name ?? directory;
    throw new TopologyError(
      `topology package ${shownAs} bundles ${name}, which has a native addon (binding.gyp), and cannot run from a bundle: ` +
        `ship it installed beside the bundle with "ardea": { "external": ["${name}"] } in package.json`,
    );
  }
}

/** The directory of `name` as Node would find it from `from`, through its symlinks; undefined when not installed. */
function installedPackage(name: string, from: string): string | undefined {
  for (let directory = from; ;) {
    if (path.basename(directory) !== 'node_modules') {
      const candidate = path.join(directory, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    }
    const parent = path.dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

/** node-gyp's intermediate objects: large, and never loaded at run time. */
const BUILD_LEFTOVERS = /[\\/]build[\\/](Release|Debug)[\\/](obj|obj\.target|\.deps)$/;

/**
 * Copies each external with its installed dependency closure into `target` (a node_modules), laid
 * out so that Node resolves every one from the bundle as it did from the package: a dependency a
 * package keeps in its own node_modules comes along with it, a hoisted one goes to the top, or under
 * its dependent when another package of that name is already there.
 */
async function copyExternals(externals: readonly string[], directory: string, target: string, shownAs: string): Promise<void> {
  const placed = new Map<string, string>();
  const topLevel = new Map<string, string>();
  const visit = async (name: string, from: string, parentTarget: string | undefined, required: boolean, neededBy: string) => {
    if (name === ARDEA_CORE) {
      throw new TopologyError(
        `topology package ${shownAs}: ${neededBy} depends on ${ARDEA_CORE}, so it cannot be external: ` +
          `instances load the core of the installation that runs them; bundle it (remove it from "ardea.external")`,
      );
    }
    const found = installedPackage(name, from);
    if (!found) {
      if (!required) return;
      throw new TopologyError(
        `topology package ${shownAs}: ${neededBy} needs ${name}, which is not installed; ` +
          `run npm install in the package (or submit its .tgz, which installs its dependencies)`,
      );
    }
    if (placed.has(found)) return;
    const within = [...placed.entries()].find(([source]) => found.startsWith(`${source}${path.sep}`));
    let destination: string;
    if (within) {
      destination = path.join(within[1], path.relative(within[0], found));
    } else {
      const taken = topLevel.get(name);
      if (taken !== undefined && taken !== found && parentTarget === undefined) {
        throw new TopologyError(
          `topology package ${shownAs}: external ${name} (${found}) and the copy of ${name} another ` +
            `external needs (${taken}) differ; list only one of them in "ardea.external"`,
        );
      }
      destination = taken === undefined || taken === found ? path.join(target, name) : path.join(parentTarget!, 'node_modules', name);
      if (taken === undefined) topLevel.set(name, found);
      await cp(found, destination, { recursive: true, dereference: true, filter: (file) => !BUILD_LEFTOVERS.test(file) });
    }
    placed.set(found, destination);
    const manifest = JSON.parse(readFileSync(path.join(found, 'package.json'), 'utf8')) as PackageManifest;
    const dependent = `${name} (${path.relative(directory, found) || found})`;
    for (const dependency of Object.keys(manifest.dependencies ?? {})) await visit(dependency, found, destination, true, dependent);
    for (const dependency of Object.keys({ ...manifest.optionalDependencies, ...manifest.peerDependencies }))
      await visit(dependency, found, destination, false, dependent);
  };
  for (const name of externals) await visit(name, directory, undefined, true, `package.json "ardea.external"`);
}
