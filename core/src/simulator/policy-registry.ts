import { ConfigError } from '../errors/index.js';
import type { HealthPolicy, Sensor, TopologyActuator } from '../spi/health-policy.js';

/** What a policy gets to run on the model: the model's sensor and actuator, and the scenario's settings for it. */
export interface SimulatedPolicyInput {
  readonly sensor: Sensor;
  readonly actuator: TopologyActuator;
  /** The scenario's `policy.settings`, unvalidated: the factory owns its settings schema. */
  readonly settings: Readonly<Record<string, unknown>>;
}

/** A policy built for the simulator, with what the health manager around it needs to know. */
export interface SimulatedPolicy {
  readonly policy: HealthPolicy;
  /** Backpressure at or below this many ms per second counts as none when judging an action. */
  readonly noiseMsPerSec: number;
  /** Utilization the policy sizes for: the default u_target of the analytic optimum. */
  readonly targetUtilization?: number;
}

/**
 * One entry of the registry. A baseline (Heron's Dhalion defaults, DS2, a Flink-like autoscaler) is
 * added by implementing this and registering it; the harness, scenarios and CLI need no change.
 */
export interface SimulatedPolicyFactory {
  readonly id: string;
  readonly description: string;
  /** Throws `ConfigError` naming the key when `settings` are invalid. */
  create(input: SimulatedPolicyInput): SimulatedPolicy;
}

export class SimulatedPolicyRegistry {
  private readonly factories = new Map<string, SimulatedPolicyFactory>();

  register(factory: SimulatedPolicyFactory): this {
    if (this.factories.has(factory.id)) throw new ConfigError(`a simulated policy '${factory.id}' is registered already`);
    this.factories.set(factory.id, factory);
    return this;
  }

  get(id: string): SimulatedPolicyFactory {
    const factory = this.factories.get(id);
    if (!factory) throw new ConfigError(`unknown policy '${id}'; registered: ${this.ids().join(', ')}`);
    return factory;
  }

  ids(): string[] {
    return [...this.factories.keys()].sort();
  }
}
