import { StateManagerError } from '../errors/index.js';
import { type Measurement, METRIC, type PolicyContext, type Sensor, type TopologyActuator } from '../spi/health-policy.js';
import type { StateKind, StateLock, StateManager, StateOperation, StateRecords, StateWatch } from '../spi/state-manager.js';
import type { TopologyModel } from './model.js';
import type { Prng } from './prng.js';

/**
 * Measures the model the way the metrics cache measures a running topology: per instance rates,
 * busy fraction and backpressure time over the window the health manager asks for (from the
 * model's 1 s snapshots), the queue as it is now, and per spout component the paused fraction.
 * Noise multiplies each reported rate and busy fraction by a lognormal factor (mean 1, CV `noiseCv`),
 * drawn per value and window, as one noisy metrics window would show it.
 */
export class SimulatorSensor implements Sensor {
  readonly name = 'simulator';

  constructor(
    private readonly model: TopologyModel,
    private readonly noise: { readonly cv: number; readonly rng: Prng },
    /** Whether the spouts report their source's backlog (a queue consumer's lag), as `Spout.backlog` does. */
    private readonly reportsBacklog = true,
  ) {}

  async fetch(context: PolicyContext): Promise<Measurement[]> {
    const model = this.model;
    const nowMs = model.now;
    const base = model.snapshotAt(nowMs - context.windowMs);
    // The model may hold less history than asked for right after it starts.
    const seconds = Math.max(1e-3, (nowMs - base.atMs) / 1000);
    const timestamp = nowMs;
    const measurements: Measurement[] = [];
    const noisy = (value: number) => value * this.noise.rng.lognormalFactor(this.noise.cv);
    for (const instance of model.instances()) {
      const before = base.instances.get(instance.taskId) ?? {
        executed: 0,
        emitted: 0,
        busySec: 0,
        backpressureMs: 0,
        restarts: 0,
        hungRestarts: 0,
      };
      const c = instance.counters;
      const values: Record<string, number> = {
        [METRIC.executeRate]: noisy((c.executed - before.executed) / seconds),
        [METRIC.emitRate]: noisy((c.emitted - before.emitted) / seconds),
        [METRIC.busyFraction]: Math.min(1, noisy((c.busySec - before.busySec) / seconds)),
        [METRIC.backpressureMs]: c.backpressureMs - before.backpressureMs,
        [METRIC.pendingBytes]: Math.round(instance.queueBytes),
        [METRIC.restarts]: c.restarts - before.restarts,
        [METRIC.hungRestarts]: c.hungRestarts - before.hungRestarts,
      };
      for (const metric of [
        METRIC.executeRate,
        METRIC.emitRate,
        METRIC.busyFraction,
        METRIC.backpressureMs,
        METRIC.pendingBytes,
        METRIC.restarts,
        METRIC.hungRestarts,
      ]) {
        measurements.push({ component: instance.component, instance: instance.name, metric, timestamp, value: values[metric]! });
      }
    }
    const paused = Math.min(1, (model.totalPausedMs() - base.pausedMs) / 1000 / seconds);
    for (const component of context.topology.components) {
      if (component.kind !== 'spout') continue;
      measurements.push({ component: component.name, metric: METRIC.pausedFraction, timestamp, value: paused });
      if (!this.reportsBacklog) continue;
      // The lag is the component's; each instance reports its share, as each consumer reports its partitions'.
      const instances = model.instances().filter((i) => i.component === component.name);
      const lag = model.lagOf(component.name);
      const growth = (lag - (base.lag.get(component.name) ?? 0)) / seconds;
      for (const instance of instances) {
        measurements.push({
          component: component.name,
          instance: instance.name,
          metric: METRIC.backlog,
          timestamp,
          value: lag / instances.length,
        });
        measurements.push({
          component: component.name,
          instance: instance.name,
          metric: METRIC.backlogGrowth,
          timestamp,
          value: growth / instances.length,
        });
      }
    }
    return measurements;
  }
}

