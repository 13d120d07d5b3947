import { ConfigError } from '../errors/index.js';
import { isPlainObject } from './config-property.js';

/**
 * Expands `${NAME}` in every string of a parsed YAML document. Only the names given are known, so a
 * typo is reported instead of silently becoming an empty string.
 */
export function expandVariables(
  value: unknown,
  variables: Readonly<Record<string, string>>,
  where: { file: string; key: string },
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]*)\}/g, (_match, name: string) => {
      const replacement = variables[name];
      if (replacement === undefined) {
        throw new ConfigError(
          `${where.file}: ${where.key}: unknown variable \${${name}}; known variables are ${Object.keys(variables)
            .map((v) => `\${${v}}`)
            .join(', ')}`,
        );
      }
      return replacement;
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => expandVariables(item, variables, { file: where.file, key: `${where.key}[${index}]` }));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [
        key,
        expandVariables(child, variables, { file: where.file, key: where.key ? `${where.key}.${key}` : key }),
      ]),
    );
  }
  return value;
}
