import type { Logger } from '../../logging/index.js';
import type { PhysicalPlan } from '../../model/runtime-state.js';
import type { FenceMessage } from '../control-messages.js';
import { destTaskOf, encodeControlFrame } from '../wire/frames.js';

/** What a plan transition needs from the rest of the stream manager. */
export interface PlanTransitionPorts {
  /** Routes a frame that waited here for a plan naming its task. */
  route(frame: Uint8Array): void;
  /** The bytes of frames waiting for a plan, whenever they changed (they count towards backpressure). */
  unplacedBacklog(bytes: number): void;
  /** Routes what this stream manager still holds that was routed by the old plan: spout output held for backpressure. */
  flushHeld(): void;
  /** Sends a frame to a peer after everything sent to it before. */
  sendToPeer(containerId: number, frame: Uint8Array): void;
  /** Stops the instances a plan dropped, after they executed what is queued for them. */
  stopRemoved(taskIds: number[]): Promise<void>;
  /** Effectively-once: the local instances hand the key groups plan `version` moved to their new owners, and get theirs. */
  handOff(version: number): Promise<void>;
  /** The plan change is complete here: tell the topology master. */
  applied(version: number): void;
}

export interface PlanTransitionOptions {
  readonly containerId: number;
  readonly logger: Logger;
  readonly ports: PlanTransitionPorts;
}

/** A plan change this stream manager is carrying out (see {@link PlanTransition.advance}). */
interface Change {
  readonly version: number;
  readonly fencePeers: ReadonlySet<number>;
  /** Local instances that have not yet confirmed routing by the new plan. */
  readonly waiting: Set<number>;
  readonly removed: readonly number[];
  /**
   * The new plan places some task differently (or drops or adds one): what was routed by the old
   * plan must reach its destination before the fence. A plan that only changes the run state or the
   * runtime config routes every frame as the old one did.
   */
  readonly reroutes: boolean;
  fenced: boolean;
  readonly startedAt: number;
}

/** A plan change whose fences do not all arrive within this time goes ahead without them. */
const TRANSITION_TIMEOUT_MS = 30_000;

/**
 * Carries one container from physical plan to physical plan without losing a frame: knows which
 * container hosts each task, keeps frames for tasks no plan seen here names until a plan does, and
 * runs the fence exchange after which the instances a plan dropped may stop.
 */
export class PlanTransition {
  private current: PhysicalPlan | undefined;
  /** Tasks a new plan drops keep their container: frames routed by the old plan may still come. */
  private readonly containerOfTask = new Map<number, number>();
  /** The newest plan version each peer has fenced. */
  private readonly fenceVersions = new Map<number, number>();
  private change: Change | undefined;
  /**
   * Frames from peers for tasks no plan this stream manager has seen names: the peer routes by a
   * newer plan, which names a task this container is about to host. They wait for that plan.
   */
  private unplaced: Uint8Array[] = [];
  private unplacedBytes = 0;
  private stopped = false;

  constructor(private readonly options: PlanTransitionOptions) {}

  /** The newest plan, once one came. */
  get plan(): PhysicalPlan | undefined {
    return this.current;
  }

  /** The container hosting a task by the newest plan that names it. */
  containerOf(taskId: number): number | undefined {
    return this.containerOfTask.get(taskId);
  }

  /** Makes `plan` the current plan and returns the one before. */
  adopt(plan: PhysicalPlan): PhysicalPlan | undefined {
    const previous = this.current;
    this.current = plan;
    for (const instance of plan.instances) this.containerOfTask.set(instance.taskId, instance.containerId);
    return previous;
  }

  /** A frame from a peer for a task no plan seen here names: it waits for the plan that does. */
  holdUnplaced(frame: Uint8Array): void {
    this.keepUnplaced(frame);
    this.options.ports.unplacedBacklog(this.unplacedBytes);
  }

  /** After a plan change: frames that waited for a plan naming their task go where it says. */
  placeUnplaced(): void {
    const waiting = this.unplaced;
    this.unplaced = [];
    this.unplacedBytes = 0;
    for (const frame of waiting) {
      if (this.containerOfTask.has(destTaskOf(frame))) this.options.ports.route(frame);
      else this.keepUnplaced(frame);
    }
    this.options.ports.unplacedBacklog(this.unplacedBytes);
  }

