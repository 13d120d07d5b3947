import { type Measurement, METRIC, type Sensor, streamEmitRateMetric, type TopologyActuator } from '../spi/health-policy.js';

/** What an actuator was asked to do, in order. */
export type ActuatorCall =
  | { readonly scale: Readonly<Record<string, number>> }
  | { readonly restart: number }
  | { readonly runtimeConfig: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }> };

/** An actuator that changes nothing and records every call, for policy unit tests. */
export class RecordingActuator implements TopologyActuator {
  readonly calls: ActuatorCall[] = [];

  async scale(parallelism: Readonly<Record<string, number>>): Promise<void> {
    this.calls.push({ scale: { ...parallelism } });
  }

  async restartContainer(containerId: number): Promise<void> {
    this.calls.push({ restart: containerId });
  }

  async setRuntimeConfig(changes: ReadonlyArray<{ readonly component: string; readonly key: string; readonly value: unknown }>): Promise<void> {
    this.calls.push({ runtimeConfig: changes.map((c) => ({ ...c })) });
  }
}

/** A sensor that returns whatever window the test put in `next`: one recorded window per round. */
export class RecordedSensor implements Sensor {
  readonly name = 'recorded';
  next: Measurement[] = [];

  async fetch(): Promise<Measurement[]> {
    return this.next;
  }
}

/** Per-instance values of a recorded window; what is left out is 0. */
export interface RecordedInstance {
  readonly executeRate?: number;
  readonly emitRate?: number;
  readonly busyFraction?: number;
  /** Milliseconds over the window the instance's queue was above the high watermark. */
  readonly backpressureMs?: number;
  readonly pendingBytes?: number;
  /** Worker restarts over the window. */
  readonly restarts?: number;
  /** Of those, restarts of a hung worker and for memory, over the window. */
  readonly hungRestarts?: number;
  readonly memoryRestarts?: number;
  /** Emit rate per output stream; they add up to `emitRate`. */
  readonly emitRateByStream?: Readonly<Record<string, number>>;
}

/**
 * A metrics window as the built-in sensor reports it. Instances are named as the engine names them,
 * `container_<c>_<component>_<task>`; `pausedFraction` gives each spout component's paused share.
 */
export function recordedWindow(instances: Readonly<Record<string, RecordedInstance>>, pausedFraction: Readonly<Record<string, number>> = {}): Measurement[] {
  const measurements: Measurement[] = [];
  for (const [instance, values] of Object.entries(instances)) {
    const parts = instance.split('_');
    if (parts.length !== 4 || parts[0] !== 'container') throw new Error(`instance '${instance}' is not named container_<c>_<component>_<task>`);
    const component = parts[2]!;
    for (const metric of [METRIC.executeRate, METRIC.emitRate, METRIC.busyFraction, METRIC.backpressureMs, METRIC.pendingBytes, METRIC.restarts, METRIC.hungRestarts, METRIC.memoryRestarts] as const) {
      measurements.push({ component, instance, metric, timestamp: 0, value: values[metric] ?? 0 });
    }
    for (const [stream, value] of Object.entries(values.emitRateByStream ?? {})) measurements.push({ component, instance, metric: streamEmitRateMetric(stream), timestamp: 0, value });
  }
  for (const [component, value] of Object.entries(pausedFraction)) measurements.push({ component, metric: METRIC.pausedFraction, timestamp: 0, value });
  return measurements;
}
