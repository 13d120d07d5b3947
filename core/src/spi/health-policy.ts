/**
 * The health-policy family, after Dhalion: sensors turn metrics into measurements, detectors turn
 * measurements into symptoms, diagnosers explain symptoms, and resolvers act on diagnoses. A policy
 * bundles one of each stage and runs on an interval. Each stage is a contribution point: a plugin can
 * add a detector to a built-in policy, or ship a whole policy.
 */

import type { ExceptionsView, MetricsView } from '../model/metrics.js';
import type { PhysicalPlan } from '../model/runtime-state.js';
import type { TopologyDefinition } from '../model/topology.js';

/** Token for sensor contributions (read with `getAll`). */
export const Sensor = Symbol.for('ardea.Sensor');
/** Token for detector contributions. */
export const Detector = Symbol.for('ardea.Detector');
/** Token for diagnoser contributions. */
export const Diagnoser = Symbol.for('ardea.Diagnoser');
/** Token for resolver contributions. */
export const Resolver = Symbol.for('ardea.Resolver');
/** Token for policy contributions; the health manager runs every enabled one. */
export const HealthPolicy = Symbol.for('ardea.HealthPolicy');

/** One metric value of one component or instance, over the window ending at `timestamp`. */
export interface Measurement {
  readonly component: string;
  /** Instance id (`container_<c>_<component>_<task>`); absent for component-level values. */
  readonly instance?: string;
  readonly metric: string;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly value: number;
}

/** Something observed as wrong or notable, e.g. `backpressure` on `count`. */
export interface Symptom {
  readonly type: string;
  readonly component: string;
  readonly instances: readonly string[];
  readonly observedAt: number;
  readonly details: Readonly<Record<string, number | string>>;
}

/** An explanation of symptoms, e.g. `under-provisioned`, `slow-instance`, `data-skew`. */
export interface Diagnosis {
  readonly type: string;
  readonly component: string;
  readonly instances: readonly string[];
  readonly symptoms: readonly Symptom[];
  readonly details: Readonly<Record<string, number | string>>;
}

/** What a resolver did or asks to do, with the effect it predicts so the outcome can be judged. */
export interface Action {
  readonly type: string;
  readonly component?: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Metric name → value expected once the system has settled, e.g. `{ backpressureMsPerSec: 0 }`. */
  readonly predictedEffect: Readonly<Record<string, number>>;
}

/**
 * What every stage is given: which topology (its current definition, so parallelism and the DAG are
 * known), when, the window the measurements cover, and the round's measurements (sensors get none).
 */
export interface PolicyContext {
  readonly topologyName: string;
  readonly topology: TopologyDefinition;
  readonly now: number;
  readonly windowMs: number;
  readonly measurements: readonly Measurement[];
  /**
   * Action types already taken for this diagnosis in the current load regime that did not help.
   * Only resolvers that {@link Resolver.escalates} see such diagnoses; the health manager provides it.
   */
  readonly ineffective?: (diagnosis: Pick<Diagnosis, 'type' | 'component'>) => readonly string[];
}

export interface Sensor {
  readonly name: string;
  /** Reads the metrics it knows about for the window ending at `context.now`. */
  fetch(context: PolicyContext): Promise<Measurement[]>;
}

export interface Detector {
  readonly name: string;
  /** Must tolerate noise: ordinary jitter in the measurements yields no symptom. */
  detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]>;
}

export interface Diagnoser {
  readonly name: string;
  diagnose(symptoms: readonly Symptom[], context: PolicyContext): Promise<Diagnosis[]>;
}

/**
 * What resolvers change a running topology through; in container 0 it is the same update and restart
 * path the CLI uses.
 */
export const TopologyActuator = Symbol.for('ardea.TopologyActuator');
export interface TopologyActuator {
  /** New parallelism for the named components; resolves once the new plan runs everywhere. */
  scale(parallelism: Readonly<Record<string, number>>): Promise<void>;
  restartContainer(containerId: number): Promise<void>;
  setRuntimeConfig(changes: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }>): Promise<void>;
}

