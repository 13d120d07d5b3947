#!/usr/bin/env node
// Runs one benchmark in its own process: `node bench/run.mjs <name> [args...]` runs bench/<name>.mjs.
// A fresh process per benchmark keeps one benchmark's heap and JIT state out of another's numbers.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(dir)
  .filter((file) => file.endsWith('.mjs') && file !== 'run.mjs')
  .map((file) => file.slice(0, -'.mjs'.length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  const problem = name ? `unknown benchmark '${name}'` : 'no benchmark given';
  console.error(
    `${problem}\nusage: node bench/run.mjs <name> [args...]   (npm run ` +
      `bench -- <name> [args...])\navailable: ${available.join(', ') || 'none'}`,
  );
  process.exit(2);
}

const result = spawnSync(process.execPath, [path.join(dir, `${name}.mjs`), ...args], { stdio: 'inherit' });
if (result.error) {
  console.error(`bench ${name}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
