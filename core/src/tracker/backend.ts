import type { ExceptionsView, MetricsTimeline, MetricsView, ReliabilityMode, RuntimeInfo } from '../model/metrics.js';
import type { PackingPlan } from '../model/packing-plan.js';
import type { ExecutionState, PhysicalPlan, SchedulerLocation } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';
import type { ContainerLogChunk, ContainerLogRequest, ContainerStatus } from '../spi/scheduler.js';
import type { StateManager } from '../spi/state-manager.js';

/**
 * What the tracker needs of a cluster: the part of `Ardea` (core/src/app/ardea.ts) it calls. The
 * tracker is handed one per cluster rather than building them, because the application layer may
 * be imported only from above (cli, main); `Ardea` satisfies this interface as it is.
 */
export interface TrackedCluster {
  readonly config: {
    readonly cluster: string;
    readonly scheduler: { readonly plugin: string };
    readonly statemgr: { readonly plugin: string };
  };
  readonly state: Pick<StateManager, 'get' | 'list'>;
  list(): Promise<string[]>;
  runState(name: string): Promise<string>;
  describe(name: string): Promise<TrackedDescription>;
  status(name: string): Promise<ContainerStatus[]>;
  metrics(name: string, options?: { instances?: boolean; windowMs?: number }): Promise<MetricsView>;
  metricsTimeline(name: string, options?: { instances?: boolean; since?: number }): Promise<MetricsTimeline>;
  exceptions(name: string): Promise<ExceptionsView>;
  runtimeInfo(name: string): Promise<RuntimeInfo>;
  containerLog(name: string, containerId: number, request: ContainerLogRequest): Promise<ContainerLogChunk>;
  close(): Promise<void>;
}

/** `Ardea.describe`'s answer, as far as the tracker reads it. */
export interface TrackedDescription {
  readonly topology: TopologyDefinition;
  readonly packingPlan?: PackingPlan;
  readonly executionState?: ExecutionState;
  readonly physicalPlan?: PhysicalPlan;
  readonly scheduler?: SchedulerLocation;
  readonly reliability: ReliabilityMode;
}
