export * from './scheduler.js';
export * from './uploader.js';
export * from './state-manager.js';
export * from './packing.js';
export * from './health-policy.js';
export * from './checkpoint-storage.js';
export * from './metrics-sink.js';
