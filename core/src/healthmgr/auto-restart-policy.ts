import { z } from 'zod';
import { describeError, HealthPolicyError } from '../errors/index.js';
import {
  type Action,
  type Detector,
  type Diagnoser,
  type Diagnosis,
  type HealthPolicy,
  type Measurement,
  METRIC,
  type PolicyContext,
  type Resolver,
  type Sensor,
  type Symptom,
  type TopologyActuator,
} from '../spi/health-policy.js';
import { round } from './detectors.js';
import { DEFAULT_ERROR_RATE, DEFAULT_MIN_ERRORS, ErrorRateDetector, ErrorReportResolver, FailingInstanceDiagnoser } from './error-rate.js';
import { isExceptionReader, isStalled, MeasurementIndex } from './measurements.js';
import { containerOf } from './resolvers.js';

export const AUTO_RESTART_POLICY_ID = 'auto-restart';

/** Settings of the auto-restart policy (`healthmgr.yaml`: `policies: auto-restart: {...}`). */
export const AutoRestartSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    intervalMs: z.number().int().min(100).default(30_000),
    windowMs: z.number().int().min(100).default(60_000),
    /** Backpressure below this many ms per second of window is noise. */
    backpressureNoiseMsPerSec: z.number().min(0).default(20),
    /**
     * Rounds an instance must stay stalled before its container is restarted. A stall is judged on
     * whole windows, so a bolt that legitimately spends longer than this many windows on one tuple
     * would be restarted: raise it for such bolts.
     */
    stallRounds: z.number().int().min(1).default(2),
    /** Worker restarts of one instance within one window that make a crash loop. */
    crashRestarts: z.number().int().min(1).default(3),
    /** An instance that fails more than this share of its tuples over the window is reported as failing. */
    errorRate: z.number().gt(0).max(1).default(DEFAULT_ERROR_RATE),
    /** Failures within one window an instance must have before its error rate counts. */
    minErrors: z.number().int().min(1).default(DEFAULT_MIN_ERRORS),
  })
  .strict();

export type AutoRestartSettings = z.output<typeof AutoRestartSettingsSchema>;

export const AUTO_RESTART_SYMPTOM = {
  stalled: 'stalled',
  crashLoop: 'crash-loop',
  hungRestart: 'hung-restart',
  memoryRestart: 'memory-restart',
} as const;
export const AUTO_RESTART_DIAGNOSIS = {
  stalledInstance: 'stalled-instance',
  crashLoop: 'crash-loop',
  hungWorker: 'hung-worker',
  overMemory: 'over-memory',
} as const;

/**
 * Instances that hold the topology in backpressure while they execute nothing and are not busy: a
 * worker that hangs (a deadlock, an endless wait) rather than one that is slow. A slow or overloaded
 * instance is busy; only a stuck one is backpressured and idle at once.
 */
export class StalledInstanceDetector implements Detector {
  readonly name = 'stalled-instance';
  constructor(private readonly settings: AutoRestartSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const seconds = context.windowMs / 1000;
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const stalled = index
        .instances(component)
        .filter((instance) => isStalled(index, component, instance, seconds, this.settings.backpressureNoiseMsPerSec));
      if (stalled.length > 0) {
        const backpressure = stalled.reduce((acc, i) => acc + index.value(component, i, METRIC.backpressureMs), 0) / seconds;
        symptoms.push({
          type: AUTO_RESTART_SYMPTOM.stalled,
          component,
          instances: stalled,
          observedAt: context.now,
          details: { backpressureMsPerSec: round(backpressure) },
        });
      }
    }
    return symptoms;
  }
}

/** Instances whose worker died and was restarted several times within the window. */
export class CrashLoopDetector implements Detector {
  readonly name = 'crash-loop';
  constructor(private readonly settings: AutoRestartSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const crashing = index.instances(component).filter((i) => index.value(component, i, METRIC.restarts) >= this.settings.crashRestarts);
      if (crashing.length > 0) {
        symptoms.push({
          type: AUTO_RESTART_SYMPTOM.crashLoop,
          component,
          instances: crashing,
          observedAt: context.now,
          details: { restarts: index.sum(component, METRIC.restarts) },
        });
      }
    }
    return symptoms;
  }
}

/**
 * Workers their stream manager already restarted — hung (no progress for hungInstanceMs) or over
 * memory (their container exceeded its RAM) — within the window. Nothing is left to do here; the
 * diagnosis says what happened in `ardea health`, and an over-memory component needs more RAM.
 */
