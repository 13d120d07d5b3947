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
import { round, SATURATED_BUSY } from './detectors.js';
import { MeasurementIndex } from './measurements.js';
import { sizeTopology } from './sizing.js';

export const THROUGHPUT_SLO_POLICY_ID = 'throughput-slo';

/** Settings of the throughput-SLO policy (`healthmgr.yaml`: `policies: throughput-slo: {...}`). */
export const ThroughputSloSettingsSchema = z
  .object({
    /** Off unless asked for: it needs a goal only the user knows. */
    enabled: z.boolean().default(false),
    intervalMs: z.number().int().min(100).default(30_000),
    windowMs: z.number().int().min(100).default(60_000),
    /** The goal: tuples per second all spouts together emit. */
    tuplesPerSec: z.number().positive().optional(),
    /** The goal counts as met down to this fraction below it (measurement noise). */
    tolerance: z.number().min(0).lt(1).default(0.1),
    /** Utilization spouts and bolts are sized for at the goal rate. */
    targetUtilization: z.number().gt(0).max(1).default(0.85),
    backpressureNoiseMsPerSec: z.number().min(0).default(20),
    /** A spout busy this much of its unpaused time has no spare capacity. */
    spoutBusyThreshold: z.number().gt(0).max(1).default(0.8),
    maxParallelism: z.number().int().min(1).default(32),
    maxScaleFactor: z.number().min(1).default(8),
  })
  .strict()
  .refine((s) => !s.enabled || s.tuplesPerSec !== undefined, {
    message: 'tuplesPerSec is required when the throughput-slo policy is enabled',
    path: ['tuplesPerSec'],
  });

export type ThroughputSloSettings = z.output<typeof ThroughputSloSettingsSchema>;

export const SLO_SYMPTOM = { belowSlo: 'throughput-below-slo' } as const;
export const SLO_DIAGNOSIS = { violation: 'slo-violation' } as const;
/** Why the spouts emit less than the goal, as the diagnosis's `cause`. */
export const SLO_CAUSE = {
  /** Bolts hold the spouts back. */
  backpressure: 'backpressure',
  /** The spouts run flat out. */
  spoutCapacity: 'spout-capacity',
  /** The spouts wait for input: the source offers less than the goal. */
  source: 'source',
} as const;

const spoutsOf = (context: PolicyContext) => context.topology.components.filter((c) => c.kind === 'spout').map((c) => c.name);

/** Emit count: compares what the spouts emitted over the window with the goal. */
export class EmitCountDetector implements Detector {
  readonly name = 'emit-count';
  constructor(private readonly settings: ThroughputSloSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const goal = this.settings.tuplesPerSec;
    if (goal === undefined) return [];
    const index = new MeasurementIndex(measurements);
    const spouts = spoutsOf(context);
    const throughput = spouts.reduce((acc, s) => acc + index.sum(s, METRIC.emitRate), 0);
    if (throughput >= goal * (1 - this.settings.tolerance)) return [];
    return spouts.map((spout) => ({
      type: SLO_SYMPTOM.belowSlo,
      component: spout,
      instances: index.instances(spout),
      observedAt: context.now,
      details: { throughput: round(throughput), goal, emitRate: round(index.sum(spout, METRIC.emitRate)) },
    }));
  }
}

/**
 * Why the goal is missed, per spout: paused by backpressure or a bolt at its capacity (bolts are
 * short), busy all the time it may run (spouts are short), or neither (the source has no more to give).
 */
export class SloViolationDiagnoser implements Diagnoser {
  readonly name = 'slo-violation';
  constructor(private readonly settings: ThroughputSloSettings) {}

  async diagnose(symptoms: readonly Symptom[], context: PolicyContext): Promise<Diagnosis[]> {
    const index = new MeasurementIndex(context.measurements);
    return symptoms
      .filter((s) => s.type === SLO_SYMPTOM.belowSlo)
      .map((symptom) => {
        const paused = index.componentValue(symptom.component, METRIC.pausedFraction) ?? 0;
        const instances = index.instances(symptom.component);
        const busy =
          instances.reduce((acc, i) => acc + index.value(symptom.component, i, METRIC.busyFraction), 0) / Math.max(1, instances.length);
        const busyWhileRunning = busy / Math.max(0.05, 1 - paused);
        const cause =
          paused * 1000 > this.settings.backpressureNoiseMsPerSec
            ? SLO_CAUSE.backpressure
            : busyWhileRunning >= this.settings.spoutBusyThreshold
              ? SLO_CAUSE.spoutCapacity
              : boltsAtCapacity(context, index, this.settings.backpressureNoiseMsPerSec)
                ? SLO_CAUSE.backpressure
                : SLO_CAUSE.source;
        return {
          type: SLO_DIAGNOSIS.violation,
          component: symptom.component,
          instances: symptom.instances,
          symptoms: [symptom],
          details: { ...symptom.details, cause, pausedFraction: round(paused), busyWhileRunning: round(busyWhileRunning) },
        };
      });
  }
}

