import { z } from 'zod';
import {
  HealthPolicyError,
  MeasurementIndex,
  METRIC,
  describeError,
  sizeTopology,
  type Action,
  type Detector,
  type Diagnoser,
  type Diagnosis,
  type HealthPolicy,
  type Measurement,
  type PolicyContext,
  type Resolver,
  type Sensor,
  type Symptom,
  type TopologyActuator,
} from '@ardea/core/plugin';

/** The policy's id: its settings live under `healthmgr.policies.queue-budget`. */
export const QUEUE_BUDGET_POLICY_ID = 'queue-budget';

export const QueueBudgetSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    intervalMs: z.number().int().min(100).default(10_000),
    windowMs: z.number().int().min(100).default(20_000),
    /** No instance of a watched bolt may hold more than this many bytes queued. */
    maxQueueBytes: z
      .number()
      .int()
      .min(1)
      .default(256 * 1024),
    /** Rounds a bolt must stay over budget before it gets more instances. */
    holdRounds: z.number().int().min(1).default(2),
    /** Instances added per action: small steps, since a queue says how late, not how short. */
    step: z.number().int().min(1).default(1),
    maxParallelism: z.number().int().min(1).default(16),
    /** Bolts to watch; every bolt when left out. */
    components: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type QueueBudgetSettings = z.output<typeof QueueBudgetSettingsSchema>;

const OVER_BUDGET = 'queue-over-budget';
const BUDGET_EXCEEDED = 'queue-budget-exceeded';

/** Bolts with an instance whose queue holds more than the budget. */
export class QueueBudgetDetector implements Detector {
  readonly name = 'queue-budget';
  constructor(private readonly settings: QueueBudgetSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const watched = context.topology.components.filter((c) => c.kind === 'bolt' && (this.settings.components?.includes(c.name) ?? true));
    const symptoms: Symptom[] = [];
    for (const bolt of watched) {
      const over = index.instances(bolt.name).filter((i) => index.value(bolt.name, i, METRIC.pendingBytes) > this.settings.maxQueueBytes);
      if (over.length === 0) continue;
      const largest = Math.max(...over.map((i) => index.value(bolt.name, i, METRIC.pendingBytes)));
      symptoms.push({
        type: OVER_BUDGET,
        component: bolt.name,
        instances: over,
        observedAt: context.now,
        details: { largestQueueBytes: largest, budgetBytes: this.settings.maxQueueBytes },
      });
    }
    return symptoms;
  }
}

/** Over budget on most of a bolt's instances means the bolt as a whole is late, not one instance. */
export class QueueBudgetDiagnoser implements Diagnoser {
  readonly name = 'queue-budget';

  async diagnose(symptoms: readonly Symptom[], context: PolicyContext): Promise<Diagnosis[]> {
    return symptoms
      .filter((s) => s.type === OVER_BUDGET)
      .filter((s) => {
        const parallelism = context.topology.components.find((c) => c.name === s.component)?.parallelism ?? 1;
        return s.instances.length * 2 >= parallelism;
      })
      .map((s) => ({ type: BUDGET_EXCEEDED, component: s.component, instances: s.instances, symptoms: [s], details: s.details }));
  }
}

/** Adds `step` instances to every bolt over budget, in one update. */
export class QueueBudgetResolver implements Resolver {
  readonly name = 'queue-budget';
  readonly handles = [BUDGET_EXCEEDED];

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly settings: QueueBudgetSettings,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const current = new Map(context.topology.components.map((c) => [c.name, c.parallelism]));
    const index = new MeasurementIndex(context.measurements);
    // What each bolt would get if nothing held the spouts back: more instances cannot execute more.
    const loads = sizeTopology(context.topology, index, 1);
    const steps = diagnoses
      .map((d) => ({
        component: d.component,
        from: current.get(d.component)!,
        to: Math.min(current.get(d.component)! + this.settings.step, this.settings.maxParallelism),
      }))
      .filter((s) => s.to > s.from);
    if (steps.length === 0) return [];
    const description = steps.map((s) => `${s.component} ${s.from} -> ${s.to}`).join(', ');
    try {
      // One update for every bolt over budget: each update pauses the topology briefly.
      await this.actuator.scale(Object.fromEntries(steps.map((s) => [s.component, s.to])));
    } catch (error) {
      throw new HealthPolicyError(`adding instances for the queue budget (${description}) failed: ${describeError(error)}`, {
        cause: error,
      });
    }
    return steps.map((s) => {
      const executed = index.sum(s.component, METRIC.executeRate);
      const offered = loads.get(s.component)?.offeredRate ?? Infinity;
      return {
        type: 'scale-up',
        component: s.component,
        description: `queues of ${s.component} over ${this.settings.maxQueueBytes} bytes: ${s.component} ${s.from} -> ${s.to}`,
        parameters: { parallelism: { [s.component]: s.to }, previous: { [s.component]: s.from } },
        // A step is judged by what it promises: more tuples executed. Predicting the end state (no
        // queue, no backpressure) would judge every step but the last as useless, and the manager
        // would blacklist the policy half-way. It promises half the proportional gain (up to the load
        // there is), and the manager wants half of that to show: the window that judges a step still
        // holds the backlog the old instances drain.
        predictedEffect: { executeRate: Math.round(Math.min(executed * (1 + (s.to - s.from) / (2 * s.from)), offered)) },
      };
    });
  }
}

/** The whole policy, on any sensor: the metrics cache in container 0, or the simulator's model. */
export function queueBudgetPolicy(settings: QueueBudgetSettings, sensor: Sensor, actuator: TopologyActuator): HealthPolicy {
  return {
    id: QUEUE_BUDGET_POLICY_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    holdRounds: { [BUDGET_EXCEEDED]: settings.holdRounds },
    sensors: [sensor],
    detectors: [new QueueBudgetDetector(settings)],
    diagnosers: [new QueueBudgetDiagnoser()],
    resolvers: [new QueueBudgetResolver(actuator, settings)],
  };
}
