import { z } from 'zod';
import { ConfigError, describeError, formatSchemaIssue, HealthPolicyError } from '../errors/index.js';
import { round } from '../healthmgr/detectors.js';
import { MeasurementIndex } from '../healthmgr/measurements.js';
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
  type Symptom,
  type TopologyActuator,
} from '../spi/health-policy.js';
import { instancesFor, spoutOfferedRate, StreamRates } from '../healthmgr/sizing.js';
import { topologicalOrder } from '../model/topology.js';
import type { SimulatedPolicyFactory } from './policy-registry.js';

/**
 * Baselines that the built-in policy is measured against (dhalion.md §1.6, §3, §8.1), run through
 * the same harness, sensor and actuator. They are models of other systems, not policies to ship:
 * each keeps the behaviour that defines the anchor, including its known weaknesses.
 */

export const HERON_DHALION_ID = 'heron-dhalion';
export const DS2_ID = 'ds2';

/**
 * The health manager blacklists a diagnosis whose action did not help until the offered load
 * changes. Neither Heron OSS nor DS2 has such a blacklist (dhalion.md §1.3, §3.3): Heron keeps
 * scaling a component whose ×5-capped step was not enough. Naming each diagnosis after the number
 * of actions taken so far gives every post-action round a fresh key, so the harness's blacklist
 * never applies to these baselines, while the verdicts stay in the action log.
 */
export function epochType(type: string, epoch: number): string {
  return `${type}@${epoch}`;
}

/** Bookkeeping one baseline instance shares between its stages: actions so far, and when the last one was taken. */
export class ActionClock {
  actions = 0;
  lastActionAt: number | undefined;
  /** Rounds seen since the last action (DS2's warm-up counts epochs, not milliseconds). */
  roundsSinceAction = 0;

  acted(now: number): void {
    this.actions++;
    this.lastActionAt = now;
    this.roundsSinceAction = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Heron's shipped Dhalion (DynamicResourceAllocationPolicy with its defaults)
// ---------------------------------------------------------------------------------------------

export const HeronDhalionSettingsSchema = z
  .object({
    /** `health.policy.interval.ms`. */
    intervalMs: z.number().int().min(100).default(60_000),
    /** `BaseSensor.DEFAULT_METRIC_DURATION`. */
    windowMs: z.number().int().min(100).default(300_000),
    /** `conf_post_action_wait_interval_min`, which Heron reads as milliseconds. */
    postActionWaitMs: z.number().int().min(0).default(180_000),
    /** `BackPressureDetector.noiseFilterMillis`: Σ of the component's instances, ms per second. */
    noiseFilterMsPerSec: z.number().min(0).default(20),
    /** `ScaleUpResolver` fencing: the unused-capacity ratio is capped at 4, i.e. ×5 per round. */
    maxUnusedRatio: z.number().min(0).default(4),
  })
  .strict();
export type HeronDhalionSettings = z.output<typeof HeronDhalionSettingsSchema>;

const HERON_SYMPTOM = 'backpressure';
const HERON_DIAGNOSIS = 'under-provisioned';

/**
 * Heron's BackPressureDetector: a bolt is a symptom when the backpressure time of its instances,
 * summed and averaged over the window, exceeds the noise filter. Heron's executor does not run the
 * policy during the post-action wait, so nothing is detected then either. The wait counts from the
 * round that acted: a policy has no clock of its own, and Heron's starts after the update, which
 * makes this baseline at most one reconfiguration pause quicker than Heron.
 */
export class HeronBackpressureDetector implements Detector {
  readonly name = 'heron-backpressure';

  constructor(
    private readonly settings: HeronDhalionSettings,
    private readonly clock: ActionClock,
  ) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    if (this.clock.lastActionAt !== undefined && context.now - this.clock.lastActionAt < this.settings.postActionWaitMs) return [];
    const index = new MeasurementIndex(measurements);
    const seconds = context.windowMs / 1000;
    const symptoms: Symptom[] = [];
    for (const component of context.topology.components) {
      if (component.kind !== 'bolt') continue;
      const instances = index.instances(component.name);
      const msPerSec = index.sum(component.name, METRIC.backpressureMs) / seconds;
      if (msPerSec > this.settings.noiseFilterMsPerSec) {
        const affected = instances.filter((i) => index.value(component.name, i, METRIC.backpressureMs) > 0);
        symptoms.push({
          type: HERON_SYMPTOM,
          component: component.name,
          instances: affected,
          observedAt: context.now,
          details: { msPerSec: round(msPerSec) },
        });
      }
    }
    return symptoms;
  }
}

/**
 * The shipped policy's only acted-on diagnosis: backpressure means under-provisioning. Heron's
 * slow-instance and skew diagnoses have no resolver, so they are left out rather than modelled as
 * reports.
 */
export class HeronUnderProvisioningDiagnoser implements Diagnoser {
  readonly name = 'heron-under-provisioning';

