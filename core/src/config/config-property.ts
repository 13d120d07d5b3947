import YAML from 'yaml';
import { ConfigError } from '../errors/index.js';

/** One `--config-property key=value` from the command line or an embedding platform. */
export interface ConfigProperty {
  readonly key: string;
  readonly value: unknown;
}

/**
 * Parses `key=value`. The value is read as a YAML scalar so `3`, `true` and `2GiB` mean what they
 * look like; quote it (`name='007'`) to keep a string.
 */
export function parseConfigProperty(text: string): ConfigProperty {
  const separator = text.indexOf('=');
  const key = separator < 0 ? '' : text.slice(0, separator).trim();
  if (separator < 0 || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) {
    throw new ConfigError(
      `--config-property '${text}': expected key=value with a dotted key such as packing.algorithm=first-fit-decreasing`,
    );
  }
  const raw = text.slice(separator + 1);
  let value: unknown;
  try {
    value = raw.trim() === '' ? '' : YAML.parse(raw);
  } catch (error) {
    throw new ConfigError(`--config-property '${text}': the value is not a valid YAML scalar`, { cause: error });
  }
  return { key, value };
}

/** Returns a deep copy of `target` with `value` set at the dotted `path`, creating objects on the way. */
export function setAtPath(target: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return target;
  const copy = { ...target };
  if (rest.length === 0) {
    copy[head] = value;
  } else {
    const child = copy[head];
    copy[head] = setAtPath(isPlainObject(child) ? child : {}, rest, value);
  }
  return copy;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
