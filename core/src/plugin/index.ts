/**
 * `@ardea/core/plugin`: everything a plugin is written against — the SPI tokens and contracts of the
 * six plugin kinds, the errors they raise, `definePlugin`, the pool kit, and the model types those
 * contracts speak in. Plugins import this entry (and `@ardea/core/testing` in their tests), never
 * the root `@ardea/core`, whose other names are the engine's own and may change between releases.
 *
 * Each name is here because a plugin uses it: the pools in `plugins/` (local, slurm), the ZooKeeper
 * state manager, the custom health-policy example, or what a pool plugin for Kubernetes, Nomad or
 * YARN cannot do without (the executor contract, container identity).
 *
 * @example
 * ```ts
 * import { definePlugin, Scheduler } from '@ardea/core/plugin';
 * export default definePlugin({ name: 'mainframe', kind: 'scheduler', configSchema, createModule });
 * ```
 * @module
 */

// The descriptor every plugin package default-exports, and what the core hands it.
export { definePlugin, type PluginContext, type PluginDescriptor, type PluginKind } from './plugin-descriptor.js';

// Errors: a plugin raises its kind's subclass, with the failing input and a cause.
export {
  ArdeaError,
  CheckpointError,
  ConfigError,
  HealthPolicyError,
  LockTimeoutError,
  PackingError,
  SchedulerError,
  StateConflictError,
  StateManagerError,
  UploaderError,
  describeError,
  formatSchemaIssue,
} from '../errors/index.js';

// The logger a plugin gets in its context; `SilentLogger` where none is given.
export { SilentLogger, type LogFields, type Logger } from '../logging/index.js';

// The model the SPIs speak in. Resources are bytes; `MiB` converts for pools that count in megabytes.
export { MiB, type Resources } from '../model/resources.js';
export type { ContainerPlan, InstancePlan, PackingPlan } from '../model/packing-plan.js';
export type { TopologyDefinition } from '../model/topology.js';

// Scheduler SPI and the executor contract: how any pool starts a container's executor.
export {
  CONTAINER_ID_ENV,
  LISTEN_HOST_ENV,
  CONTAINER_INDEX_PLACEHOLDER,
  Launcher,
  Scheduler,
  executorArgv,
  type ContainerIdentity,
  type ContainerLogChunk,
  type ContainerLogRequest,
  type ContainerState,
  type ContainerStatus,
  type ExecutorSpec,
  type ScheduleRequest,
  type SchedulerMode,
  type UpdateRequest,
} from '../spi/scheduler.js';
// The deployment's cluster config, which a pool's scheduler or launcher reads its settings from.
export { ClusterConfig } from '../config/cluster-config.js';
export type { SchedulerLocation } from '../model/runtime-state.js';
// A pool whose scheduler runs as a service (the local pool's supervisor) binds a Launcher that starts
// the core's scheduler service with this command and waits for it to publish its location.
export { awaitSchedulerService, supervisorCommand, type ProcessCommand, type SchedulerServiceStart } from '../scheduler/launchers.js';
// A metrics sink plugin binds this token (the tracker hands it every topology's metrics).
export { MetricsSink, type MetricsSnapshot } from '../spi/metrics-sink.js';

// A pool whose executors are its child processes sets it, so that they exit when the pool process dies.
export { PARENT_PID_ENV } from '../runtime/executor-env.js';

// The pool kit: one update diff (with the ordinal rule), one start-or-undo loop, one naming rule, one
// way to cut a container log into chunks.
export {
  decodeLogChunk,
  denseContainerIds,
  environmentLines,
  executorCommandLine,
  isEnvironmentName,
  logByteRange,
  planContainerChanges,
  pollUntilDone,
  poolResourceName,
  shellCommand,
  shellQuote,
  startAllOrUndo,
} from '../scheduler/pool-kit/index.js';

// For pools whose containers are processes on the scheduler's own machine (the local pool): this
// installation's executor, process identities that survive pid reuse, and files only the owner
// reads — executor environments carry the cluster's credentials.
export { localExecutorArgv } from '../scheduler/executor-command.js';
export { ownerLiveness, processOwnerOf, ProcessOwnerSchema, type OwnerLiveness, type ProcessOwner } from '../statemgr/process-owner.js';
export { isUnder, makePrivateDirectory, PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE, securePrivateTree } from '../fs/private-files.js';

// State manager SPI, with the node layout and kill order every implementation shares.
export {
  LOCKS_DIRECTORY,
  STATE_KINDS,
  STATE_LAYOUT,
  StateManager,
  TOPOLOGY_REMOVAL_ORDER,
  type LockName,
  type StateKind,
  type StateListener,
  type StateLock,
  type StateOperation,
  type StateRecords,
  type StateWatch,
  type WriteOptions,
} from '../spi/state-manager.js';

// Uploader SPI; every uploader checks its source file with `packageFileSize`.
export { Uploader, type FetchRequest, type UploadRequest } from '../spi/uploader.js';
export { packageFileSize } from '../uploader/package-file.js';

// Checkpoint-storage SPI: where effectively-once topologies keep their state (`checkpoints.yaml`).
export { CheckpointStorage, type CheckpointManifest, type CheckpointTopology } from '../spi/checkpoint-storage.js';

// Packing SPI; an algorithm lays the topology's packing hints over the cluster's settings itself.
export { PackingAlgorithm, RepackingAlgorithm, type PackingSettings, type RepackRequest } from '../spi/packing.js';
export { applyPackingHints } from '../packing/settings.js';

// Health-policy SPI (Dhalion's stages), what container 0 binds for policies, and the building blocks
// of a policy that sizes from metrics; `SimulatedPolicyFactory` runs the same policy in the simulator.
export {
  Detector,
  Diagnoser,
  HealthPolicy,
  METRIC,
  MetricsSensor,
  MetricsSource,
  Resolver,
  Sensor,
  TopologyActuator,
  type Action,
  type Diagnosis,
  type Measurement,
  type PolicyContext,
  type Symptom,
} from '../spi/health-policy.js';
export { MeasurementIndex, MetricsCacheSensor, sizeTopology } from '../healthmgr/index.js';
export type { SimulatedPolicyFactory } from '../simulator/index.js';