  constructor(private readonly clock: ActionClock) {}

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    return symptoms
      .filter((s) => s.type === HERON_SYMPTOM)
      .map((s) => ({
        type: epochType(HERON_DIAGNOSIS, this.clock.actions),
        component: s.component,
        instances: s.instances,
        symptoms: [s],
        details: s.details,
      }));
  }
}

/** Heron's `ScaleUpResolver.computeScaleUpFactor`: new = ceil(n · (1 + min(cap, bp / (1000 − bp)))). */
export function heronScaleUp(instances: number, backpressureMsPerSec: number, maxUnusedRatio = 4): number {
  // Heron clamps at 999 because its sensor can report a full second (Heron issue 1753).
  const bp = Math.min(999, Math.max(0, backpressureMsPerSec));
  const unused = Math.min(maxUnusedRatio, bp / (1000 - bp));
  return Math.ceil(instances * (1 + unused) - 1e-9);
}

/**
 * Scales ONE component per round, the one holding the topology in backpressure the most (ties to
 * the upstream-most, as the backpressure originates there); never scales down.
 */
export class HeronScaleUpResolver implements Resolver {
  readonly name = 'heron-scale-up';
  /** Filled in by {@link handlesEpochs}: the diagnosis type carries the action epoch. */
  readonly handles: readonly string[] = [];

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly settings: HeronDhalionSettings,
    private readonly clock: ActionClock,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const order = topologicalOrder(context.topology).map((c) => c.name);
    const ranked = [...diagnoses].sort(
      (a, b) => Number(b.details.msPerSec) - Number(a.details.msPerSec) || order.indexOf(a.component) - order.indexOf(b.component),
    );
    const worst = ranked[0];
    if (!worst) return [];
    const before = context.topology.components.find((c) => c.name === worst.component)!.parallelism;
    const after = heronScaleUp(before, Number(worst.details.msPerSec), this.settings.maxUnusedRatio);
    if (after <= before) return [];
    const description = `${worst.component} ${before} -> ${after} (backpressure ${worst.details.msPerSec} ms/s)`;
    try {
      await this.actuator.scale({ [worst.component]: after });
    } catch (error) {
      throw new HealthPolicyError(`scaling ${description} failed: ${describeError(error)}`, { cause: error });
    }
    this.clock.acted(context.now);
    return [
      {
        type: 'scale-up',
        component: worst.component,
        description: `scale up: ${description}`,
        parameters: { parallelism: { [worst.component]: after }, previous: { [worst.component]: before } },
        predictedEffect: { backpressureMsPerSec: 0 },
      },
    ];
  }
}

export function heronDhalionPolicy(
  settings: HeronDhalionSettings,
  actuator: TopologyActuator,
  sensor: HealthPolicy['sensors'][number],
): HealthPolicy {
  const clock = new ActionClock();
  const resolver = new HeronScaleUpResolver(actuator, settings, clock);
  return {
    id: HERON_DHALION_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    sensors: [sensor],
    detectors: [new HeronBackpressureDetector(settings, clock)],
    diagnosers: [new HeronUnderProvisioningDiagnoser(clock)],
    resolvers: [handlesEpochs(resolver, HERON_DIAGNOSIS, clock)],
  };
}

// ---------------------------------------------------------------------------------------------
// DS2
// ---------------------------------------------------------------------------------------------

/** Utilization the DS2 baseline sizes for by default: the Flink autoscaler's `utilization.target`. */
export const DS2_TARGET_UTILIZATION = 0.7;

export const Ds2SettingsSchema = z
  .object({
    /** `policy_interval` (10 s in the DS2 configs) and the window each decision reads. */
    intervalMs: z.number().int().min(100).default(10_000),
    windowMs: z.number().int().min(100).default(10_000),
    /** `warm_up_time`: decisions ignored after a reconfiguration. */
    warmUpRounds: z.number().int().min(0).default(2),
    /**
     * `scaling_factor`: deliberate over-provisioning, sizing for utilization 1/(1+f). DS2 ships the
     * knob at 0, but sized for utilization 1 an operator never has the spare capacity to work off
     * the backlog a step leaves (and the spouts catch up at up to `catchUp` × λ0), so it converged
     * in 0–40 % of step-up seeds — a failure its users avoid with this knob. The default is the
     * headroom of DS2's production descendant, the Flink operator's autoscaler: utilization 0.7
     * (dhalion.md §3.3, §4.2). 0 gives DS2 as shipped.
     */
    scalingFactor: z
      .number()
      .min(0)
      .default(1 / DS2_TARGET_UTILIZATION - 1),
    /** A component is resized only when its unrounded need leaves [p−1, p] by more than this fraction. */
    deadBand: z.number().min(0).max(1).default(0.1),
    maxParallelism: z.number().int().min(1).default(64),
  })
  .strict();
