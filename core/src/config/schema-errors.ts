import type { z } from 'zod';
import { ConfigError, describeSchemaIssue } from '../errors/index.js';
import type { ConfigProperty } from './config-property.js';

export interface SchemaErrorContext {
  /** The file the section came from, or a description such as `<built-in local cluster>`. */
  readonly source: string;
  /** Dotted prefix naming the section, e.g. `scheduler` or `packing`. */
  readonly section: string;
  /** Overrides that were applied to the section, so a bad value is blamed on the flag that set it. */
  readonly overrides?: readonly ConfigProperty[];
}

/** Turns the first schema issue into one line naming where the value came from, the key, and what is expected. */
export function configErrorFromSchema(error: z.ZodError, context: SchemaErrorContext, input: unknown, schema: z.ZodType): ConfigError {
  const issue = describeSchemaIssue(error.issues[0]!, { prefix: context.section });
  const path = issue.segments.map(String);
  const key = issue.path;
  let detail = issue.message;
  if (issue.unknownKey !== undefined) {
    const known = schemaKeysAt(schema, path);
    detail = `unknown key '${issue.unknownKey}'${known.length > 0 ? `; expected one of: ${known.join(', ')}` : ''}`;
  } else {
    const received = valueAt(input, path);
    const shown = JSON.stringify(received);
    if (received !== undefined && shown !== undefined && !detail.includes(shown)) detail += ` (got ${shown})`;
  }
  const blamed = context.overrides?.find(
    (property) => key === property.key || key.startsWith(`${property.key}.`) || property.key.startsWith(`${key}.`),
  );
  if (blamed?.key === key) return new ConfigError(`--config-property ${key}: ${detail}`, { cause: error, code: 'config.invalid' });
  const source = blamed ? `--config-property ${blamed.key}` : context.source;
  return new ConfigError(`${source}: ${key}: ${detail}`, { cause: error, code: 'config.invalid' });
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let current = input;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

type SchemaNode = { shape?: unknown; def?: { innerType?: SchemaNode; in?: SchemaNode; element?: SchemaNode } };

/** Keys an object schema accepts at `path`, looking through optional, default and transform wrappers. */
function schemaKeysAt(schema: z.ZodType, path: readonly string[]): string[] {
  let node: SchemaNode | undefined = schema as unknown as SchemaNode;
  const unwrap = (start: SchemaNode | undefined): SchemaNode | undefined => {
    let current = start;
    for (let depth = 0; current && depth < 10; depth++) {
      if (current.shape && typeof current.shape === 'object') return current;
      current = current.def?.innerType ?? current.def?.in;
    }
    return undefined;
  };
  for (const segment of path) {
    const objectNode = unwrap(node);
    node = objectNode ? (objectNode.shape as Record<string, SchemaNode>)[segment] : undefined;
  }
  const target = unwrap(node);
  return target ? Object.keys(target.shape as object) : [];
}
