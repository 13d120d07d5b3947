export { TopologyMaster, type TopologyMasterOptions } from './topology-master.js';
export { StreamManager, type StreamManagerOptions, type BackpressureSettings } from './stream-manager.js';
export { MetricsCache } from './metrics-cache.js';
export { runtimeSettingsOf, RuntimeSettingsSchema, RUNTIME_SETTING_KEYS, type RuntimeSettings } from './runtime-settings.js';
export { CONFIG_PROPERTIES_ENV, PARENT_PID_ENV } from './executor-env.js';
export { displayedPackageUri, localPackageUrl, PACKAGE_FETCH_TIMEOUT_MS, type LocalPackageOptions } from './package-fetch.js';
export { MAX_BATCH_BYTES } from './routing.js';
export { MAX_TUPLE_BYTES } from './wire/frames.js';