/** What the actuator did, in virtual time, for the run's metrics. */
export interface ActuatorEvent {
  readonly atMs: number;
  readonly kind: 'scale' | 'restart' | 'runtime-config';
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * Applies resolver actions to the model. Like the real update path, `scale` and `restartContainer`
 * resolve once the change runs everywhere: the model is advanced through the reconfiguration pause
 * first, so the health manager's clock (virtual time) reads the end of the update when it restarts
 * its window.
 */
export class SimulatorActuator implements TopologyActuator {
  readonly events: ActuatorEvent[] = [];

  constructor(private readonly model: TopologyModel) {}

  async scale(parallelism: Readonly<Record<string, number>>): Promise<void> {
    this.events.push({ atMs: this.model.now, kind: 'scale', detail: { ...parallelism } });
    const until = this.model.requestScale(parallelism);
    this.model.advanceTo(until);
  }

  async restartContainer(containerId: number): Promise<void> {
    this.events.push({ atMs: this.model.now, kind: 'restart', detail: { containerId } });
    const until = this.model.requestRestart(containerId);
    this.model.advanceTo(until);
  }

  async setRuntimeConfig(
    changes: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }>,
  ): Promise<void> {
    for (const change of changes) {
      this.events.push({
        atMs: this.model.now,
        kind: 'runtime-config',
        detail: { component: change.component, key: change.key, value: change.value },
      });
      this.model.setRuntimeConfig(change.component, change.key, change.value);
    }
  }
}

/**
 * The simulator's store for the health manager's action log: an in-memory state manager. Values
 * are copied in and out, so the log cannot be changed behind the store's back, as with a real
 * store. Watches, transactions and locks have no use in a simulation and reject.
 */
export class MemoryStateManager implements StateManager {
  private readonly nodes = new Map<string, unknown>();
  private state: 'new' | 'started' | 'closed' = 'new';

  async start(): Promise<void> {
    if (this.state === 'closed') throw new StateManagerError('the simulator state manager is closed');
    this.state = 'started';
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }

  async get<K extends StateKind>(kind: K, topology: string): Promise<StateRecords[K] | undefined> {
    this.check(kind, topology);
    const value = this.nodes.get(key(kind, topology));
    return value === undefined ? undefined : (structuredClone(value) as StateRecords[K]);
  }

  async set<K extends StateKind>(kind: K, topology: string, value: StateRecords[K]): Promise<void> {
    this.check(kind, topology);
    this.nodes.set(key(kind, topology), structuredClone(value));
  }

  async create<K extends StateKind>(kind: K, topology: string, value: StateRecords[K]): Promise<void> {
    this.check(kind, topology);
    if (this.nodes.has(key(kind, topology))) throw new StateManagerError(`/${kind}/${topology} exists already`);
    this.nodes.set(key(kind, topology), structuredClone(value));
  }

  async delete(kind: StateKind, topology: string): Promise<void> {
    this.check(kind, topology);
    this.nodes.delete(key(kind, topology));
  }

  async list(kind: StateKind): Promise<string[]> {
    this.check(kind, '');
    const prefix = `${kind}/`;
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length))
      .sort();
  }

  async transaction(_operations: readonly StateOperation[]): Promise<void> {
    throw new StateManagerError('the simulator state manager does not support transactions');
  }

  watch(): StateWatch {
    throw new StateManagerError('the simulator state manager does not support watches');
  }

  async lock(topology: string): Promise<StateLock> {
    throw new StateManagerError(`the simulator state manager does not support locks (asked for a lock of '${topology}')`);
  }

  private check(kind: StateKind, topology: string): void {
    if (this.state !== 'started')
      throw new StateManagerError(
        `the simulator state manager is ${this.state === 'new' ? 'not started' : 'closed'} (at /${kind}/${topology})`,
      );
  }
}

function key(kind: StateKind, topology: string): string {
  return `${kind}/${topology}`;
}
