import { topologicalOrder, type ComponentDefinition, type TopologyDefinition } from '../model/topology.js';
import { MeasurementIndex } from './measurements.js';
import { METRIC, streamEmitRateMetric } from '../spi/health-policy.js';

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
 * The share of a component's emits that goes to each of its output streams, from the per-stream
 * emit rates. With one stream that is all of it; when a component with several streams reported no
 * per-stream rates (or emitted nothing) every stream is taken to carry all of it, an upper bound.
 */
export function streamShares(component: ComponentDefinition, index: MeasurementIndex): Map<string, number> {
  const streams = component.outputs.map((o) => o.id);
  if (streams.length === 1) return new Map([[streams[0]!, 1]]);
  const total = index.sum(component.name, METRIC.emitRate);
  const measured = streams.some((s) => index.measured(component.name, streamEmitRateMetric(s)));
  return new Map(streams.map((s) => [s, measured && total > 0 ? index.sum(component.name, streamEmitRateMetric(s)) / total : 1]));
}

/** What a bolt is offered, from the rates of the streams it reads. */
export interface BoltInput {
  /** Tuples per second spread over its instances (every grouping but all). */
  readonly divided: number;
  /** Tuples per second each instance gets in full (all grouping). */
  readonly replicated: number;
  /** Executions per second of the component as a whole: divided + replicated × parallelism. */
  readonly offered: number;
}

/**
 * Offered rates per output stream, propagated down a DAG in topological order: a component
 * publishes what it offers downstream, a bolt reads the streams it subscribes to.
 */
export class StreamRates {
  private readonly rates = new Map<string, number>();

  constructor(private readonly index: MeasurementIndex) {}

  /** `offeredOut`: what the component emits in all, split over its streams by their measured shares. */
  publish(component: ComponentDefinition, offeredOut: number): void {
    for (const [stream, share] of streamShares(component, this.index))
      this.rates.set(`${component.name}\u0000${stream}`, offeredOut * share);
  }

  /** Offered load per input = that stream's rate times the grouping's fan-out. */
  inputOf(component: ComponentDefinition): BoltInput {
    let divided = 0;
    let replicated = 0;
    for (const input of component.inputs) {
      const rate = this.rates.get(`${input.component}\u0000${input.stream}`) ?? 0;
      if (input.grouping.type === 'all') replicated += rate;
      else divided += rate;
    }
    return { divided, replicated, offered: divided + replicated * component.parallelism };
  }
}

/**
 * Instances needed to take `input` when one instance manages `perInstanceRate` tuples per second at
 * the utilization wanted: each instance's load is divided ÷ p + replicated. When the replicated part
 * alone fills an instance, more instances do not help; undefined then.
 */
export function instancesFor(input: BoltInput, perInstanceRate: number): number | undefined {
  const spare = perInstanceRate - input.replicated;
  return spare > 0 ? input.divided / spare : undefined;
}

/**
 * DS2-style sizing of a whole DAG from one window: the rate data arrives at each spout
 * ({@link spoutOfferedRate}), propagated downstream stream by stream through each component's
 * measured selectivity. A bolt is offered, per input, the rate of the stream it reads times the
 * grouping's fan-out (all grouping: each instance executes every tuple). Each bolt then needs the
 * busy time it used, scaled from the rate it got to the rate it would get, divided by the target
 * utilization; load that every instance receives in full (all grouping) does not shrink with more
 * instances and is accounted for as such. Every bottleneck is sized in the same round, not one per round.
 */
export function sizeTopology(
  topology: TopologyDefinition,
  index: MeasurementIndex,
  utilization: number,
  /** Spout component → the rate to size for instead of the measured one (a throughput goal). */
  spoutRates?: ReadonlyMap<string, number>,
): Map<string, ComponentLoad> {
  const loads = new Map<string, ComponentLoad>();
  const rates = new StreamRates(index);
  for (const component of topologicalOrder(topology)) {
    const emitted = index.sum(component.name, METRIC.emitRate);
    const executed = index.sum(component.name, METRIC.executeRate);
    if (component.kind === 'spout') {
      rates.publish(component, spoutRates?.get(component.name) ?? spoutOfferedRate(index, component.name));
      continue;
    }
    const input = rates.inputOf(component);
    const busy = index.instances(component.name).reduce((acc, i) => acc + index.value(component.name, i, METRIC.busyFraction), 0);
    const selectivity = executed > 0 ? emitted / executed : 0;
    rates.publish(component, input.offered * selectivity);
    let needed: number | undefined;
    if (executed > 0 && busy > 0) {
      // One instance busy all the time executes executed ÷ busy tuples per second.
      const exact = instancesFor(input, (executed / busy) * utilization);
      needed = exact === undefined ? component.parallelism : Math.max(1, Math.ceil(exact - 1e-9));
    }
    loads.set(component.name, { offeredRate: input.offered, observedRate: executed, busyInstances: busy, needed });
  }
  return loads;
}
