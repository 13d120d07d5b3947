export * from './cluster-config.js';
export * from './config-property.js';
