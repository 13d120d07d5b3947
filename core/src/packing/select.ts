import type { Container } from 'inversify';
import { PackingError } from '../errors/index.js';
import { PackingAlgorithm, RepackingAlgorithm } from '../spi/packing.js';

type Named = { readonly name: string };

function select<T extends Named>(what: string, candidates: readonly T[], name: string): T {
  const matches = candidates.filter((candidate) => candidate.name === name);
  if (matches.length === 1) return matches[0]!;
  const known = [...new Set(candidates.map((candidate) => candidate.name))].sort();
  if (matches.length > 1) {
    throw new PackingError(`${matches.length} ${what} algorithms are named '${name}'; each plugin must give its algorithms distinct names`);
  }
  throw new PackingError(
    `unknown ${what} algorithm '${name}'; known: ${known.join(', ') || 'none'} ` +
      `(algorithms from plugins need the plugin listed under packing.plugins)`,
  );
}

function contributions<T>(source: Container | readonly T[], token: symbol): readonly T[] {
  return Array.isArray(source) ? (source as readonly T[]) : (source as Container).getAll<T>(token, { optional: true });
}

/**
 * The algorithm called `name` among a container's contributions under `token` (packing by default),
 * or among a given list; throws a {@link PackingError} listing the known names.
 */
export function selectPackingAlgorithm<T extends Named = PackingAlgorithm>(
  source: Container | readonly T[],
  name: string,
  token: symbol = PackingAlgorithm,
): T {
  return select(token === RepackingAlgorithm ? 'repacking' : 'packing', contributions<T>(source, token), name);
}

/** {@link selectPackingAlgorithm} for the repacking contributions. */
export function selectRepackingAlgorithm(source: Container | readonly RepackingAlgorithm[], name: string): RepackingAlgorithm {
  return selectPackingAlgorithm<RepackingAlgorithm>(source, name, RepackingAlgorithm);
}
