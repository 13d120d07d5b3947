/**
 * The emulator checked by a client nobody here wrote: tools/nomad-api-check drives it with
 * HashiCorp's official Go client (github.com/hashicorp/nomad/api), which decodes every answer into
 * its own structs and builds its own errors. scripts/nomad-api-check.sh builds that program once
 * (cached by its sources), so this test needs Go; outside CI it is skipped without it, under CI=true
 * it must run.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeWithService, type ServiceRequirement } from '@ardea/core/testing';
import { beforeAll, expect, it } from 'vitest';
import { startNomadEmulator } from './index.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const buildScript = join(repo, 'scripts', 'nomad-api-check.sh');

/** Every step the program reports, in order; a step that is missing from its output fails the test. */
const STEPS = [
  'leader',
  'agent-self',
  'acl',
  'register',
  'job-info',
  'allocs-running',
  'eval-complete',
  'summary',
  'blocking-query',
  'task-dir',
  'alloc-fs',
  'scale-up',
  'scale-status',
  'scale-down',
  'alloc-restart',
  'alloc-stop',
  'task-dir-replacement',
  'error-job-not-found',
  'error-scale-missing-group',
  'deregister-purge',
  'variable-create',
  'variable-cas-conflict',
  'variable-read',
  'variable-list',
  'variable-template',
  'variable-read-missing',
  'variable-delete',
];

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    // SIGTERM on timeout: the check then purges its job before it exits.
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const failed = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({
        code: failed ? (typeof failed.code === 'number' ? failed.code : null) : 0,
        signal: failed?.signal ?? null,
        stdout: String(stdout),
        stderr: failed && typeof failed.code !== 'number' && !failed.signal ? `${String(stderr)}${failed.message}` : String(stderr),
      });
    });
  });
}

const GO: ServiceRequirement = {
  name: 'the Go toolchain',
  probe: async () => {
    const outcome = await run('go', ['version'], 30_000);
    return outcome.code === 0 ? undefined : `\`go version\` failed: ${outcome.stderr.trim() || `exit ${outcome.code}`}`;
  },
  startHint: 'Go >= 1.26 on PATH (the module proxy must serve github.com/hashicorp/nomad/api)',
};

await describeWithService(GO, 'the official Go client (github.com/hashicorp/nomad/api) against the emulator', () => {
  let binary = '';

  beforeAll(async () => {
    // A cold build downloads the api module and compiles it: about a minute on a busy 2-core machine.
    const built = await run('bash', [buildScript], 10 * 60_000);
    if (built.code !== 0) throw new Error(`${buildScript} failed (exit ${built.code ?? built.signal}):\n${built.stdout}${built.stderr}`);
    const lines = built.stdout.trim().split('\n');
    binary = lines.at(-1) ?? '';
    const took = lines.find((line) => line.includes('built in'));
    if (took) process.stderr.write(`${took}\n`);
  }, 11 * 60_000);

  it(
    'registers, watches, scales, restarts and stops allocations, reads errors, purges, and keeps, renders and deletes variables as Nomad',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'nomad-api-check-'));
      const token = randomUUID();
      const emulator = await startNomadEmulator({ dataDir, aclToken: token });
      try {
        const outcome = await run(binary, ['-address', emulator.address, '-token', token, '-workdir', dataDir], 5 * 60_000);
        const report = `${binary} said:\n${outcome.stdout}${outcome.stderr}`;
        const lines = outcome.stdout.split('\n');
        const passed = lines.filter((line) => line.startsWith('ok ')).map((line) => line.slice(3, line.indexOf(':')));
        const failed = lines.filter((line) => line.startsWith('FAIL ') || line.startsWith('skip '));
        expect({ failed, passed }, report).toEqual({ failed: [], passed: STEPS });
        expect({ code: outcome.code, signal: outcome.signal, last: lines.filter(Boolean).at(-1) }, report).toEqual({
          code: 0,
          signal: null,
          last: 'all steps passed',
        });
      } finally {
        await emulator.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    6 * 60_000,
  );
});
