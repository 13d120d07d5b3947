/**
 * `@ardea/example-custom-health-policy`: the `queue-budget` health policy as a plugin. Name the
 * package in a cluster's `healthmgr.yaml` and container 0 of every topology runs the policy next to
 * the built-in ones:
 *
 * ```yaml
 * plugins: ['@ardea/example-custom-health-policy']
 * policies:
 *   queue-budget: { maxQueueBytes: 262144, holdRounds: 2 }
 * ```
 *
 * The same policy runs in the simulator through {@link simulatedPolicies}:
 * `ardea simulate scenario.yaml --policy-module @ardea/example-custom-health-policy --policy queue-budget`.
 * @module
 */
import { ContainerModule } from 'inversify';
import {
  ConfigError,
  definePlugin,
  formatSchemaIssue,
  HealthPolicy,
  MetricsSensor,
  TopologyActuator,
  type SimulatedPolicyFactory,
} from '@ardea/core/plugin';
import { QUEUE_BUDGET_POLICY_ID, queueBudgetPolicy, QueueBudgetSettingsSchema } from './queue-budget-policy.js';

export * from './queue-budget-policy.js';

export default definePlugin({
  name: QUEUE_BUDGET_POLICY_ID,
  kind: 'health-policy',
  configSchema: QueueBudgetSettingsSchema,
  createModule: (settings) =>
    new ContainerModule(({ bind }) => {
      if (!settings.enabled) return;
      // Resolved from container 0's health container, which binds the topology's sensor and actuator.
      bind<HealthPolicy>(HealthPolicy).toDynamicValue((context) =>
        queueBudgetPolicy(settings, context.get<MetricsSensor>(MetricsSensor), context.get<TopologyActuator>(TopologyActuator)),
      );
    }),
});

/** The policy on the simulator's model, with the scenario's `policies.queue-budget` as its settings. */
export const simulatedPolicies: readonly SimulatedPolicyFactory[] = [
  {
    id: QUEUE_BUDGET_POLICY_ID,
    description: 'adds instances to bolts whose queues stay over a byte budget',
    create({ sensor, actuator, settings }) {
      const parsed = QueueBudgetSettingsSchema.safeParse(settings);
      if (!parsed.success) throw new ConfigError(`policies.${QUEUE_BUDGET_POLICY_ID}: ${formatSchemaIssue(parsed.error)}`);
      return { policy: queueBudgetPolicy(parsed.data, sensor, actuator), noiseMsPerSec: 20 };
    },
  },
];
