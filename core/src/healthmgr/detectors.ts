import { type Detector, type Measurement, METRIC, type PolicyContext, type Symptom } from '../spi/health-policy.js';
import { MeasurementIndex } from './measurements.js';
import type { ProvisioningSettings } from './settings.js';
import { sizeTopology } from './sizing.js';

export const SYMPTOM = {
  backpressure: 'backpressure',
  saturation: 'saturation',
  largeQueue: 'large-queue',
  rateSkew: 'rate-skew',
  slowTrueRate: 'slow-true-rate',
  lowUtilization: 'low-utilization',
} as const;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** Components whose instances spent more than the noise level in backpressure over the window. */
export class BackpressureDetector implements Detector {
  readonly name = 'backpressure';
  constructor(private readonly settings: ProvisioningSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const seconds = context.windowMs / 1000;
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const affected = index
        .instances(component)
        .filter((i) => index.value(component, i, METRIC.backpressureMs) / seconds > this.settings.backpressureNoiseMsPerSec);
      const msPerSec = index.sum(component, METRIC.backpressureMs) / seconds;
      if (affected.length > 0) {
        symptoms.push({
          type: SYMPTOM.backpressure,
          component,
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
 * Components that get more than they can process: busy nearly all the time while their input
 * arrives faster than they execute it. With small tuples a queue takes long to fill up to the
 * backpressure watermark; this sees the deficit at once.
 */
export class SaturationDetector implements Detector {
  readonly name = 'saturation';
  constructor(private readonly settings: ProvisioningSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const loads = sizeTopology(context.topology, index, this.settings.targetUtilization);
    const symptoms: Symptom[] = [];
    for (const [component, load] of loads) {
      const instances = index.instances(component);
      if (instances.length === 0) continue;
      const definition = context.topology.components.find((c) => c.name === component);
      const shuffled =
        definition !== undefined && definition.inputs.every((i) => i.grouping.type === 'shuffle' || i.grouping.type === 'none');
      // Behind shuffle grouping every instance gets an equal share, so one saturated instance shows
      // even when its siblings idle; behind other groupings only the component as a whole can be judged.
      const saturated = shuffled
        ? instances.filter((i) => {
            const busy = index.value(component, i, METRIC.busyFraction);
            const share = load.offeredRate / instances.length;
            return busy >= SATURATED_BUSY && share > index.value(component, i, METRIC.executeRate) * (1 + DEFICIT_TOLERANCE);
          })
        : load.busyInstances / instances.length >= SATURATED_BUSY && load.offeredRate > load.observedRate * (1 + DEFICIT_TOLERANCE)
          ? instances
          : [];
      if (saturated.length > 0) {
        symptoms.push({
          type: SYMPTOM.saturation,
          component,
          instances: saturated,
          observedAt: context.now,
          details: {
            offeredRate: round(load.offeredRate),
            executeRate: round(load.observedRate),
            busy: round(load.busyInstances / instances.length),
          },
        });
      }
    }
    return symptoms;
  }
}

/** Busy this much of the time, a component has no spare capacity. */
export const SATURATED_BUSY = 0.9;
/** Input may exceed execution by this much before it counts as a deficit (measurement noise). */
const DEFICIT_TOLERANCE = 0.1;

/** Instances whose queue is above the large-queue threshold. */
export class LargeQueueDetector implements Detector {
  readonly name = 'large-queue';
  constructor(private readonly settings: ProvisioningSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const affected = index
        .instances(component)
        .filter((i) => index.value(component, i, METRIC.pendingBytes) > this.settings.largeQueueBytes);
      if (affected.length > 0) {
        symptoms.push({
          type: SYMPTOM.largeQueue,
          component,
          instances: affected,
          observedAt: context.now,
          details: { bytes: index.sum(component, METRIC.pendingBytes) },
        });
      }
    }
    return symptoms;
  }
}

/**
 * Skew between instances of one component: in the rate of tuples they get (`rate-skew`, data skew
 * when they are all equally fast) and in how fast they process (`slow-true-rate`, a slow instance).
 */
export class ProcessingRateSkewDetector implements Detector {
  readonly name = 'processing-rate-skew';
  constructor(private readonly settings: ProvisioningSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const instances = index.instances(component);
      if (instances.length < 2) continue;
      const rates = instances.map((i) => index.value(component, i, METRIC.executeRate));
      const low = Math.min(...rates);
      const high = Math.max(...rates);
      if (high > 0 && high > this.settings.rateSkewRatio * Math.max(low, 1)) {
        const heavy = instances.filter((_, k) => rates[k]! > this.settings.rateSkewRatio * Math.max(low, 1));
        symptoms.push({
          type: SYMPTOM.rateSkew,
          component,
          instances: heavy,
          observedAt: context.now,
          details: { ratio: round(high / Math.max(low, 1)) },
        });
      }
      const trueRates = instances.map((i) => index.trueRate(component, i));
      const known = trueRates.filter((r): r is number => r !== undefined);
      if (known.length < 2) continue;
      const typical = median(known);
      const slow = instances.filter((_, k) => trueRates[k] !== undefined && trueRates[k]! < this.settings.slowInstanceRatio * typical);
      if (slow.length > 0 && slow.length < instances.length) {
        symptoms.push({
          type: SYMPTOM.slowTrueRate,
          component,
          instances: slow,
          observedAt: context.now,
          details: { medianTrueRate: round(typical) },
        });
      }
    }
    return symptoms;
  }
}

/** Components that are mostly idle: their busy time is well below the utilization target. */
export class LowUtilizationDetector implements Detector {
  readonly name = 'low-utilization';
  constructor(private readonly settings: ProvisioningSettings) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const symptoms: Symptom[] = [];
    for (const component of context.topology.components) {
      if (component.kind !== 'bolt' || component.parallelism < 2) continue;
      const instances = index.instances(component.name);
      if (instances.length === 0) continue;
      const busy = instances.reduce((acc, i) => acc + index.value(component.name, i, METRIC.busyFraction), 0);
      // Would the work fit into one instance fewer at the scale-down utilization?
      if (busy / this.settings.scaleDownUtilization <= component.parallelism - 1) {
        symptoms.push({
          type: SYMPTOM.lowUtilization,
          component: component.name,
          instances,
          observedAt: context.now,
          details: { busyInstances: round(busy) },
        });
      }
    }
    return symptoms;
  }
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