/**
 * Whether some bolt is the limit even though the spouts were hardly paused: backpressured beyond the
 * noise level, or busy nearly all the time (a queue filling towards the watermark).
 */
function boltsAtCapacity(context: PolicyContext, index: MeasurementIndex, noiseMsPerSec: number): boolean {
  const seconds = context.windowMs / 1000;
  return context.topology.components
    .filter((c) => c.kind === 'bolt')
    .some((c) => {
      const instances = index.instances(c.name);
      if (instances.length === 0) return false;
      const busy = instances.reduce((acc, i) => acc + index.value(c.name, i, METRIC.busyFraction), 0) / instances.length;
      return busy >= SATURATED_BUSY || instances.some((i) => index.value(c.name, i, METRIC.backpressureMs) / seconds > noiseMsPerSec);
    });
}

/**
 * Sizes the spouts for the goal from their true emit rate, and every bolt for the load the goal
 * brings (measured selectivities, DS2-style) in the same update, so the new spouts do not just move
 * the bottleneck downstream. Never scales down: that is the provisioning policy's job. When the
 * spouts wait for input, no instance count helps; that is reported once per regime.
 */
export class SloScaleResolver implements Resolver {
  readonly name = 'slo-scale';
  readonly handles = [SLO_DIAGNOSIS.violation];

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly settings: ThroughputSloSettings,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const goal = this.settings.tuplesPerSec!;
    if (diagnoses.every((d) => d.details.cause === SLO_CAUSE.source)) {
      const throughput = Number(diagnoses[0]!.details.throughput);
      return [
        {
          type: 'report',
          component: diagnoses[0]!.component,
          description:
            `throughput ${Math.round(throughput)}/s is below the goal of ${goal}/s, ` +
            `but the spouts wait for input: the source offers less than the goal and more instances would not help`,
          parameters: { throughput, goal },
          predictedEffect: {},
        },
      ];
    }
    const index = new MeasurementIndex(context.measurements);
    const spouts = spoutsOf(context);
    const emitted = new Map(spouts.map((s) => [s, index.sum(s, METRIC.emitRate)]));
    const total = [...emitted.values()].reduce((a, b) => a + b, 0);
    // Each spout keeps its share of the traffic; with no traffic at all, the goal is split evenly.
    const goals = new Map(spouts.map((s) => [s, total > 0 ? (goal * emitted.get(s)!) / total : goal / spouts.length]));
    const current = new Map(context.topology.components.map((c) => [c.name, c.parallelism]));
    const needed = new Map<string, number>();
    for (const spout of spouts) {
      const instances = index.instances(spout);
      const busy = instances.reduce((acc, i) => acc + index.value(spout, i, METRIC.busyFraction), 0);
      if (busy > 0 && emitted.get(spout)! > 0)
        needed.set(spout, Math.ceil((busy * goals.get(spout)!) / emitted.get(spout)! / this.settings.targetUtilization - 1e-9));
    }
    for (const [bolt, load] of sizeTopology(context.topology, index, this.settings.targetUtilization, goals)) {
      if (load.needed !== undefined) needed.set(bolt, load.needed);
    }
    const changes: Record<string, number> = {};
    for (const [component, n] of needed) {
      const now = current.get(component)!;
      if (n > now) changes[component] = Math.min(n, Math.ceil(now * this.settings.maxScaleFactor), this.settings.maxParallelism);
    }
    if (Object.keys(changes).length === 0) return [];
    const description = Object.entries(changes)
      .map(([component, n]) => `${component} ${current.get(component)} -> ${n}`)
      .join(', ');
    try {
      await this.actuator.scale(changes);
    } catch (error) {
      throw new HealthPolicyError(`scaling ${description} for the throughput goal failed: ${describeError(error)}`, { cause: error });
    }
    return [
      {
        type: 'scale-up',
        component: diagnoses[0]!.component,
        description: `scale up for the throughput goal of ${goal}/s (now ${Math.round(total)}/s): ${description}`,
        parameters: { parallelism: changes, previous: Object.fromEntries(Object.keys(changes).map((c) => [c, current.get(c)])), goal },
        predictedEffect: { throughput: goal, backpressureMsPerSec: 0 },
      },
    ];
  }
}

/** Throughput SLO: spouts below the goal → spouts and bolts sized for it in one update. */
export function throughputSloPolicy(settings: ThroughputSloSettings, sensor: Sensor, actuator: TopologyActuator): HealthPolicy {
  return {
    id: THROUGHPUT_SLO_POLICY_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    sensors: [sensor],
    detectors: [new EmitCountDetector(settings)],
    diagnosers: [new SloViolationDiagnoser(settings)],
    resolvers: [new SloScaleResolver(actuator, settings)],
  };
}
