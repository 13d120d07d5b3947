import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EXECUTOR_COMMAND } from '../config/cluster-config.js';
import { SchedulerError } from '../errors/index.js';
import { executorArgv, type ExecutorSpec } from '../spi/scheduler.js';

/** The `ardea-executor` bin of the core installation this process runs from. */
export const INSTALLED_EXECUTOR_BIN = fileURLToPath(new URL('../../bin/ardea-executor.mjs', import.meta.url));

/**
 * The command line that starts a container's executor on this machine, for pools whose containers
 * are processes here (the local pool). The default command, `ardea-executor`, is this installation's
 * own bin, run by this Node binary: the executor then always matches the core that computed its
 * arguments, even when an older Ardea is installed globally. Any other command
 * (`scheduler.executorCommand`) is an absolute path, or a name looked up on `PATH`; a name found
 * nowhere is a {@link SchedulerError} saying how to fix it.
 */
export function localExecutorArgv(spec: ExecutorSpec, containerId: number, env: NodeJS.ProcessEnv = process.env): [string, ...string[]] {
  const [command, ...args] = executorArgv(spec, containerId);
  if (command === undefined || command === '') throw new SchedulerError('the executor argv is empty');
  if (command === DEFAULT_EXECUTOR_COMMAND && existsSync(INSTALLED_EXECUTOR_BIN))
    return [process.execPath, INSTALLED_EXECUTOR_BIN, ...args];
  if (command.includes('/')) return [command, ...args];
  const directories = (env.PATH ?? '').split(path.delimiter).filter((directory) => path.isAbsolute(directory));
  const found = directories.map((directory) => path.join(directory, command)).find(isExecutableFile);
  if (!found) {
    throw new SchedulerError(
      `the executor command '${command}' is not on this machine's PATH (${directories.join(path.delimiter) || 'empty'}); ` +
        (`install it there, or set scheduler.executorCommand in the cluster's ` +
          `scheduler.yaml to its absolute path (default: ${DEFAULT_EXECUTOR_COMMAND})`),
      { code: 'scheduler.executor-not-found' },
    );
  }
  return [found, ...args];
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
