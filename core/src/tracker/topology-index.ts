import type { Logger } from '../logging/index.js';
import type { ReliabilityMode } from '../model/metrics.js';
import { runtimeSettingsOf } from '../runtime/runtime-settings.js';
import type { TrackedCluster } from './backend.js';

/** One line of `/topologies`. */
export interface TopologySummary {
  readonly cluster: string;
  readonly name: string;
  readonly id: string;
  /** RUNNING, PAUSED, STARTING or SUPERVISOR-LOST (`Ardea.runState`). */
  readonly state: string;
  readonly reliability: ReliabilityMode;
  /** How many components. */
  readonly components: number;
  /** How many containers, container 0 included. */
  readonly containers: number;
  readonly submittedAt?: number;
}

export interface TopologyIndexOptions {
  /** An answer younger than this is served as it is. */
  readonly freshMs: number;
  /**
   * An answer older than `freshMs` but younger than this is served too, while a read of the state
   * manager refreshes it in the background; older than this, a request waits for the new read.
   */
  readonly staleMs: number;
  readonly logger: Logger;
}

/** Topologies read at once by a refresh. */
const READ_CONCURRENCY = 4;

export const DEFAULT_INDEX_OPTIONS = { freshMs: 2_000, staleMs: 30_000 } as const;

/**
 * The topologies of one cluster as the state manager holds them, cached: a list of 50 topologies
 * takes some 300 reads of the state manager, too many to make on every request of a UI that polls.
 * At most one read runs at a time; requests that arrive meanwhile share it.
 */
export class TopologyIndex {
  private cached?: { readonly at: number; readonly topologies: TopologySummary[] };
  private refreshing?: Promise<TopologySummary[]>;
  private closed = false;
  /** When a topology was last found by {@link has}: a route polled every second then costs no read. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly cluster: TrackedCluster,
    private readonly options: TopologyIndexOptions,
  ) {}

  async topologies(): Promise<TopologySummary[]> {
    const cached = this.cached;
    const age = cached ? Date.now() - cached.at : Infinity;
    if (cached && age < this.options.freshMs) return cached.topologies;
    const refresh = this.refresh();
    if (cached && age < this.options.staleMs) {
      // A failed background refresh keeps the last answer; the next request tries again.
      refresh.catch((error: unknown) =>
        this.options.logger.warn('could not refresh the topology list', { cluster: this.cluster.config.cluster, error: String(error) }),
      );
      return cached.topologies;
    }
    return refresh;
  }

  /** Whether the cluster holds the topology now: a fresh read, so that a just-submitted topology is found. */
  async has(name: string): Promise<boolean> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.options.freshMs && this.cached.topologies.some((t) => t.name === name)) return true;
    const seen = this.seen.get(name);
    if (seen !== undefined && now - seen < this.options.freshMs) return true;
    const present = (await this.cluster.state.get('topology', name)) !== undefined;
    if (present) this.seen.set(name, now);
    else this.seen.delete(name);
    return present;
  }

  /** Stops caching: a read that ends after close is not kept. */
  close(): void {
    this.closed = true;
  }

  private refresh(): Promise<TopologySummary[]> {
    if (!this.refreshing) {
      const started = Date.now();
      this.refreshing = this.read()
        .then((topologies) => {
          if (!this.closed) this.cached = { at: started, topologies };
          return topologies;
        })
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.refreshing;
  }

  private async read(): Promise<TopologySummary[]> {
    const names = await this.cluster.list();
    const summaries: Array<TopologySummary | undefined> = new Array(names.length);
    // A few topologies at a time: hundreds of reads at once would queue their completions ahead
    // of the requests the tracker serves meanwhile (a background refresh must not slow them).
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        summaries[i] = await this.summary(names[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, names.length) }, worker));
    return summaries.filter((summary): summary is TopologySummary => summary !== undefined);
  }

  private async summary(name: string): Promise<TopologySummary | undefined> {
    const { state } = this.cluster;
    const [definition, packing, execution, runState] = await Promise.all([
      state.get('topology', name),
      state.get('packingPlan', name),
      state.get('executionState', name),
      this.cluster.runState(name),
    ]);
    // Killed between the list and the reads.
    if (!definition) return undefined;
    return {
      cluster: this.cluster.config.cluster,
      name,
      id: definition.id,
      state: runState,
      reliability: runtimeSettingsOf(definition).reliability,
      components: definition.components.length,
      containers: (packing?.containers.length ?? 0) + 1,
      ...(execution ? { submittedAt: execution.submittedAt } : {}),
    };
  }
}
