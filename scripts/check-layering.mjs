#!/usr/bin/env node
/**
 * Fails when core/src has an import cycle, when a lower layer imports a higher one, or when
 * anything but the top imports main/ or app/.
 *
 * Layers, lowest first; a module may import its own layer and the layers below it, never above:
 *   errors, logging      → nothing of Ardea but each other's leaves
 *   model                → errors
 *   spi                  → model, errors, logging
 *   everything else      → anything below, and each other, as long as no cycle forms
 *
 * And from the top: the process entry points in main/ are run, never imported; the application in
 * app/ (the Ardea facade, its operations, the deployment container) is imported only by the
 * package's entry points — main/, cli/, the testing kit (which loads a cluster as a submit does) and
 * the root index.ts — so the engine, the scheduler kit and the SPIs never depend on it.
 *
 * Only relative imports of core/src are followed (type-only imports included: a type cycle is a
 * design cycle too). Run with `--root <dir>` to check another tree (the test does, with a planted cycle).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const rootIndex = args.indexOf('--root');
const root = path.resolve(
  rootIndex >= 0 ? args[rootIndex + 1] : path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'core', 'src'),
);

/** Which folders a folder may import from, besides itself. Folders not named here may import anything acyclic. */
const ALLOWED = {
  errors: [],
  logging: ['errors'],
  model: ['errors', 'logging'],
  spi: ['model', 'errors', 'logging'],
};

/** Which folders (or root files) may import a folder; not even its own modules, unless named. */
const IMPORTED_ONLY_BY = {
  main: [],
  app: ['app', 'main', 'cli', 'testing', 'index.ts'],
};

function sourceFiles(directory) {
  const files = [];
  for (const entry of readdirSync(directory)) {
    const full = path.join(directory, entry);
    if (statSync(full).isDirectory()) {
      if (entry !== 'fixtures') files.push(...sourceFiles(full));
    } else if (entry.endsWith('.ts') && !entry.endsWith('.test.ts') && !entry.endsWith('.d.ts')) {
      files.push(full);
    }
  }
  return files;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const targets = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2];
    const resolved = path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts'));
    targets.push(resolved);
  }
  return targets;
}

const files = sourceFiles(root);
const known = new Set(files);
const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => known.has(target))]));
const relative = (file) => path.relative(root, file);
const layerOf = (file) => relative(file).split(path.sep)[0];

const problems = [];
for (const [file, targets] of graph) {
  const allowed = ALLOWED[layerOf(file)];
  for (const target of targets) {
    const layer = layerOf(target);
    if (allowed && layer !== layerOf(file) && !allowed.includes(layer)) {
      problems.push(
        `layering: ${relative(file)} imports ${relative(target)} (${layerOf(file)}/ ` +
          `may import only ${allowed.length ? allowed.join(', ') : 'itself'})`,
      );
    }
    const importers = IMPORTED_ONLY_BY[layer];
    if (importers && !importers.includes(layerOf(file))) {
      const others = importers.filter((name) => name !== layer).map((name) => (name.endsWith('.ts') ? name : `${name}/`));
      problems.push(
        `layering: ${relative(file)} imports ${relative(target)} ` +
          `(${others.length ? `${layer}/ may be imported only by ${others.join(', ')}` : `nothing may import ${layer}/`})`,
      );
    }
  }
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
let index = 0;
const indexes = new Map();
const lowlinks = new Map();
const stack = [];
const onStack = new Set();
function connect(file) {
  indexes.set(file, index);
  lowlinks.set(file, index);
  index++;
  stack.push(file);
  onStack.add(file);
  for (const target of graph.get(file)) {
    if (!indexes.has(target)) {
      connect(target);
      lowlinks.set(file, Math.min(lowlinks.get(file), lowlinks.get(target)));
    } else if (onStack.has(target)) {
      lowlinks.set(file, Math.min(lowlinks.get(file), indexes.get(target)));
    }
  }
  if (lowlinks.get(file) === indexes.get(file)) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file).includes(file)) problems.push(`cycle: ${component.map(relative).sort().join(' <-> ')}`);
  }
}
for (const file of files) if (!indexes.has(file)) connect(file);

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n${problems.length} problem(s) in ${relative(root) || root}\n`);
  process.exit(1);
}
process.stdout.write(`layering: ${files.length} modules, no import cycle, no upward import, main/ and app/ imported only from above\n`);
