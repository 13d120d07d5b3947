export * from './measurements.js';
export * from './settings.js';
export * from './detectors.js';
export * from './diagnosers.js';
export * from './sizing.js';
export * from './resolvers.js';
export * from './health-manager.js';
export * from './provisioning-policy.js';
