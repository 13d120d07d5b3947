import { HealthPolicyError, describeError } from '../errors/index.js';
import type { Action, Diagnosis, PolicyContext, Resolver, TopologyActuator } from '../spi/health-policy.js';
import { DIAGNOSIS } from './diagnosers.js';
import { MeasurementIndex } from './measurements.js';
import type { ProvisioningSettings } from './settings.js';
import { SHUFFLE_WEIGHTS_KEY } from '../model/topology.js';
import { sizeTopology } from './sizing.js';

/**
 * Scales under-provisioned components up to what their offered load needs, and every other bolt of
 * the DAG that the new load would overwhelm, in one update; scales over-provisioned components down
 * to what their load needs at the (lower) scale-down utilization, so the scale-down cannot cause
 * backpressure. Predicts the effect so the action log can judge it.
 */
export class ScaleResolver implements Resolver {
  readonly name = 'scale';
  readonly handles = [DIAGNOSIS.underProvisioned, DIAGNOSIS.overProvisioned];

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly settings: ProvisioningSettings,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const index = new MeasurementIndex(context.measurements);
    const current = new Map(context.topology.components.map((c) => [c.name, c.parallelism]));
    const up = diagnoses.some((d) => d.type === DIAGNOSIS.underProvisioned);
    const loads = sizeTopology(context.topology, index, up ? this.settings.targetUtilization : this.settings.scaleDownUtilization);
    const changes: Record<string, number> = {};
    for (const [component, load] of loads) {
      const now = current.get(component)!;
      if (load.needed === undefined) continue;
      if (up && load.needed > now) {
        changes[component] = Math.min(load.needed, Math.ceil(now * this.settings.maxScaleFactor), this.settings.maxParallelism);
      } else if (!up && load.needed < now && diagnoses.some((d) => d.component === component)) {
        changes[component] = load.needed;
      }
    }
    if (Object.keys(changes).length === 0) return [];
    const description = Object.entries(changes)
      .map(
        ([component, n]) => `${component} ${current.get(component)} -> ${n} (offered ${Math.round(loads.get(component)!.offeredRate)}/s)`,
      )
      .join(', ');
    try {
      await this.actuator.scale(changes);
    } catch (error) {
      throw new HealthPolicyError(`scaling ${description} failed: ${describeError(error)}`, { cause: error });
    }
    // A scale-up is judged by the rate the first diagnosed component it grows should reach: its
    // offered load, or what its new instances manage at their measured true rate if that is less.
    const judgedOn = up ? diagnoses.map((d) => d.component).find((c) => c in changes) : undefined;
    const load = judgedOn ? loads.get(judgedOn) : undefined;
    const capacity = load && load.busyInstances > 0 ? (load.observedRate / load.busyInstances) * changes[judgedOn!]! : undefined;
    const predictedRate = load ? Math.round(Math.min(load.offeredRate, capacity ?? Infinity)) : undefined;
    return [
      {
        type: up ? 'scale-up' : 'scale-down',
        ...(judgedOn ? { component: judgedOn } : {}),
        description: `${up ? 'scale up' : 'scale down'}: ${description}`,
        parameters: { parallelism: changes, previous: Object.fromEntries(Object.keys(changes).map((c) => [c, current.get(c)])) },
        predictedEffect: { backpressureMsPerSec: 0, ...(predictedRate !== undefined ? { executeRate: predictedRate } : {}) },
      },
    ];
  }
}

/**
 * A slow instance behind shuffle grouping gets a share of the traffic proportional to its true
 * rate (its upstream components weight their shuffle) — when the component's remaining capacity
 * takes the offered load at the target utilization. Otherwise routing around it cannot help, and,
 * as behind any other grouping, its container is restarted (a slow process or host usually is not
 * slow after a restart). Either way, no instance is added.
 */
export class SlowInstanceResolver implements Resolver {
  readonly name = 'slow-instance';
  readonly handles = [DIAGNOSIS.slowInstance];
  /** Routing around that did not help is followed by a restart; a restart that did not help, by nothing. */
  readonly escalates = true;

