export * from './prng.js';
export * from './load-profile.js';
export * from './model.js';
export * from './adapters.js';
export * from './policy-registry.js';
export * from './policies.js';
export * from './scenario.js';
export * from './run.js';