export class EngineRestartDetector implements Detector {
  readonly name = 'engine-restart';

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const symptoms: Symptom[] = [];
    for (const [metric, type] of [
      [METRIC.hungRestarts, AUTO_RESTART_SYMPTOM.hungRestart],
      [METRIC.memoryRestarts, AUTO_RESTART_SYMPTOM.memoryRestart],
    ] as const) {
      for (const component of index.components()) {
        const restarted = index.instances(component).filter((i) => index.value(component, i, metric) > 0);
        if (restarted.length > 0)
          symptoms.push({
            type,
            component,
            instances: restarted,
            observedAt: context.now,
            details: { [metric]: index.sum(component, metric) },
          });
      }
    }
    return symptoms;
  }
}

/** A stalled instance or a crash loop is a fault of the process, which a new process may not have. */
export class UnhealthyContainerDiagnoser implements Diagnoser {
  readonly name = 'unhealthy-container';

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    const types: Record<string, string> = {
      [AUTO_RESTART_SYMPTOM.stalled]: AUTO_RESTART_DIAGNOSIS.stalledInstance,
      [AUTO_RESTART_SYMPTOM.crashLoop]: AUTO_RESTART_DIAGNOSIS.crashLoop,
      [AUTO_RESTART_SYMPTOM.hungRestart]: AUTO_RESTART_DIAGNOSIS.hungWorker,
      [AUTO_RESTART_SYMPTOM.memoryRestart]: AUTO_RESTART_DIAGNOSIS.overMemory,
    };
    return symptoms
      .filter((s) => types[s.type] !== undefined)
      .map((s) => ({
        type: types[s.type]!,
        component: s.component,
        instances: s.instances,
        symptoms: [s],
        details: { ...s.details, containers: [...new Set(s.instances.map(containerOf))].join(',') },
      }));
  }
}

/**
 * Restarts the containers of stalled or crash-looping instances, each container once per round,
 * and predicts that the stall's backpressure (or the crashes) stop.
 */
export class RestartContainerResolver implements Resolver {
  readonly name = 'restart-container';
  readonly handles = [AUTO_RESTART_DIAGNOSIS.stalledInstance, AUTO_RESTART_DIAGNOSIS.crashLoop];

  constructor(private readonly actuator: TopologyActuator) {}

  async resolve(diagnoses: readonly Diagnosis[]): Promise<Action[]> {
    const restarted = new Set<number>();
    const actions: Action[] = [];
    for (const diagnosis of diagnoses) {
      const containers = [...new Set(diagnosis.instances.map(containerOf))].filter((id) => !restarted.has(id));
      if (containers.length === 0) continue;
      for (const containerId of containers) {
        try {
          await this.actuator.restartContainer(containerId);
        } catch (error) {
          throw new HealthPolicyError(
            `restarting container ${containerId} (${diagnosis.type} of ${diagnosis.instances.join(', ')}) failed: ${describeError(error)}`,
            { cause: error },
          );
        }
        restarted.add(containerId);
      }
      const stalled = diagnosis.type === AUTO_RESTART_DIAGNOSIS.stalledInstance;
      actions.push({
        type: 'restart',
        component: diagnosis.component,
        description:
          `${stalled ? 'stalled' : 'crash-looping'} instance(s) ${diagnosis.instances.join(', ')} ` +
          `of ${diagnosis.component}: restart container(s) ${containers.join(', ')}`,
        parameters: { containers },
        predictedEffect: stalled ? { backpressureMsPerSec: 0 } : { restarts: 0 },
      });
    }
    return actions;
  }
}

/**
 * Auto-restart: a container whose instance stays backpressured while idle (hung), or whose worker
 * keeps crashing, is restarted. A stall must last `stallRounds` rounds; a crash loop acts at once.
 * Workers the stream managers restarted themselves (hung, over memory) are reported as diagnoses,
 * and so are instances failing more than `errorRate` of their tuples, with their last exception
 * when the sensor reads it: neither a restart nor more instances cure a component that throws.
 */
export function autoRestartPolicy(settings: AutoRestartSettings, sensor: Sensor, actuator: TopologyActuator): HealthPolicy {
  return {
    id: AUTO_RESTART_POLICY_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    holdRounds: { [AUTO_RESTART_DIAGNOSIS.stalledInstance]: settings.stallRounds },
    sensors: [sensor],
    detectors: [
      new StalledInstanceDetector(settings),
      new CrashLoopDetector(settings),
      new EngineRestartDetector(),
      new ErrorRateDetector(settings, isExceptionReader(sensor) ? sensor : undefined),
    ],
    diagnosers: [new UnhealthyContainerDiagnoser(), new FailingInstanceDiagnoser()],
    resolvers: [new RestartContainerResolver(actuator), new ErrorReportResolver()],
  };
}
