/**
 * A stand-in executor for the scheduler conformance suite: it records that a container started and
 * then idles, so the suite can tell which process runs which container without a real engine.
 *
 * Usage: `node probe-executor.js --container <id> --dir <dir>`. Writes `<dir>/container-<id>.json`
 * (`{ containerId, pid, startedAt }`) and stays alive until SIGTERM or SIGINT. The file is left in
 * place on exit: the suite compares pids across restarts, and a restarted container overwrites it.
 * @module
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

function fail(message: string): never {
  process.stderr.write(`probe-executor: ${message}\n`);
  process.exit(2);
}

let values: { container?: string | undefined; dir?: string | undefined };
try {
  ({ values } = parseArgs({ options: { container: { type: 'string' }, dir: { type: 'string' } }, strict: true }));
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const containerId = Number(values.container);
if (values.container === undefined || !Number.isInteger(containerId) || containerId < 0) {
  fail(`--container must be a container index (0, 1, ...), got ${JSON.stringify(values.container)}`);
}
if (!values.dir) fail('--dir is required');

const directory = values.dir;
mkdirSync(directory, { recursive: true });
const target = join(directory, `container-${containerId}.json`);
// Readers poll this file while the probe starts; a rename makes the record appear whole or not at all.
const temporary = `${target}.${process.pid}.tmp`;
writeFileSync(temporary, `${JSON.stringify({ containerId, pid: process.pid, startedAt: new Date().toISOString() })}\n`);
renameSync(temporary, target);
process.stdout.write(`probe-executor: container ${containerId} started (pid ${process.pid})\n`);

// Nothing else keeps the event loop busy; without this timer the probe would exit at once.
const keepAlive = setInterval(() => undefined, 1 << 30);

function stop(signal: NodeJS.Signals): void {
  clearInterval(keepAlive);
  process.stderr.write(`probe-executor: container ${containerId} stopping on ${signal}\n`);
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
