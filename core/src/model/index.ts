export * from './resources.js';
export * from './topology.js';
export * from './packing-plan.js';
export * from './runtime-state.js';
export * from './metrics.js';
