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
const plantedTop = mkdtempSync(path.join(os.tmpdir(), 'ardea-layering-top-'));

afterAll(() => {
  rmSync(planted, { recursive: true, force: true });
  rmSync(plantedTop, { recursive: true, force: true });
});

async function check(root?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...(root ? ['--root', root] : [])]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function write(file: string, text: string, root = planted): void {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), text);
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

  it(
    'fails on a planted import of main/ from anywhere, main/ included, ' + 'and of app/ from anything but main/, cli/ and the root index',
    async () => {
      write('runtime/engine.ts', 'export const engine = 1;\n', plantedTop);
      write('app/ardea.ts', "import { engine } from '../runtime/engine.js';\nexport const createArdea = engine;\n", plantedTop);
      write('app/submit.ts', "import { createArdea } from './ardea.js';\nexport const submit = createArdea;\n", plantedTop);
      write('cli/program.ts', "import { submit } from '../app/submit.js';\nexport const program = submit;\n", plantedTop);
      write(
        'main/cli-main.ts',
        "import { program } from '../cli/program.js';\nimport { createArdea } from '../app/ardea.js';\nexport const run = " +
          'program + createArdea;\n',
        plantedTop,
      );
      write('main/supervisor-main.ts', "import { run } from './cli-main.js';\nexport const supervise = run;\n", plantedTop);
      write('index.ts', "export { createArdea } from './app/ardea.js';\n", plantedTop);
      write(
        'runtime/kit.ts',
        "import type { createArdea } from '../app/ardea.js';\nexport const kit = 1 as unknown as typeof createArdea;\n",
        plantedTop,
      );
      write(
        'scheduler/launch.ts',
        "import { supervise } from '../main/supervisor-main.js';\nexport const launch = supervise;\n",
        plantedTop,
      );
      const result = await check(plantedTop);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n').sort()).toEqual(
        [
          'layering: main/supervisor-main.ts imports main/cli-main.ts (nothing may import main/)',
          'layering: scheduler/launch.ts imports main/supervisor-main.ts (nothing may import main/)',
          'layering: runtime/kit.ts imports app/ardea.ts (app/ may be imported only by main/, cli/, testing/, index.ts)',
          `3 problem(s) in ${plantedTop}`,
        ].sort(),
      );
    },
  );
});
