/** Small pure helpers: Go durations, datacenter globs, Nomad-style meta keys and runtime interpolation. */

/** An error that the HTTP layer turns into a plain-text response with this status, as Nomad's CodedError does. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Parses a Go `time.ParseDuration` string (`300ms`, `1m30s`, `0`) into nanoseconds; undefined when invalid. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '') return undefined;
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/u;
  while (rest !== '') {
    const match = part.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_NS[match[2]!] ?? 0);
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

/** Nomad matches job datacenters against the node's with `*` wildcards (go-glob semantics: `*` only). */
export function datacenterMatches(pattern: string, datacenter: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === datacenter;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!datacenter.startsWith(first) || datacenter.length < first.length + last.length) return false;
  let position = first.length;
  for (const middle of parts.slice(1, -1)) {
    const found = datacenter.indexOf(middle, position);
    if (found < 0) return false;
    position = found + middle.length;
  }
  return datacenter.slice(position).endsWith(last) && datacenter.length - last.length >= position;
}

/** Nomad exports each meta key twice: as written and upper-cased with characters outside [A-Za-z0-9_] replaced by `_`. */
export function metaEnvironment(meta: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) {
    env[`NOMAD_META_${key}`] = value;
    env[`NOMAD_META_${key.toUpperCase().replace(/[^A-Z0-9_]/gu, '_')}`] = value;
  }
  return env;
}

/**
 * Replaces `${NAME}` (a variable of the task environment, e.g. NOMAD_ALLOC_INDEX or NOMAD_META_x), `${env["X"]}`
 * and the node variables given in `node` (`${node.unique.name}`, `${attr.…}`); what cannot be resolved is left as
 * written, as Nomad does.
 */
export function interpolate(text: string, env: Readonly<Record<string, string>>, node: Readonly<Record<string, string>> = {}): string {
  return text.replace(/\$\{([^}]+)\}/gu, (whole, inner: string) => {
    const key = inner.trim();
    const envMatch = /^env\[\s*"([^"]*)"\s*\]$/u.exec(key);
    if (envMatch) return env[envMatch[1]!] ?? whole;
    if (Object.hasOwn(env, key)) return env[key]!;
    if (Object.hasOwn(node, key)) return node[key]!;
    return whole;
  });
}

/** Deterministic JSON (sorted keys) so that two specs can be compared for a change. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Go's zero `time.Time`, which the api package decodes; an empty string would not decode. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function nowNs(): number {
  return Date.now() * 1e6;
}
