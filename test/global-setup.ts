/**
 * The last resort behind every test's own cleanup: each run marks its environment, which every
 * process a test starts inherits (CLI, supervisors, executors), and at the end of the run SIGKILLs
 * whatever carries the mark and still runs — after a hook that itself failed, say — and names it, so
 * that no topology outlives the run that started it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { commandLine, processesWithEnvironment } from './support.js';

const MARK = 'ARDEA_TEST_RUN';

export default function setup(): () => void {
  const mark = `${MARK}=${randomUUID()}`;
  process.env[MARK] = mark.slice(MARK.length + 1);
  return () => {
    // vitest's own workers carry the mark too; they are this process's children. So does the
    // esbuild service vite keeps for transforming test files, which may outlive its worker.
    const left = processesWithEnvironment(mark).filter((pid) => parentOf(pid) !== process.pid && !isEsbuildService(pid));
    if (left.length === 0) return;
    const described = left.map((pid) => `${pid} ${commandLine(pid)}`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It ended meanwhile.
      }
    }
    process.stderr.write(
      `test run: ${left.length} process(es) a test started still ran after ` +
        `the run and were killed:\n${described.map((d) => `  ${d}`).join('\n')}\n`,
    );
  };
}

function parentOf(pid: number): number | undefined {
  try {
    // The command name (in parentheses) may hold spaces; the fields after it do not.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function isEsbuildService(pid: number): boolean {
  const argv = commandLine(pid);
  return /[/\\]node_modules[/\\]@esbuild[/\\][^/\\]+[/\\]bin[/\\]esbuild /.test(argv) && argv.includes('--service=');
}
