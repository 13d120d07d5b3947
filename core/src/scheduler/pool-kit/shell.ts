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