export type Ds2Settings = z.output<typeof Ds2SettingsSchema>;

const DS2_SYMPTOM = 'mis-sized';
const SOURCE_UNOBSERVABLE_PAUSED = 0.95;
const DS2_UP = 'under-provisioned';
const DS2_DOWN = 'over-provisioned';

interface Ds2Size {
  readonly current: number;
  /** π̂: unrounded instances needed at utilization 1/(1+factor). */
  readonly exact: number;
  readonly target: number;
  readonly inputRate: number;
}

/**
 * DS2's model over one window, operators in topological order: sources at the rate data arrives
 * (emitted plus backlog growth when the spouts report a backlog — DS2 proper is given the external
 * source rate — else emitted ÷ unpaused time, which counts spouts working off a lag as load), each
 * bolt's input the estimated true output of its upstream operators on the streams it reads (times
 * its parallelism behind all grouping), π_i = ceil((1+f)·λ_i / (λp_i/p_i)) from the true
 * processing rate (executed ÷ useful time), and its estimated output λ_i · selectivity downstream.
 */
export function ds2Sizes(context: PolicyContext, settings: Ds2Settings): Map<string, Ds2Size> {
  const index = new MeasurementIndex(context.measurements);
  const rates = new StreamRates(index);
  const sizes = new Map<string, Ds2Size>();
  for (const component of topologicalOrder(context.topology)) {
    const emitted = index.sum(component.name, METRIC.emitRate);
    const executed = index.sum(component.name, METRIC.executeRate);
    if (component.kind === 'spout') {
      const paused = index.componentValue(component.name, METRIC.pausedFraction) ?? 0;
      // Sources stopped for (nearly) the whole window, as right after a reconfiguration, show no
      // source rate at all — unless they report their backlog; sizing from that would scale
      // everything to 1, so DS2 decides nothing.
      if (paused >= SOURCE_UNOBSERVABLE_PAUSED && !index.measured(component.name, METRIC.backlogGrowth)) return new Map();
      rates.publish(component, spoutOfferedRate(index, component.name));
      continue;
    }
    const input = rates.inputOf(component);
    const inputRate = input.offered;
    rates.publish(component, executed > 0 ? (inputRate * emitted) / executed : 0);
    const known = index
      .instances(component.name)
      .map((i) => index.trueRate(component.name, i))
      .filter((r): r is number => r !== undefined);
    // An operator idle in the whole window has no true rate: DS2 cannot size it, and it needs nothing.
    if (known.length === 0) continue;
    const perInstance = known.reduce((a, b) => a + b, 0) / known.length;
    // Load every instance gets in full (all grouping) does not shrink with more instances; when it
    // alone fills one, DS2 keeps the parallelism.
    const exact = instancesFor(input, perInstance / (1 + settings.scalingFactor)) ?? component.parallelism;
    const target = Math.min(settings.maxParallelism, Math.max(1, Math.ceil(exact - 1e-9)));
    sizes.set(component.name, { current: component.parallelism, exact, target, inputRate });
  }
  return sizes;
}

/**
 * Every operator whose DS2 size differs from its parallelism beyond the dead band is a symptom;
 * DS2 has no other detector. Rounds inside the warm-up after a reconfiguration see nothing.
 */
export class Ds2Detector implements Detector {
  readonly name = 'ds2-model';

  constructor(
    private readonly settings: Ds2Settings,
    private readonly clock: ActionClock,
  ) {}

  async detect(_measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    this.clock.roundsSinceAction++;
    if (this.clock.actions > 0 && this.clock.roundsSinceAction <= this.settings.warmUpRounds) return [];
    const symptoms: Symptom[] = [];
    const band = this.settings.deadBand;
    for (const [component, size] of ds2Sizes(context, this.settings)) {
      if (size.target === size.current) continue;
      const outside = size.target > size.current ? size.exact > size.current * (1 + band) : size.exact < (size.current - 1) * (1 - band);
      if (!outside) continue;
      symptoms.push({
        type: DS2_SYMPTOM,
        component,
        instances: [],
        observedAt: context.now,
        details: { current: size.current, target: size.target, exact: round(size.exact), inputRate: round(size.inputRate) },
      });
    }
    return symptoms;
  }
}

export class Ds2Diagnoser implements Diagnoser {
  readonly name = 'ds2';

  constructor(private readonly clock: ActionClock) {}

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    return symptoms
      .filter((s) => s.type === DS2_SYMPTOM)
      .map((s) => ({
        type: epochType(Number(s.details.target) > Number(s.details.current) ? DS2_UP : DS2_DOWN, this.clock.actions),
        component: s.component,
        instances: [],
        symptoms: [s],
        details: s.details,
      }));
  }
}

