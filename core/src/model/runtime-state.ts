import { z } from 'zod';

/** Whether spouts are emitting. Bolts keep processing while a topology is paused. */
export type TopologyRunState = 'RUNNING' | 'PAUSED';

/** Facts about one submission, written at submit and read by every runtime command. */
export interface ExecutionState {
  readonly topologyName: string;
  readonly topologyId: string;
  readonly cluster: string;
  readonly submittedBy: string;
  /** Milliseconds since the epoch. */
  readonly submittedAt: number;
  readonly ardeaVersion: string;
  /** Where the uploader put the topology package. */
  readonly packageUri: string;
  /**
   * SHA-256 (hex) of the package the submitter uploaded; executors check the copy they fetch against
   * it. Absent in state written by earlier versions of Ardea.
   */
  readonly packageSha256?: string;
  readonly schedulerPlugin: string;
  readonly schedulerMode: 'service' | 'library';
  /**
   * Shared secret of this submission: every connection between its processes and every call to its
   * control APIs proves knowledge of it. Whoever can read the state store controls the topology
   * anyway, so the secret lives with the rest of its state.
   */
  readonly secret: string;
  /** State the topology starts in: PAUSED for `submit --deploy-deactivated`. */
  readonly initialState: TopologyRunState;
}

export const ExecutionStateSchema = z
  .object({
    topologyName: z.string(),
    topologyId: z.string(),
    cluster: z.string(),
    submittedBy: z.string(),
    submittedAt: z.number(),
    ardeaVersion: z.string(),
    packageUri: z.string(),
    packageSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    schedulerPlugin: z.string(),
    schedulerMode: z.enum(['service', 'library']),
    secret: z.string().min(16),
    initialState: z.enum(['RUNNING', 'PAUSED']),
  })
  .strict();

