import { SchedulerError } from '../../errors/index.js';
import { CONTAINER_ID_ENV, CONTAINER_INDEX_PLACEHOLDER } from '../../spi/scheduler.js';

/** Characters that never need quoting in a POSIX shell word. */
const PLAIN_WORD = /^[A-Za-z0-9_/.,:=@%+-]+$/;

/**
 * Quotes one word for a POSIX shell (the commands a pool sends to a login node, job and launch
 * scripts). Single quotes keep everything literal; an embedded single quote closes the quoted part,
 * adds an escaped quote and reopens it.
 */
export function shellQuote(word: string): string {
  if (PLAIN_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line whose every word is quoted. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isEnvironmentName(name: string): boolean {
  return ENV_NAME.test(name);
}

/**
 * The executor's argv as a shell command line in which every container placeholder becomes
 * `"$ARDEA_CONTAINER_ID"`: for pools that compute the container id in a shell from their own index
 * (a YARN instance index, a Nomad allocation index) before they exec the executor.
 */
export function executorCommandLine(argv: readonly string[]): string {
  return argv
    .map((argument) =>
      argument
        .split(CONTAINER_INDEX_PLACEHOLDER)
        .map((part) => (part === '' ? "''" : shellQuote(part)))
        .join(`"$${CONTAINER_ID_ENV}"`),
    )
    .join(' ');
}

/**
 * Environment variables as lines a POSIX shell sources (`NAME='value'`, with `export ` when asked),
 * for pools that hand the executor's environment over in a private file instead of in their job
 * definition. Refuses a name a shell cannot set, naming it.
 */
export function environmentLines(variables: Readonly<Record<string, string>>, options: { readonly exported?: boolean } = {}): string {
  return Object.entries(variables)
    .map(([name, value]) => {
      if (!isEnvironmentName(name)) {
        throw new SchedulerError(
          `cannot pass the executor environment variable '${name}' to the pool's containers: a shell can only set names of ` +
            'letters, digits and _ that do not start with a digit',
        );
      }
      return `${options.exported ? 'export ' : ''}${name}=${shellQuote(value)}\n`;
    })
    .join('');
}