/** Resizes every mis-sized operator, up and down, in one reconfiguration. */
export class Ds2Resolver implements Resolver {
  readonly name = 'ds2-resize';
  /** Filled in by {@link handlesEpochs}: the diagnosis type carries the action epoch. */
  readonly handles: readonly string[] = [];

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly clock: ActionClock,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const rescale = await rescaleToTargets(
      this.actuator,
      diagnoses,
      'resize',
      (details) => `input ${Math.round(Number(details.inputRate))}/s`,
    );
    if (!rescale) return [];
    this.clock.acted(context.now);
    return [rescale.action];
  }
}

/**
 * Moves every diagnosed component from its `current` parallelism to its `target` in one
 * reconfiguration, as DS2 and the Flink autoscaler both decide; `why` says, per component, what the
 * size came from. Undefined when there is nothing to change.
 */
export async function rescaleToTargets(
  actuator: TopologyActuator,
  diagnoses: readonly Diagnosis[],
  verb: string,
  why: (details: Diagnosis['details']) => string,
): Promise<{ changes: Record<string, number>; previous: Record<string, number>; action: Action } | undefined> {
  const changes: Record<string, number> = {};
  const previous: Record<string, number> = {};
  for (const d of diagnoses) {
    changes[d.component] = Number(d.details.target);
    previous[d.component] = Number(d.details.current);
  }
  const names = Object.keys(changes);
  if (names.length === 0) return undefined;
  const description = names
    .map((c) => `${c} ${previous[c]} -> ${changes[c]} (${why(diagnoses.find((d) => d.component === c)!.details)})`)
    .join(', ');
  try {
    await actuator.scale(changes);
  } catch (error) {
    throw new HealthPolicyError(`${verb} of ${description} failed: ${describeError(error)}`, { cause: error });
  }
  const up = names.some((c) => changes[c]! > previous[c]!);
  return {
    changes,
    previous,
    action: {
      type: up ? 'scale-up' : 'scale-down',
      description: `${verb}: ${description}`,
      parameters: { parallelism: changes, previous },
      predictedEffect: { backpressureMsPerSec: 0 },
    },
  };
}

export function ds2Policy(settings: Ds2Settings, actuator: TopologyActuator, sensor: HealthPolicy['sensors'][number]): HealthPolicy {
  const clock = new ActionClock();
  return {
    id: DS2_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    sensors: [sensor],
    detectors: [new Ds2Detector(settings, clock)],
    diagnosers: [new Ds2Diagnoser(clock)],
    resolvers: [handlesEpochs(new Ds2Resolver(actuator, clock), [DS2_UP, DS2_DOWN], clock)],
  };
}

/**
 * The health manager hands a resolver the diagnoses whose type is in `handles`; with epoch-named
 * types that set changes after every action, so it is computed when asked.
 */
export function handlesEpochs(resolver: Resolver, base: string | readonly string[], clock: ActionClock): Resolver {
  const bases = typeof base === 'string' ? [base] : base;
  return {
    name: resolver.name,
    get handles() {
      return bases.map((b) => epochType(b, clock.actions));
    },
    resolve: (diagnoses, context) => resolver.resolve(diagnoses, context),
  };
}

// ---------------------------------------------------------------------------------------------
// Registry entries
// ---------------------------------------------------------------------------------------------

export function parseSettings<T extends z.ZodTypeAny>(schema: T, settings: Readonly<Record<string, unknown>>): z.output<T> {
  const parsed = schema.safeParse(settings);
  if (!parsed.success) throw new ConfigError(`policy.settings: ${formatSchemaIssue(parsed.error)}`);
  return parsed.data as z.output<T>;
}

export const heronDhalionFactory: SimulatedPolicyFactory = {
  id: HERON_DHALION_ID,
  description:
    "baseline: Heron's shipped Dhalion (60 s interval, 300 s window, 180 s post-action wait, 20 ms/s noise filter, one " +
    'component per round capped at ×5, no scale-down)',
  create({ sensor, actuator, settings }) {
    const parsed = parseSettings(HeronDhalionSettingsSchema, settings);
    return { policy: heronDhalionPolicy(parsed, actuator, sensor), noiseMsPerSec: parsed.noiseFilterMsPerSec };
  },
};

export const ds2Factory: SimulatedPolicyFactory = {
  id: DS2_ID,
  description:
    "baseline: DS2 (true rates, every operator sized in one step at utilization 0.7 — the Flink port's headroom, " +
    '`scalingFactor: 0` for utilization 1 —, 10 s interval, warm-up 2, dead band 10 %, scales up and down)',
  create({ sensor, actuator, settings }) {
    const parsed = parseSettings(Ds2SettingsSchema, settings);
    return { policy: ds2Policy(parsed, actuator, sensor), noiseMsPerSec: 20, targetUtilization: 1 / (1 + parsed.scalingFactor) };
  },
};
