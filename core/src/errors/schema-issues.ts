import type { z } from 'zod';

/** One schema issue, said the way every Ardea error says it: where, and what is wrong. */
export interface SchemaIssue {
  /** Key path of the offending value, the unknown key included for an unrecognized one ('' at the root). */
  readonly path: string;
  readonly message: string;
  /** Set when the issue is a key the schema does not know. */
  readonly unknownKey?: string;
  /** The path as segments (strings and array indexes), without the unknown key. */
  readonly segments: readonly PropertyKey[];
}

export interface SchemaIssueOptions {
  /** `dotted`: `a.b.0` (config files, definitions); `accessor`: `.a.b[0]` (JSON bodies). Default dotted. */
  readonly style?: 'dotted' | 'accessor';
  /** Put before the path, e.g. `body` or a config section. */
  readonly prefix?: string;
}

/** Describes one issue of a failed zod parse. */
export function describeSchemaIssue(issue: z.core.$ZodIssue, options: SchemaIssueOptions = {}): SchemaIssue {
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const segments = [...(options.prefix ? [options.prefix] : []), ...issue.path, ...(unknownKey === undefined ? [] : [unknownKey])];
  const path =
    options.style === 'accessor'
      ? segments
          .map((key, index) => (typeof key === 'number' ? `[${key}]` : index === 0 && options.prefix ? String(key) : `.${String(key)}`))
          .join('')
      : segments.map(String).join('.');
  return {
    path,
    message: unknownKey === undefined ? issue.message : 'unknown key',
    ...(unknownKey === undefined ? {} : { unknownKey }),
    segments: issue.path,
  };
}

/** The first issue of a failed parse as one `path: message` line (`(root)` when the value itself is wrong). */
export function formatSchemaIssue(error: z.ZodError, options: SchemaIssueOptions = {}): string {
  const issue = describeSchemaIssue(error.issues[0]!, options);
  return `${issue.path || '(root)'}: ${issue.message}`;
}
