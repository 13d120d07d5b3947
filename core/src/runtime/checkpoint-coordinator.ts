import { describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { CheckpointManifest, CheckpointStorage, CheckpointTopology } from '../spi/checkpoint-storage.js';
import type { StateManager } from '../spi/state-manager.js';
import type { CheckpointSavedMessage, FromTopologyMaster, Register, RestoredMessage, StateLostMessage } from './control-messages.js';
import { checkpointPart } from './checkpoint-parts.js';

/** What the coordinator needs from the topology master. */
export interface CoordinatorPorts {
  /** To every registered stream manager. */
  broadcast(message: FromTopologyMaster): void;
  sendTo(containerId: number, message: FromTopologyMaster): void;
  plan(): PhysicalPlan | undefined;
  /** Every container has applied the current plan (no plan change under way). */
  planApplied(): boolean;
  running(): boolean;
  registered(): readonly number[];
}

/** Where the coordinator reports what happened, for the metrics cache. */
export interface CheckpointRecorder {
  checkpointCommitted(record: { checkpointId: number; startedAt: number; completedAt: number; bytes: number }): void;
  restored(record: { epoch: number; checkpointId: number | undefined; at: number; reason: string }): void;
}

export interface CheckpointCoordinatorOptions {
  readonly definition: TopologyDefinition;
  readonly storage: CheckpointStorage;
  readonly state: StateManager;
  readonly intervalMs: number;
  readonly maxParallelism: number;
  readonly logger: Logger;
  readonly recorder?: CheckpointRecorder;
  readonly ports: CoordinatorPorts;
}

interface InFlight {
  readonly id: number;
  readonly startedAt: number;
  readonly waiting: Set<string>;
  readonly parts: Array<{ part: string; bytes: number }>;
  readonly parallelism: Readonly<Record<string, number>>;
}

/** A checkpoint not complete after this long (or 20 intervals) is abandoned. */
const CHECKPOINT_TIMEOUT_MS = 300_000;

/** A rollback that not every container has finished within this time is started again. */
const RESTORE_TIMEOUT_MS = 120_000;

/** Committed checkpoints kept besides the latest, for an operator to fall back on. */
const KEPT_CHECKPOINTS = 1;

/**
 * Effectively-once, in the topology master: starts a checkpoint every interval while the topology
 * runs and no plan change or rollback is under way, commits it once every instance's part is stored,
 * and rolls every instance back to the latest committed checkpoint when one lost its state (a
 * container or worker restarted). Only one checkpoint is in flight at a time; one that does not
 * complete in time is abandoned, and the next one supersedes it.
 */
export class CheckpointCoordinator {
  private readonly logger: Logger;
  private readonly topology: CheckpointTopology;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: InFlight | undefined;
  private lastId = 0;
  private latest: CheckpointManifest | undefined;
  private epoch = 0;
  private restoring: { readonly epoch: number; readonly waiting: Set<number>; readonly startedAt: number } | undefined;
  /** Containers that registered fresh before this topology master published its first plan. */
  private readonly freshBeforePublish = new Set<number>();
  private published = false;
  private committing = false;
  private stopped = false;

  constructor(private readonly options: CheckpointCoordinatorOptions) {
    this.logger = options.logger.child({ role: 'checkpoints' });
    this.topology = { topologyName: options.definition.name, topologyId: options.definition.id };
  }

  async start(): Promise<void> {
    this.latest = await this.options.storage.latest(this.topology).catch((error: unknown) => {
      this.logger.warn('could not read the latest checkpoint; assuming none', { error: describeError(error) });
      return undefined;
    });
    this.lastId = this.latest?.checkpointId ?? 0;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  get lastCommitted(): CheckpointManifest | undefined {
    return this.latest;
  }

  /** A stream manager registered: a fresh one has no state yet, and gets it (or the whole topology rolls back). */
  onRegister(message: Register, inPublishedPlan: boolean): void {
    this.epoch = Math.max(this.epoch, message.epoch ?? 0);
    if (!message.fresh) return;
    if (!this.published) {
      this.freshBeforePublish.add(message.containerId);
      return;
    }
    if (inPublishedPlan) {
      this.rollback(`container ${message.containerId} restarted`);
      return;
    }
    // Added by an update: its instances start empty; the key groups they own come from their previous owners.
    this.options.ports.sendTo(message.containerId, { type: 'restore', epoch: this.epoch, groupsFromPeers: true });
  }

  /** The topology master published a plan; the first one decides how fresh containers start. */
  onPublished(): void {
    if (this.published) return;
    this.published = true;
    if (this.freshBeforePublish.size === 0) return;
    const everyoneFresh = this.options.ports.registered().every((id) => this.freshBeforePublish.has(id));
    this.freshBeforePublish.clear();
    if (everyoneFresh && !this.latest) {
      // A first start: every instance begins empty.
      this.beginRestore(this.epoch, undefined, 'first start');
      return;
    }
    this.rollback('containers started without their state');
  }

  onSaved(message: CheckpointSavedMessage): void {
    const inFlight = this.inFlight;
    if (!inFlight || inFlight.id !== message.id || !inFlight.waiting.delete(message.part)) return;
    inFlight.parts.push({ part: message.part, bytes: message.bytes });
    if (inFlight.waiting.size === 0) void this.commit(inFlight);
  }

  onRestored(message: RestoredMessage): void {
    if (!this.restoring || this.restoring.epoch !== message.epoch) return;
    this.restoring.waiting.delete(message.containerId);
    if (this.restoring.waiting.size > 0) return;
    this.logger.info('every container runs from the restored state', { epoch: message.epoch });
    this.restoring = undefined;
  }

  onStateLost(message: StateLostMessage): void {
    this.rollback(`task ${message.taskId} in container ${message.containerId} lost its state: ${message.reason}`);
  }

  /** A plan change is starting: a checkpoint in flight cannot complete across it. */
  planChanging(): void {
    if (this.inFlight) this.abandon('the plan changed');
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private tick(): void {
    if (this.stopped) return;
    const inFlight = this.inFlight;
    // Markers wait behind every tuple queued before them: a saturated bolt's full queue can hold a
    // checkpoint for minutes, and abandoning it sooner would only start the same wait again.
    if (inFlight && Date.now() - inFlight.startedAt > Math.max(CHECKPOINT_TIMEOUT_MS, 20 * this.options.intervalMs))
      this.abandon('it did not complete in time');
    // A container that never answers a rollback (its stream manager lost the message) would stop checkpoints for good.
    if (this.restoring && Date.now() - this.restoring.startedAt > RESTORE_TIMEOUT_MS)
      this.rollback(`container(s) ${[...this.restoring.waiting].join(', ')} did not restore within ${RESTORE_TIMEOUT_MS} ms`);
    if (this.inFlight || this.committing || this.restoring || !this.published) return;
    const { ports } = this.options;
    const plan = ports.plan();
    if (!plan || !ports.running() || !ports.planApplied()) return;
    const id = Math.max(Date.now(), this.lastId + 1);
    this.lastId = id;
    const parallelism: Record<string, number> = {};
    for (const instance of plan.instances) parallelism[instance.component] = (parallelism[instance.component] ?? 0) + 1;
    this.inFlight = {
      id,
      startedAt: Date.now(),
      waiting: new Set(plan.instances.map((i) => checkpointPart(i.component, i.componentIndex))),
      parts: [],
      parallelism,
    };
    ports.broadcast({ type: 'checkpoint', id });
  }

  private abandon(reason: string): void {
    this.logger.warn(`abandoning checkpoint ${this.inFlight?.id}: ${reason}`, {
      missing: [...(this.inFlight?.waiting ?? [])].slice(0, 10),
    });
    this.inFlight = undefined;
  }

  private async commit(inFlight: InFlight): Promise<void> {
    this.inFlight = undefined;
    this.committing = true;
    const manifest: CheckpointManifest = {
      checkpointId: inFlight.id,
      startedAt: inFlight.startedAt,
      completedAt: Date.now(),
      maxParallelism: this.options.maxParallelism,
      parallelism: inFlight.parallelism,
      parts: [...inFlight.parts].sort((a, b) => a.part.localeCompare(b.part)),
    };
    try {
      await this.options.storage.commit(this.topology, manifest);
    } catch (error) {
      this.logger.error(`could not commit checkpoint ${inFlight.id}; the next one is taken as usual`, { error: describeError(error) });
      this.committing = false;
      return;
    }
    const previous = this.latest;
    this.latest = manifest;
    this.committing = false;
    const bytes = manifest.parts.reduce((sum, p) => sum + p.bytes, 0);
    this.options.recorder?.checkpointCommitted({
      checkpointId: manifest.checkpointId,
      startedAt: manifest.startedAt,
      completedAt: manifest.completedAt,
      bytes,
    });
    this.options.ports.broadcast({ type: 'checkpoint-committed', id: manifest.checkpointId });
    await this.options.state
      .set('checkpoints', this.topology.topologyName, {
        checkpoints: [
          { checkpointId: String(manifest.checkpointId), packingPlanTopologyId: this.topology.topologyId, takenAt: manifest.completedAt },
        ],
      })
      .catch((error: unknown) => this.logger.warn('could not record the checkpoint in the state manager', { error: describeError(error) }));
    if (previous && KEPT_CHECKPOINTS > 0)
      await this.options.storage
        .prune(this.topology, previous.checkpointId)
        .catch((error: unknown) => this.logger.warn('could not prune old checkpoints', { error: describeError(error) }));
  }

  /** Every instance starts over from the latest committed checkpoint, in a new epoch. */
  private rollback(reason: string): void {
    this.epoch++;
    this.beginRestore(this.epoch, this.latest, reason);
  }

  private beginRestore(epoch: number, checkpoint: CheckpointManifest | undefined, reason: string): void {
    if (this.inFlight) this.abandon('the topology rolls back');
    this.logger.warn(
      checkpoint ? `rolling back to checkpoint ${checkpoint.checkpointId}: ${reason}` : `starting from empty state: ${reason}`,
      {
        epoch,
      },
    );
    this.restoring = { epoch, waiting: new Set(this.options.ports.registered()), startedAt: Date.now() };
    if (checkpoint || epoch > 0) this.options.recorder?.restored({ epoch, checkpointId: checkpoint?.checkpointId, at: Date.now(), reason });
    this.options.ports.broadcast({ type: 'restore', epoch, ...(checkpoint ? { checkpoint } : {}) });
  }
}
