import type { HealthPolicy, PolicyContributions, Sensor, TopologyActuator } from '../spi/health-policy.js';
import {
  BackpressureDetector,
  LargeQueueDetector,
  LowUtilizationDetector,
  ProcessingRateSkewDetector,
  SaturationDetector,
} from './detectors.js';
import {
  DataSkewDiagnoser,
  DIAGNOSIS,
  OverProvisioningDiagnoser,
  SlowInstanceDiagnoser,
  UnderProvisioningDiagnoser,
} from './diagnosers.js';
import { DataSkewResolver, ScaleResolver, SlowInstanceResolver } from './resolvers.js';
import { PROVISIONING_POLICY_ID, type ProvisioningSettings } from './settings.js';

/**
 * Dynamic resource provisioning: backpressure, queue and skew detectors; slow-instance, data-skew,
 * under- and over-provisioning diagnosers; resolvers that route around slow instances, report skew,
 * and size every bottleneck of the DAG in one update (scaling down only after a hold).
 */
export function provisioningPolicy(
  settings: ProvisioningSettings,
  /** Container 0 passes the metrics cache (bound under `MetricsSensor`), the simulator its model, a test a recorded window. */
  sensor: Sensor,
  actuator: TopologyActuator,
  /** Stages plugins contributed under the Detector, Diagnoser and Resolver tokens, run after the built-in ones. */
  extra: PolicyContributions = {},
): HealthPolicy {
  const slow = new SlowInstanceDiagnoser();
  const skew = new DataSkewDiagnoser();
  return {
    id: PROVISIONING_POLICY_ID,
    intervalMs: settings.intervalMs,
    windowMs: settings.windowMs,
    holdRounds: { [DIAGNOSIS.overProvisioned]: settings.scaleDownHoldRounds },
    sensors: [sensor],
    detectors: [
      new BackpressureDetector(settings),
      new SaturationDetector(settings),
      new LargeQueueDetector(settings),
      new ProcessingRateSkewDetector(settings),
      new LowUtilizationDetector(settings),
      ...(extra.detectors ?? []),
    ],
    diagnosers: [slow, skew, new UnderProvisioningDiagnoser([slow, skew]), new OverProvisioningDiagnoser(), ...(extra.diagnosers ?? [])],
    resolvers: [
      new SlowInstanceResolver(actuator, settings),
      new DataSkewResolver(),
      ...(extra.resolvers ?? []),
      new ScaleResolver(actuator, settings),
    ],
  };
}
