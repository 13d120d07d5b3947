import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './support.js';

/**
 * Plugins are written against `@ardea/core/plugin` (and test with `@ardea/core/testing`), so that the
 * root export can change without breaking them. The plugins and the plugin example of this
 * repository are what plugin authors copy, so they must keep to it.
 */
const PLUGIN_ENTRIES: ReadonlySet<string> = new Set(['@ardea/core/plugin', '@ardea/core/testing']);

/** Static imports and re-exports (`from '…'`), side-effect imports, `import('…')` and `require('…')`. */
const SPECIFIER = /\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]|\brequire\s*\(\s*['"]([^'"]+)['"]/g;

/** What `source` (the text of `file`) imports of core other than the plugin entry points. */
function forbiddenCoreImports(source: string, file: string, root: string): string[] {
  const coreDirectory = path.join(root, 'core');
  const forbidden: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = (match[1] ?? match[2] ?? match[3])!;
    const intoCore = specifier.startsWith('.') && path.resolve(path.dirname(file), specifier).startsWith(coreDirectory + path.sep);
    const coreEntry = specifier === '@ardea/core' || specifier.startsWith('@ardea/core/');
    if (intoCore || (coreEntry && !PLUGIN_ENTRIES.has(specifier))) forbidden.push(specifier);
  }
  return forbidden;
}

function sourceFiles(directory: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory)) {
    const full = path.join(directory, entry);
    if (statSync(full).isDirectory()) {
      if (entry !== 'node_modules' && entry !== 'dist') files.push(...sourceFiles(full));
    } else if (/\.[mc]?[jt]s$/.test(entry)) {
      files.push(full);
    }
  }
  return files;
}

/** Every source file of every plugin and of the plugin example under `root`, tests included. */
function pluginSources(root: string): string[] {
  const pluginsDirectory = path.join(root, 'plugins');
  const sourceDirectories = readdirSync(pluginsDirectory).map((plugin) => path.join(pluginsDirectory, plugin, 'src'));
  sourceDirectories.push(path.join(root, 'examples', 'custom-health-policy', 'src'));
  return sourceDirectories.filter((directory) => statSync(directory, { throwIfNoEntry: false })?.isDirectory()).flatMap(sourceFiles);
}

/** `<file> imports '<specifier>'` for every import of core outside the plugin entry points. */
function pluginImportViolations(root: string): string[] {
  return pluginSources(root).flatMap((file) =>
    forbiddenCoreImports(readFileSync(file, 'utf8'), file, root).map((specifier) => `${path.relative(root, file)} imports '${specifier}'`),
  );
}

describe('plugins import core only through @ardea/core/plugin and @ardea/core/testing', () => {
  it('holds for plugins/*/src and examples/custom-health-policy/src', () => {
    expect(pluginSources(repoRoot).length).toBeGreaterThan(10);
    expect(pluginImportViolations(repoRoot)).toEqual([]);
  });

  it('flags the root entry, other subpaths, deep dist paths and relative paths into core, in any import form', () => {
    const file = path.join(repoRoot, 'plugins', 'mainframe', 'src', 'pool.ts');
    const check = (source: string) => forbiddenCoreImports(source, file, repoRoot);
    expect(check("import { definePlugin } from '@ardea/core';")).toEqual(['@ardea/core']);
    expect(check('import type {\n  Scheduler,\n  Logger,\n} from "@ardea/core";')).toEqual(['@ardea/core']);
    expect(check("export { Scheduler } from '@ardea/core/dist/spi/scheduler.js';")).toEqual(['@ardea/core/dist/spi/scheduler.js']);
    expect(check("const { Scheduler } = await import('@ardea/core/dist/index.js');")).toEqual(['@ardea/core/dist/index.js']);
    expect(check("const core = require('@ardea/core');")).toEqual(['@ardea/core']);
    expect(check("import '@ardea/core/api';")).toEqual(['@ardea/core/api']);
    expect(check("import { isUnder } from '../../../core/src/fs/private-files.js';")).toEqual(['../../../core/src/fs/private-files.js']);
    expect(
      check(
        "import { definePlugin, type Logger } from '@ardea/core/plugin';\n" +
          "import { loadPluginForTest } from '@ardea/core/testing';\n" +
          "import { pool } from './pool.js';\nimport { z } from 'zod';\nimport { x } from '@ardea/core-extras';",
      ),
    ).toEqual([]);
  });

  const planted = mkdtempSync(path.join(os.tmpdir(), 'ardea-plugin-imports-'));
  afterAll(() => rmSync(planted, { recursive: true, force: true }));

  it('finds a planted root import in a plugin of another tree, and nothing in its clean files', () => {
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(planted, file)), { recursive: true });
      writeFileSync(path.join(planted, file), text);
    };
    write('plugins/mainframe/src/index.ts', "import { definePlugin } from '@ardea/core/plugin';\nexport default definePlugin;\n");
    write('plugins/mainframe/src/mainframe-scheduler.ts', "import { SchedulerError, type Scheduler } from '@ardea/core';\n");
    write('plugins/mainframe/src/nested/ids.test.ts', "import { poolResourceName } from '@ardea/core/dist/scheduler/pool-kit/index.js';\n");
    write('plugins/mainframe/dist/index.js', "export * from '@ardea/core';\n");
    write('plugins/no-sources-yet/README.md', '# nothing to check\n');
    write(
      'examples/custom-health-policy/src/index.ts',
      "import { HealthPolicy } from '@ardea/core/plugin';\nimport { simulate } from '@ardea/core/testing';\n",
    );
    expect(pluginImportViolations(planted)).toEqual([
      `${path.join('plugins', 'mainframe', 'src', 'mainframe-scheduler.ts')} imports '@ardea/core'`,
      `${path.join('plugins', 'mainframe', 'src', 'nested', 'ids.test.ts')} imports '@ardea/core/dist/scheduler/pool-kit/index.js'`,
    ]);
  });
});

describe('the @ardea/core/plugin entry', () => {
  it('resolves through the package exports and shares every value with the root, so tokens and instanceof agree', async () => {
    const plugin: Record<string, unknown> = await import('@ardea/core/plugin');
    const root: Record<string, unknown> = await import('@ardea/core');
    const names = Object.keys(plugin);
    expect(names).toEqual(expect.arrayContaining(['definePlugin', 'Scheduler', 'SchedulerError', 'planContainerChanges', 'HealthPolicy']));
    expect(names.filter((name) => plugin[name] !== root[name])).toEqual([]);
  });
});
