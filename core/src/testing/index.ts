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
export * from './health-policy-testing.js';
export * from './services.js';
export * from './plugin-testing.js';
export * from './in-memory-state-manager.js';
