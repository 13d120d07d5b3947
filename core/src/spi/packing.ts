import type { PackingPlan } from '../model/packing-plan.js';
import type { Resources } from '../model/resources.js';
import type { TopologyDefinition } from '../model/topology.js';

/**
 * Token for packing algorithms. Every algorithm is a contribution under this one token (read with
 * `getAll`); the cluster's `packing.yaml` picks one by {@link PackingAlgorithm.name}.
 */
export const PackingAlgorithm = Symbol.for('ardea.PackingAlgorithm');

/** Token for repacking algorithms, contributed and selected the same way. */
export const RepackingAlgorithm = Symbol.for('ardea.RepackingAlgorithm');

/**
 * Everything an algorithm needs besides the topology, resolved from `packing.yaml` and
 * `--config-property`. Callers pass the cluster's settings; algorithms lay the topology's packing
 * hints over them with `applyPackingHints` (idempotent), which may lower but never raise `containerMax`.
 */
export interface PackingSettings {
  /** Resources of an instance whose component asks for nothing. */
  readonly instanceDefaults: Resources;
  /** The largest container the pool may grant, padding included. */
  readonly containerMax: Resources;
  readonly maxInstancesPerContainer: number;
  /**
   * Per-container headroom for the stream manager and metrics manager: per dimension the larger of
   * `fixed` and `percent` % of `containerMax`.
   */
  readonly padding: { readonly fixed: Resources; readonly percent: number };
  /** Smallest instance the runtime can host. */
  readonly minInstance: { readonly cpu: number; readonly ramBytes: number };
  /** Container count for algorithms that take one; others ignore it. */
  readonly containers: number;
  /** Which dimension first-fit-decreasing sorts instances by. */
  readonly sortBy: 'ram' | 'cpu';
}

/**
 * Computes where every instance of a topology runs.
 *
 * Algorithms are pure functions of their inputs: same topology and settings, same plan. They throw
 * `PackingError` naming the component and the numbers when the topology cannot fit (an instance
 * bigger than a container, fewer instances than requested containers...).
 */
export interface PackingAlgorithm {
  /** Kebab-case name used in config, e.g. `first-fit-decreasing`. */
  readonly name: string;
  pack(topology: TopologyDefinition, settings: PackingSettings): PackingPlan;
}

export interface RepackRequest {
  /** The running plan. */
  readonly current: PackingPlan;
  /** The topology with its new per-component parallelism. */
  readonly topology: TopologyDefinition;
  /**
   * A requested container count: exact for round-robin, a minimum for resource-compliant
   * round-robin, ignored by first-fit-decreasing. Below the number of containers that must stay,
   * it is a `PackingError`.
   */
  readonly containers?: number;
}

/**
 * Changes a running plan to new parallelism. Contract: instances of unchanged components stay in
 * their containers with their task ids; scaled components keep their surviving instances in place;
 * new task ids are larger than every task id in the current plan (so never those of live instances);
 * containers emptied by a scale-down disappear from the plan. Component indexes stay unique per
 * component but may have gaps after a scale-down.
 */
export interface RepackingAlgorithm {
  readonly name: string;
  repack(request: RepackRequest, settings: PackingSettings): PackingPlan;
}
