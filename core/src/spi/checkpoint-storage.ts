/** Token under which the deployment's single {@link CheckpointStorage} is bound. */
export const CheckpointStorage = Symbol.for('ardea.CheckpointStorage');

/** Which run of which topology a checkpoint belongs to: a resubmitted topology never sees the state of an earlier run. */
export interface CheckpointTopology {
  readonly topologyName: string;
  readonly topologyId: string;
}

/**
 * A consistent checkpoint: every part of it was stored before the manifest was committed. Plain
 * JSON, so operators can read it.
 */
export interface CheckpointManifest {
  /** Increases with every checkpoint of a topology run. */
  readonly checkpointId: number;
  /** When the topology master started it (ms since the epoch). */
  readonly startedAt: number;
  /** When every part had been stored. */
  readonly completedAt: number;
  /** The number of key groups keyed state is split into (`topology.maxParallelism`). */
  readonly maxParallelism: number;
  /** Each component's parallelism when it was taken. */
  readonly parallelism: Readonly<Record<string, number>>;
  /** The stored parts and their sizes in bytes. */
  readonly parts: ReadonlyArray<{ readonly part: string; readonly bytes: number }>;
}

/**
 * Keeps the state of effectively-once topologies. Each instance stores its snapshot of a checkpoint
 * as one opaque part; once every part is stored, the topology master commits a manifest, and only a
 * committed checkpoint is ever restored. Called from every container, so an implementation must be
 * reachable from wherever the pool runs them.
 *
 * Part names are made of `[A-Za-z0-9._-]`, are at most 200 characters and are not `.` or `..`. Every method rejects
 * with `CheckpointError` naming the topology, checkpoint and part, and what to do.
 */
export interface CheckpointStorage {
  /**
   * Stores (or replaces) one part of a checkpoint that is not committed yet. A checkpoint id not
   * above the latest committed one is refused: such a checkpoint can never be committed, and a
   * committed one never changes.
   */
  store(topology: CheckpointTopology, checkpointId: number, part: string, data: Uint8Array): Promise<void>;
  /** One stored part, or undefined if it was never stored (or was pruned). */
  load(topology: CheckpointTopology, checkpointId: number, part: string): Promise<Uint8Array | undefined>;
  /**
   * Makes a checkpoint the latest consistent one. Atomic: a reader sees the previous manifest or this
   * one, never half of it. A manifest whose id is not above the latest committed one is refused, as
   * is one listing a part that is not stored with the size it states.
   */
  commit(topology: CheckpointTopology, manifest: CheckpointManifest): Promise<void>;
  /** The latest committed manifest, or undefined when none was committed. */
  latest(topology: CheckpointTopology): Promise<CheckpointManifest | undefined>;
  /**
   * Deletes the parts and manifests of every checkpoint below `belowCheckpointId`, committed or not,
   * except the latest committed checkpoint, which a restore needs.
   */
  prune(topology: CheckpointTopology, belowCheckpointId: number): Promise<void>;
  /** Deletes everything kept for the topology run (kill calls it). Idempotent. */
  dispose(topology: CheckpointTopology): Promise<void>;
  /** Releases connections and timers, when the storage holds any. Idempotent. */
  close?(): Promise<void>;
}
