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
 * The rate data arrives at a spout's source. When the spout reports its backlog, that is exact:
 * what it emitted plus what piled up (minus what it worked off) — a spout catching up on a backlog
 * is not more load. Otherwise it is estimated as the emit rate over the time the spout was not
 * paused, which is right for sources that do not make up paused time (rate-limited generators).
 */
export function spoutOfferedRate(index: MeasurementIndex, spout: string): number {
  const emitted = index.sum(spout, METRIC.emitRate);
  if (index.measured(spout, METRIC.backlogGrowth)) return Math.max(0, emitted + index.sum(spout, METRIC.backlogGrowth));
  const paused = Math.min(MAX_PAUSED_FRACTION, index.componentValue(spout, METRIC.pausedFraction) ?? 0);
  return emitted / (1 - paused);
}

/**
 * DS2-style sizing of a whole DAG from one window: the rate data arrives at each spout
 * ({@link spoutOfferedRate}), propagated downstream through each component's
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
      offeredOut.set(component.name, spoutRates?.get(component.name) ?? spoutOfferedRate(index, component.name));
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