/** The live plan the topology master builds once every stream manager has registered. */
export interface PhysicalPlan {
  readonly topologyName: string;
  readonly topologyId: string;
  /** Grows by one with every plan the topology master publishes. */
  readonly version: number;
  readonly state: TopologyRunState;
  readonly streamManagers: readonly StreamManagerLocation[];
  readonly instances: readonly PhysicalInstance[];
  /** Runtime config overrides per component (`*` for the topology), applied without a restart. */
  readonly runtimeConfig: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export interface StreamManagerLocation {
  /** `stmgr-<containerId>` */
  readonly id: string;
  readonly containerId: number;
  readonly host: string;
  readonly dataPort: number;
}

export interface PhysicalInstance {
  /** `container_<containerId>_<component>_<taskId>` */
  readonly instanceId: string;
  readonly containerId: number;
  readonly component: string;
  readonly taskId: number;
  readonly componentIndex: number;
}

export const PhysicalPlanSchema = z
  .object({
    topologyName: z.string(),
    topologyId: z.string(),
    version: z.number().int().min(1),
    state: z.enum(['RUNNING', 'PAUSED']),
    streamManagers: z.array(
      z.object({ id: z.string(), containerId: z.number().int(), host: z.string(), dataPort: z.number().int() }).strict(),
    ),
    instances: z.array(
      z
        .object({
          instanceId: z.string(),
          containerId: z.number().int(),
          component: z.string(),
          taskId: z.number().int(),
          componentIndex: z.number().int(),
        })
        .strict(),
    ),
    runtimeConfig: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .strict();

/** Where a topology's master listens; written by the master itself, dies with it. */
export interface TopologyMasterLocation {
  readonly topologyName: string;
  readonly topologyId: string;
  readonly host: string;
  /** Stream managers register here. */
  readonly serverPort: number;
  /** HTTP control: activate, deactivate, runtime config. */
  readonly controllerPort: number;
}

export const TopologyMasterLocationSchema = z
  .object({
    topologyName: z.string(),
    topologyId: z.string(),
    host: z.string(),
    serverPort: z.number().int(),
    controllerPort: z.number().int(),
  })
  .strict();

/** Where the metrics cache of a topology answers queries. */
export interface MetricsCacheLocation {
  readonly topologyName: string;
  readonly topologyId: string;
  readonly host: string;
  readonly port: number;
}

export const MetricsCacheLocationSchema = z
  .object({ topologyName: z.string(), topologyId: z.string(), host: z.string(), port: z.number().int() })
  .strict();

/**
 * How to reach a topology's scheduler. Service-mode schedulers publish an HTTP endpoint; library-mode
 * schedulers have none and are instantiated in-process by whoever needs them.
 */
export interface SchedulerLocation {
  readonly topologyName: string;
  readonly mode: 'service' | 'library';
  /** `http://host:port` of a service-mode scheduler. */
  readonly endpoint?: string;
  /** Links to the pool's own UI for this topology's jobs. */
  readonly jobLinks: readonly string[];
}

export const SchedulerLocationSchema = z
  .object({
    topologyName: z.string(),
    mode: z.enum(['service', 'library']),
    endpoint: z.string().optional(),
    jobLinks: z.array(z.string()),
  })
  .strict();

/** Consistent checkpoints, newest first. */
export interface StatefulCheckpoints {
  readonly checkpoints: ReadonlyArray<{ readonly checkpointId: string; readonly packingPlanTopologyId: string; readonly takenAt: number }>;
}

export const StatefulCheckpointsSchema = z
  .object({
    checkpoints: z.array(z.object({ checkpointId: z.string(), packingPlanTopologyId: z.string(), takenAt: z.number() }).strict()),
  })
  .strict();

/** One action a health policy took, with what it expected and, once the topology settled, what it got. */
export interface HealthActionRecord {
  readonly type: string;
  readonly component?: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly predictedEffect: Readonly<Record<string, number>>;
  readonly diagnosis: { readonly type: string; readonly component: string };
  /** The predicted rate metrics as they were when the action was taken, to judge the gain by. */
  readonly observedBefore?: Readonly<Record<string, number>>;
  /** Filled in once the topology has settled after the action. */
  readonly observedEffect?: Readonly<Record<string, number>>;
  readonly verdict?: 'helped' | 'did-not-help';
  readonly settledAt?: number;
  /**
   * Set when the action was not applied as the resolver asked: `proposed` in `advise` mode (recorded
   * with its prediction, never applied), `skipped` when the operator's bounds or hold left nothing to
   * change. Absent: applied (possibly clamped, see `note`).
   */
  readonly outcome?: 'proposed' | 'skipped';
  /** Why the action was clamped, skipped or only proposed. */
  readonly note?: string;
}

/** One round of one policy: what it saw, what it concluded and what it did. */
export interface HealthRound {
  readonly policy: string;
  readonly round: number;
  readonly at: number;
  readonly windowMs: number;
  readonly symptoms: ReadonlyArray<{
    readonly type: string;
    readonly component: string;
    readonly instances: readonly string[];
    readonly details: Readonly<Record<string, number | string>>;
  }>;
  readonly diagnoses: ReadonlyArray<{
    readonly type: string;
    readonly component: string;
    readonly instances: readonly string[];
    /** What the diagnoser found, e.g. an error-rate diagnosis's last exception; absent in logs older than it. */
    readonly details?: Readonly<Record<string, number | string>>;
  }>;
  readonly actions: readonly HealthActionRecord[];
  /** Diagnoses skipped because an earlier action for them did not help in the current regime. */
  readonly blacklisted: ReadonlyArray<{
    readonly type: string;
    readonly component: string;
    /** Why, when it is not that an earlier action did not help: proposed already, at its bound, held by the operator. */
    readonly reason?: string;
  }>;
  readonly error?: string;
}

/** The action log of a topology's health manager, newest last, bounded. */
export interface HealthLog {
  readonly rounds: readonly HealthRound[];
  /**
   * Components the operator pinned with a manual `ardea update`: the health manager does not scale
   * them before `until`. Written under the topology's update lock, by the CLI and by the health manager.
   */
  readonly pins?: Readonly<Record<string, OperatorPin>>;
  /** What operators did to the topology's parallelism (`update`, `update --unpin`), newest last, bounded. */
  readonly operatorActions?: readonly OperatorActionRecord[];
}

export interface OperatorPin {
  readonly parallelism: number;
  readonly at: number;
  readonly until: number;
  readonly by: string;
}

export interface OperatorActionRecord {
  readonly type: 'update' | 'unpin';
  readonly at: number;
  /** Who: `cli` (and the user, when known). */
  readonly by: string;
  readonly description: string;
  /** `update`: the new parallelism per component; `unpin`: the components released. */
  readonly components: readonly string[];
  readonly parallelism?: Readonly<Record<string, number>>;
  /** `update`: until when the components are held. */
  readonly until?: number;
}

/**
 * What the metrics cache carries across process restarts, kept in the state manager so that a
 * restart of container 0 (which hosts the cache) keeps it too. Counts are cumulative counters by
 * name (`emitted`, `executed`, `restarts`, ...).
 */
export interface MetricsTotals {
  readonly topologyId: string;
  /** Per container id: the process the cache last heard from, and how often it saw a new one. */
  readonly containers: Readonly<
    Record<
      string,
      { readonly incarnation: string; readonly restarts: number; readonly streamManagerOffsets: Readonly<Record<string, number>> }
    >
  >;
  /** Per instance: what its earlier processes counted, added to what the current one reports. */
  readonly instanceOffsets: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Per instance that is gone (scaled away, or its container removed): its last counts. */
  readonly retired: Readonly<
    Record<string, { readonly component: string; readonly taskId: number; readonly counts: Readonly<Record<string, number>> }>
  >;
  /** Frames and tuples dropped by stream managers of containers that are gone. */
  readonly retiredDrops: { readonly frames: number; readonly tuples: number };
}
