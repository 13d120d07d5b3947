import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './support.js';

const run = promisify(execFile);
const script = path.join(repoRoot, 'scripts', 'check-layering.mjs');
const planted = mkdtempSync(path.join(os.tmpdir(), 'ardea-layering-'));

afterAll(() => rmSync(planted, { recursive: true, force: true }));

async function check(root?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...(root ? ['--root', root] : [])]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(planted, file)), { recursive: true });
  writeFileSync(path.join(planted, file), text);
}

describe('the layering check that npm test runs', () => {
  it('passes on core/src', async () => {
    const result = await check();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/no import cycle, no upward import/);
  });

  it('fails on a planted import cycle, also through type-only imports, and on spi/ or model/ importing a higher layer', async () => {
    write('cli/program.ts', "import { command } from './commands/run.js';\nexport const program = command;\n");
    write('cli/commands/run.ts', "import type { program } from '../program.js';\nexport const command = 1 as unknown as typeof program;\n");
    write('runtime/engine.ts', 'export const engine = 1;\n');
    write('spi/scheduler.ts', "import { engine } from '../runtime/engine.js';\nexport const scheduler = engine;\n");
    write('model/plan.ts', "import { scheduler } from '../spi/scheduler.js';\nexport const plan = scheduler;\n");
    const result = await check(planted);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cycle: cli/commands/run.ts <-> cli/program.ts');
    expect(result.stderr).toContain('layering: spi/scheduler.ts imports runtime/engine.ts');
    expect(result.stderr).toContain('layering: model/plan.ts imports spi/scheduler.ts');
  });
});
