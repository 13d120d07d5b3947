import { InvalidArgumentError } from 'commander';

/**
 * Parsers of option and argument values. Each rejects a bad value with an `InvalidArgumentError`, so
 * commander reports it as a usage error (exit 2) that names the option and shows the expected form,
 * before the command touches a cluster.
 */

function wholeNumber(text: string, minimum: number, expected: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < minimum) throw new InvalidArgumentError(`expected ${expected}`);
  return value;
}

function positiveNumber(text: string, expected: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`expected ${expected}`);
  return value;
}

/** `--window <ms>`: a window of at least 1 ms. */
export const parseWindowMs = (text: string): number => wholeNumber(text, 1, 'a whole number of milliseconds of at least 1, e.g. 2000');

/** `--watch [seconds]`: how often to redraw. */
export const parseWatchSeconds = (text: string): number => positiveNumber(text, 'a number of seconds above 0, e.g. 2 or 0.5');

/** `--timeout <seconds>` of submit and update, returned in milliseconds. */
export const parseTimeoutSeconds = (text: string): number =>
  Math.round(positiveNumber(text, 'a number of seconds above 0, e.g. 120') * 1000) || 1;

/** `--bytes <n>` of `logs`. */
export const parseByteCount = (text: string): number => wholeNumber(text, 1, 'a whole number of bytes of at least 1, e.g. 65536');

/** A container id argument: 0 is the topology master's container. */
export const parseContainerId = (text: string): number => wholeNumber(text, 0, 'a container id (0, 1, 2, ...)');

/** `--container-number <n>` of update. */
export const parseContainerCount = (text: string): number => wholeNumber(text, 1, 'a whole number of containers of at least 1, e.g. 3');

/** `--port <port>` of a server, kept as text for the command that reads it. */
export const checkPort = (text: string): string => {
  wholeNumber(text, 0, 'a port number from 0 to 65535 (0 picks a free one)');
  if (Number(text) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 picks a free one)');
  return text.trim();
};

/** `--sink-interval <seconds>` of the tracker, kept as text for the command that reads it. */
export const checkSinkInterval = (text: string): string => {
  const seconds = positiveNumber(text, 'a number of seconds from 1 to 86400, e.g. 10');
  if (seconds < 1 || seconds > 86_400) throw new InvalidArgumentError('expected a number of seconds from 1 to 86400, e.g. 10');
  return text.trim();
};
