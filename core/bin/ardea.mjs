#!/usr/bin/env node
// The `ardea` command. A committed shim rather than a bin inside dist/, so that npm can link it on
// a fresh clone before anything has been built.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main/cli-main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('ardea: @ardea/core is not built yet; run `npm run build` in the repository first\n');
  process.exit(1);
}
await import(main.href);