  constructor(
    private readonly actuator: TopologyActuator,
    private readonly settings: Pick<ProvisioningSettings, 'targetUtilization'>,
  ) {}

  async resolve(diagnoses: readonly Diagnosis[], context: PolicyContext): Promise<Action[]> {
    const index = new MeasurementIndex(context.measurements);
    const loads = sizeTopology(context.topology, index, this.settings.targetUtilization);
    const actions: Action[] = [];
    for (const diagnosis of diagnoses) {
      const component = context.topology.components.find((c) => c.name === diagnosis.component);
      if (!component) continue;
      const shuffled =
        component.inputs.length > 0 && component.inputs.every((i) => i.grouping.type === 'shuffle' || i.grouping.type === 'none');
      const trueRates = index.instances(component.name).map((instance) => [instance, index.trueRate(component.name, instance)] as const);
      const known = trueRates.flatMap(([, r]) => (r === undefined ? [] : [r])).sort((a, b) => a - b);
      const typical = known[Math.floor(known.length / 2)] ?? 0;
      // Instances too idle to measure are counted at the typical rate: they are not the slow ones.
      const capacity = trueRates.reduce((acc, [, r]) => acc + (r ?? typical), 0);
      const offered = loads.get(component.name)?.offeredRate ?? 0;
      const tried = context.ineffective?.(diagnosis) ?? [];
      if (tried.includes('restart')) continue;
      if (shuffled && offered <= capacity * this.settings.targetUtilization && !tried.includes('route-around')) {
        const fastest = Math.max(...known, 1);
        const weights = Object.fromEntries(
          trueRates.map(([instance, rate]) => [taskOf(instance), Math.max(0.05, Math.round(((rate ?? typical) / fastest) * 100) / 100)]),
        );
        const upstream = [...new Set(component.inputs.map((i) => i.component))];
        await this.actuator.setRuntimeConfig(upstream.map((name) => ({ component: name, key: SHUFFLE_WEIGHTS_KEY, value: weights })));
        actions.push({
          type: 'route-around',
          component: component.name,
          description:
            `slow instance(s) ${diagnosis.instances.join(', ')} of ${component.name}: ` +
            `weight shuffle traffic by true rate (${JSON.stringify(weights)})`,
          parameters: { weights, upstream },
          predictedEffect: { backpressureMsPerSec: 0 },
        });
      } else {
        const containers = [...new Set(diagnosis.instances.map(containerOf))];
        for (const containerId of containers) await this.actuator.restartContainer(containerId);
        const why = tried.includes('route-around')
          ? ' (routing around it did not help)'
          : shuffled
            ? ` (the others cannot take the ${Math.round(offered)}/s offered: ${Math.round(capacity)}/s at full speed)`
            : '';
        actions.push({
          type: 'restart',
          component: component.name,
          description:
            `slow instance(s) ${diagnosis.instances.join(', ')} of ${component.name}: ` +
            `restart container(s) ${containers.join(', ')}${why}`,
          parameters: { containers },
          predictedEffect: { backpressureMsPerSec: 0 },
        });
      }
    }
    return actions;
  }
}

/** Data skew is reported as such: more instances would not help the one hot key. */
export class DataSkewResolver implements Resolver {
  readonly name = 'data-skew';
  readonly handles = [DIAGNOSIS.dataSkew];

  async resolve(diagnoses: readonly Diagnosis[]): Promise<Action[]> {
    return diagnoses.map((d) => ({
      type: 'report',
      component: d.component,
      description:
        `data skew on ${d.component}: instance(s) ${d.instances.join(', ')} get ${d.details.ratio}x ` +
        `the tuples of their siblings; scaling up would not help, repartition the hot keys`,
      parameters: {},
      predictedEffect: {},
    }));
  }
}

/** `container_<c>_<component>_<task>` → task id. */
export function taskOf(instance: string): number {
  return Number(instance.slice(instance.lastIndexOf('_') + 1));
}

export function containerOf(instance: string): number {
  return Number(instance.split('_')[1]);
}
