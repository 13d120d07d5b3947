import type { Diagnoser, Diagnosis, PolicyContext, Symptom } from '../spi/health-policy.js';
import { SYMPTOM } from './detectors.js';
import { isFailing } from './error-rate.js';
import { isStalled, MeasurementIndex } from './measurements.js';
import { sizeTopology } from './sizing.js';

export const DIAGNOSIS = {
  underProvisioned: 'under-provisioned',
  slowInstance: 'slow-instance',
  dataSkew: 'data-skew',
  overProvisioned: 'over-provisioned',
} as const;

const of = (symptoms: readonly Symptom[], type: string, component: string) =>
  symptoms.find((s) => s.type === type && s.component === component);

/**
 * Components under backpressure or saturated: whose instances are the problem? A large queue alone
 * is not congestion: after a scale-up the old instances drain their backlog while already keeping up.
 */
function congested(symptoms: readonly Symptom[]): Map<string, Symptom[]> {
  const byComponent = new Map<string, Symptom[]>();
  for (const symptom of symptoms) {
    if (symptom.type !== SYMPTOM.backpressure && symptom.type !== SYMPTOM.saturation) continue;
    byComponent.set(symptom.component, [...(byComponent.get(symptom.component) ?? []), symptom]);
  }
  return byComponent;
}

/** Congestion confined to instances that process much slower than their siblings. */
export class SlowInstanceDiagnoser implements Diagnoser {
  readonly name = 'slow-instance';

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    const diagnoses: Diagnosis[] = [];
    for (const [component, found] of congested(symptoms)) {
      const slow = of(symptoms, SYMPTOM.slowTrueRate, component);
      if (!slow) continue;
      const congestedInstances = new Set(found.flatMap((s) => s.instances));
      if ([...congestedInstances].every((i) => slow.instances.includes(i))) {
        diagnoses.push({
          type: DIAGNOSIS.slowInstance,
          component,
          instances: slow.instances,
          symptoms: [...found, slow],
          details: slow.details,
        });
      }
    }
    return diagnoses;
  }
}

/** Congestion on instances that get far more tuples than their siblings while processing as fast. */
export class DataSkewDiagnoser implements Diagnoser {
  readonly name = 'data-skew';

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    const diagnoses: Diagnosis[] = [];
    for (const [component, found] of congested(symptoms)) {
      const skew = of(symptoms, SYMPTOM.rateSkew, component);
      if (!skew || of(symptoms, SYMPTOM.slowTrueRate, component)) continue;
      const congestedInstances = new Set(found.flatMap((s) => s.instances));
      if ([...congestedInstances].every((i) => skew.instances.includes(i))) {
        diagnoses.push({
          type: DIAGNOSIS.dataSkew,
          component,
          instances: skew.instances,
          symptoms: [...found, skew],
          details: skew.details,
        });
      }
    }
    return diagnoses;
  }
}

/** Utilization that counts as full speed: a little below 1, for the rounding of measured busy time. */
const FULL_SPEED = 0.95;

/**
 * Congestion that no slow instance or skew explains: the component needs more instances. Not when
 * its instances, at (nearly) full speed, already take the load arriving (DS2's p*(1)): then the
 * congestion is a burst — spouts working off a backlog after a pause — that passes by itself.
 */
export class UnderProvisioningDiagnoser implements Diagnoser {
  readonly name = 'under-provisioning';

  constructor(private readonly explained: readonly Diagnoser[]) {}

  async diagnose(symptoms: readonly Symptom[], context: PolicyContext): Promise<Diagnosis[]> {
    const other = (await Promise.all(this.explained.map((d) => d.diagnose(symptoms, context)))).flat();
    const index = new MeasurementIndex(context.measurements);
    const loads = sizeTopology(context.topology, index, FULL_SPEED);
    const diagnoses: Diagnosis[] = [];
    for (const [component, found] of congested(symptoms)) {
      if (other.some((d) => d.component === component)) continue;
      // Congestion only on hung instances is not a lack of capacity: more instances would not
      // unblock them (the auto-restart policy restarts their containers).
      const instances = [...new Set(found.flatMap((s) => s.instances))];
      if (instances.every((i) => isStalled(index, component, i, context.windowMs / 1000, 0))) continue;
      // Nor is congestion on a component that fails its tuples: more instances would fail the same
      // way (the auto-restart policy reports it with its exception).
      if (failing(index, component, context)) continue;
      const needed = loads.get(component)?.needed;
      const parallelism = context.topology.components.find((c) => c.name === component)?.parallelism ?? 0;
      if (needed !== undefined && needed <= parallelism) continue;
      diagnoses.push({ type: DIAGNOSIS.underProvisioned, component, instances, symptoms: found, details: found[0]!.details });
    }
    return diagnoses;
  }
}

/**
 * Whether some instance of the component fails more than the default error rate of its tuples: its
 * load and busy time say nothing about the capacity it needs (a tuple that throws early is cheap).
 */
function failing(index: MeasurementIndex, component: string, context: PolicyContext): boolean {
  const spout = context.topology.components.find((c) => c.name === component)?.kind === 'spout';
  return index.instances(component).some((i) => isFailing(index, component, i, spout));
}

/** Idle components while nothing anywhere is congested; not one whose instances fail their tuples. */
export class OverProvisioningDiagnoser implements Diagnoser {
  readonly name = 'over-provisioning';

  async diagnose(symptoms: readonly Symptom[], context?: PolicyContext): Promise<Diagnosis[]> {
    if (congested(symptoms).size > 0) return [];
    const index = context ? new MeasurementIndex(context.measurements) : undefined;
    return symptoms
      .filter((s) => s.type === SYMPTOM.lowUtilization && !(index && context && failing(index, s.component, context)))
      .map((s) => ({ type: DIAGNOSIS.overProvisioned, component: s.component, instances: s.instances, symptoms: [s], details: s.details }));
  }
}