export interface Resolver {
  readonly name: string;
  /** Diagnosis types this resolver knows how to act on. */
  readonly handles: readonly string[];
  /**
   * The resolver has more than one remedy and tries another when one did not help: the health
   * manager then passes it diagnoses whose earlier action was ineffective, and it must read
   * `context.ineffective` and never repeat those action types. A resolver without it never sees a
   * diagnosis again in a regime once its action did not help (Dhalion's blacklist).
   */
  readonly escalates?: boolean;
  /**
   * Acts (through the scheduler client) and resolves to what it did. Rejects with
   * `HealthPolicyError` if the action could not be carried out; the executor logs the failure.
   */
  resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]>;
}

/**
 * One self-regulation loop. The policy executor calls the stages in order every `intervalMs` and
 * records each round (symptoms, diagnoses, actions and their observed effect) in the action log.
 */
export interface HealthPolicy {
  /** Kebab-case id used in `healthmgr.yaml` and in the action log. */
  readonly id: string;
  readonly intervalMs: number;
  /** Longest metrics window a round looks at; after an action the window restarts. Default: 2 intervals. */
  readonly windowMs?: number;
  /**
   * Rounds a diagnosis of this type must persist before resolvers see it (e.g. confirm
   * over-provisioning before scaling down). Default: 1.
   */
  readonly holdRounds?: Readonly<Record<string, number>>;
  readonly sensors: readonly Sensor[];
  readonly detectors: readonly Detector[];
  readonly diagnosers: readonly Diagnoser[];
  readonly resolvers: readonly Resolver[];
}

/** Stages plugins contribute to the provisioning policy (Detector, Diagnoser and Resolver tokens). */
export interface PolicyContributions {
  readonly detectors?: readonly Detector[];
  readonly diagnosers?: readonly Diagnoser[];
  readonly resolvers?: readonly Resolver[];
}

/** Metric names the built-in sensor produces, per instance unless noted. */
export const METRIC = {
  executeRate: 'executeRate',
  emitRate: 'emitRate',
  /** Fraction of wall time in user code: with executeRate it gives the true processing rate (DS2). */
  busyFraction: 'busyFraction',
  /** Milliseconds over the window the instance's queue was above the high watermark. */
  backpressureMs: 'backpressureMs',
  pendingBytes: 'pendingBytes',
  /** Workers of the instance restarted after they died, over the window. */
  restarts: 'restarts',
  /** Of those, workers its stream manager restarted because they hung, over the window. */
  hungRestarts: 'hungRestarts',
  /** Of those, workers its stream manager restarted because their container exceeded its RAM, over the window. */
  memoryRestarts: 'memoryRestarts',
  /** Spouts that report one: tuples waiting at the source, latest. */
  backlog: 'backlog',
  /** Spouts that report a backlog: its growth over the window, tuples/s (negative while it drains). */
  backlogGrowth: 'backlogGrowth',
  /** Per spout component: fraction of the window its spouts were paused by backpressure. */
  pausedFraction: 'pausedFraction',
} as const;

/**
 * Metric name of an instance's emit rate on one of its output streams (tuples/s over the window);
 * the per-stream rates of an instance add up to its {@link METRIC.emitRate}.
 */
export function streamEmitRateMetric(stream: string): string {
  return `emitRate:${stream}`;
}

/** Token under which container 0 binds its {@link MetricsSource}, for sensors that plugins contribute. */
export const MetricsSource = Symbol.for('ardea.MetricsSource');

/** Where the sensor reads from: the metrics cache and physical plan of the topology master. */
export interface MetricsSource {
  view(windowMs: number): MetricsView;
  physicalPlan(): PhysicalPlan | undefined;
  /** Every instance's error count and last error (absent from sources without one, e.g. the simulator). */
  exceptions?(): ExceptionsView;
}

/**
 * Token under which container 0 binds the sensor of its topology (the metrics cache, read in-process).
 * The built-in policies measure with it, and a plugin's policy may too; a policy test binds a
 * recorded sensor in its place.
 */
export const MetricsSensor = Symbol.for('ardea.MetricsSensor');
export type MetricsSensor = Sensor;
