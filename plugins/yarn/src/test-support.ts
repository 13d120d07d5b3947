/**
 * What the plugin's tests against the loopback YARN share: a scheduler configured as a user would
 * write scheduler.yaml, and the ResourceManager's own view of a service (an independent client).
 */
import { SilentLogger } from '@ardea/core/plugin';
import { YARN_RM } from '@ardea/test-support/yarn';
import { yarnSchedulerConfigSchema } from './yarn-config.js';
import { YarnScheduler } from './yarn-scheduler.js';

/** Small containers, so several services fit the loopback node side by side. */
export const TEST_SIZES = { container0: { cpus: 1, memoryMb: 256 } };

/** A scheduler as `config` (scheduler.yaml's keys) configures it, on the loopback ResourceManager. */
export function schedulerFor(config: Record<string, unknown>): YarnScheduler {
  const parsed = yarnSchedulerConfigSchema.parse({ resourceManager: YARN_RM, ...TEST_SIZES, ...config });
  return new YarnScheduler({ config: parsed, pollIntervalMs: 250 }, new SilentLogger());
}
