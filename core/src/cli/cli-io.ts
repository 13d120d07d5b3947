import { StreamLogger, type Logger } from '../logging/index.js';

/** Where the CLI reads and writes; injected so tests run commands in-process and inspect the output. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /**
   * Calls `listener` once on the user's interrupt (Ctrl-C) and returns what undoes that. Only
   * commands that run until interrupted (`--watch`, `logs -f`) take the interrupt over, so that
   * Ctrl-C still stops any other command at once. Absent: nothing interrupts.
   */
  readonly onInterrupt?: (listener: () => void) => () => void;
}

export const processIo = (): CliIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  onInterrupt: (listener) => {
    process.once('SIGINT', listener);
    return () => process.removeListener('SIGINT', listener);
  },
});

/** Options every command that talks to a cluster accepts. */
export interface ClusterCommandOptions {
  readonly configProperty: string[];
  readonly verbose?: boolean;
}

/** Logs to stderr: warnings only, everything with --verbose. */
export function cliLogger(io: CliIo, verbose: boolean | undefined): Logger {
  return new StreamLogger({ level: verbose ? 'debug' : 'warn', format: 'text', stream: io.stderr });
}
