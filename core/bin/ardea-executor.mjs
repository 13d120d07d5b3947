#!/usr/bin/env node
// The container executor, for pools that start it by name. See bin/ardea.mjs for why this is a shim.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main/executor-main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('ardea-executor: @ardea/core is not built yet; run `npm run build` in the repository first\n');
  process.exit(1);
}
process.argv[1] = fileURLToPath(main);
await import(main.href);
