/**
 * `@ardea/core/testing`: conformance suites that any implementation of an SPI runs against itself,
 * plus helpers for plugin authors' tests. Suites use vitest's `describe`/`it`, so import this module
 * from a vitest test file only.
 * @module
 */
export * from './state-manager-conformance.js';
export * from './packing-conformance.js';
export * from './scheduler-conformance.js';
export * from './uploader-conformance.js';
export * from './checkpoint-storage-conformance.js';
export * from './health-policy-testing.js';
export * from './services.js';
export * from './plugin-testing.js';
export * from './in-memory-state-manager.js';
// A cluster's config read as a submit reads it, for tests that bind it themselves.
export { loadClusterConfig } from '../config/cluster-config.js';
// Checks a plugin's default export as the core does when it loads the plugin.
export { assertPluginDescriptor } from '../plugin/plugin-descriptor.js';
// A policy's tests run it round by round on recorded windows, and in the policy simulator.
export { HealthManager } from '../healthmgr/index.js';
export { defaultPolicyRegistry, loadScenario, simulate, toDefinition } from '../simulator/index.js';
