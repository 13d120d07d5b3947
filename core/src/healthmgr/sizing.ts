import { topologicalOrder, type TopologyDefinition } from '../model/topology.js';
import { MeasurementIndex, METRIC } from './measurements.js';

export interface ComponentLoad {
  /** Tuples per second the component would receive if nothing held the spouts back. */
  readonly offeredRate: number;
  /** Tuples per second it received in the window. */
  readonly observedRate: number;
  /** Instances' worth of busy time it used in the window. */
  readonly busyInstances: number;
  /** Instances needed to take the offered rate at the given utilization; undefined if unknown. */
  readonly needed: number | undefined;
}

/** Spouts paused nearly all the time say little about what they would emit; cap the correction. */
const MAX_PAUSED_FRACTION = 0.95;

/**
 * DS2-style sizing of a whole DAG from one window: the rate each spout would emit unthrottled (its
 * emit rate divided by the time it was not paused), propagated downstream through each component's
 * measured selectivity; each bolt then needs the busy time it used, scaled from the rate it got to
 * the rate it would get, divided by the target utilization. Every bottleneck is sized in the same
 * round, not one per round.
 */
export function sizeTopology(
  topology: TopologyDefinition,
  index: MeasurementIndex,
  utilization: number,
  /** Spout component → the rate to size for instead of the measured one (a throughput goal). */
  spoutRates?: ReadonlyMap<string, number>,
): Map<string, ComponentLoad> {
  const loads = new Map<string, ComponentLoad>();
  const offeredOut = new Map<string, number>();
  for (const component of topologicalOrder(topology)) {
    const emitted = index.sum(component.name, METRIC.emitRate);
    const executed = index.sum(component.name, METRIC.executeRate);
    if (component.kind === 'spout') {
      const paused = Math.min(MAX_PAUSED_FRACTION, index.componentValue(component.name, METRIC.pausedFraction) ?? 0);
      offeredOut.set(component.name, spoutRates?.get(component.name) ?? emitted / (1 - paused));
      continue;
    }
    const offered = component.inputs.reduce((acc, input) => acc + (offeredOut.get(input.component) ?? 0), 0);
    const busy = index.instances(component.name).reduce((acc, i) => acc + index.value(component.name, i, METRIC.busyFraction), 0);
    const selectivity = executed > 0 ? emitted / executed : 0;
    offeredOut.set(component.name, offered * selectivity);
    const needed = executed > 0 && busy > 0 ? Math.max(1, Math.ceil(((busy * offered) / executed / utilization) - 1e-9)) : undefined;
    loads.set(component.name, { offeredRate: offered, observedRate: executed, busyInstances: busy, needed });
  }
  return loads;
}
