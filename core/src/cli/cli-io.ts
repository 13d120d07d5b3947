import { StreamLogger, type Logger } from '../logging/index.js';

/** Where the CLI reads and writes; injected so tests run commands in-process and inspect the output. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });

/** Options every command that talks to a cluster accepts. */
export interface ClusterCommandOptions {
  readonly configProperty: string[];
  readonly verbose?: boolean;
}

/** Logs to stderr: warnings only, everything with --verbose. */
export function cliLogger(io: CliIo, verbose: boolean | undefined): Logger {
  return new StreamLogger({ level: verbose ? 'debug' : 'warn', format: 'text', stream: io.stderr });
}
