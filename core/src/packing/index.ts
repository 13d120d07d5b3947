import { ContainerModule } from 'inversify';
import type { Newable } from 'inversify';
import { PackingAlgorithm, RepackingAlgorithm } from '../spi/packing.js';
import { FirstFitDecreasingPacking } from './first-fit-decreasing.js';
import { ResourceCompliantRoundRobinPacking } from './resource-compliant-round-robin.js';
import { RoundRobinPacking } from './round-robin.js';

export { FirstFitDecreasingPacking } from './first-fit-decreasing.js';
export { ResourceCompliantRoundRobinPacking } from './resource-compliant-round-robin.js';
export { RoundRobinPacking } from './round-robin.js';
export { applyPackingHints, DEFAULT_PACKING_SETTINGS } from './settings.js';
export { containerPadding } from './constraints.js';
export { selectPackingAlgorithm, selectRepackingAlgorithm } from './select.js';

/** The algorithms the core ships, each both a packing and a repacking algorithm. */
export const BUILTIN_PACKING_ALGORITHMS: ReadonlyArray<Newable<PackingAlgorithm & RepackingAlgorithm>> = Object.freeze([
  RoundRobinPacking,
  FirstFitDecreasingPacking,
  ResourceCompliantRoundRobinPacking,
]);

/**
 * Contributes every built-in algorithm under both {@link PackingAlgorithm} and
 * {@link RepackingAlgorithm}; one singleton per class serves both tokens.
 */
export const builtinPackingModule = new ContainerModule(({ bind }) => {
  for (const algorithm of BUILTIN_PACKING_ALGORITHMS) {
    bind(algorithm).toSelf().inSingletonScope();
    bind<PackingAlgorithm>(PackingAlgorithm).toService(algorithm);
    bind<RepackingAlgorithm>(RepackingAlgorithm).toService(algorithm);
  }
});