  /**
   * Starts the change to `plan` (made current by {@link adopt}): `waiting` are the local instances
   * told to route by it, `removed` the local tasks it dropped. A change still under way is superseded:
   * its removed instances are in the new change's too.
   */
  begin(plan: PhysicalPlan, previous: PhysicalPlan | undefined, waiting: Set<number>, removed: readonly number[]): void {
    const fencePeers = new Set([...(previous?.streamManagers ?? []), ...plan.streamManagers].map((s) => s.containerId));
    fencePeers.delete(this.options.containerId);
    const pendingReroute = this.change !== undefined && !this.change.fenced && this.change.reroutes;
    const reroutes = pendingReroute || previous === undefined || !placesTasksAlike(previous, plan);
    this.change = { version: plan.version, fencePeers, waiting, removed, reroutes, fenced: false, startedAt: Date.now() };
    this.advance();
  }

  /** A local instance confirmed that it routes by plan `version`. */
  tasksApplied(taskId: number, version: number): void {
    if (this.change && this.change.version <= version) {
      this.change.waiting.delete(taskId);
      this.advance();
    }
  }

  fenced(message: FenceMessage): void {
    if ((this.fenceVersions.get(message.containerId) ?? 0) < message.version) this.fenceVersions.set(message.containerId, message.version);
    this.advance();
  }

  /** A peer's connection closed. One that left the plan and stopped can send nothing more: as good as fenced. */
  peerClosed(containerId: number): void {
    if (this.current && !this.current.streamManagers.some((s) => s.containerId === containerId)) {
      this.fenceVersions.set(containerId, Number.MAX_SAFE_INTEGER);
      this.advance();
    }
  }

  /** The stream manager is stopping: no change goes further. */
  stop(): void {
    this.stopped = true;
  }

  private keepUnplaced(frame: Uint8Array): void {
    this.unplaced.push(frame);
    this.unplacedBytes += frame.byteLength;
  }

  /**
   * Moves the current plan change forward: once every local instance routes by the new plan, fence
   * every peer; once every peer has fenced too, the queues of removed instances are final, so they
   * stop after executing them; then tell the topology master the plan is applied here.
   */
  private advance(): void {
    const change = this.change;
    if (!change || this.stopped) return;
    const { ports } = this.options;
    if (!change.fenced) {
      if (change.waiting.size > 0 && Date.now() - change.startedAt < TRANSITION_TIMEOUT_MS) return;
      // Spout output held for backpressure was routed by the old plan; if the new one routes
      // differently, it must leave before the fence. Otherwise it stays held, and leaves one frame at a
      // time on relief, as always (deactivate and runtime-config changes do not release it at once).
      if (change.reroutes) ports.flushHeld();
      const fence = encodeControlFrame({
        type: 'fence',
        containerId: this.options.containerId,
        version: change.version,
      } satisfies FenceMessage);
      for (const containerId of change.fencePeers) ports.sendToPeer(containerId, fence);
      change.fenced = true;
    }
    const unfenced = [...change.fencePeers].filter((p) => (this.fenceVersions.get(p) ?? 0) < change.version);
    if (unfenced.length > 0) {
      if (Date.now() - change.startedAt < TRANSITION_TIMEOUT_MS) return;
      this.options.logger.warn('peers did not fence the new plan in time; stopping removed instances anyway', {
        version: change.version,
        unfenced,
      });
    }
    this.change = undefined;
    void ports
      .handOff(change.version)
      .then(() => ports.stopRemoved([...change.removed]))
      .then(() => ports.applied(change.version));
  }
}

/** Both plans run the same tasks, with the same component indexes, in the same containers. */
function placesTasksAlike(a: PhysicalPlan, b: PhysicalPlan): boolean {
  if (a.instances.length !== b.instances.length) return false;
  const placement = new Map(a.instances.map((i) => [i.taskId, i]));
  return b.instances.every((i) => {
    const before = placement.get(i.taskId);
    return (
      before !== undefined &&
      before.containerId === i.containerId &&
      before.component === i.component &&
      before.componentIndex === i.componentIndex
    );
  });
}
