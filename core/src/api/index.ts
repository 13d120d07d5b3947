export * from './component.js';
export * from './tuple.js';
export * from './topology-builder.js';
export type { RuntimeConfigSpec } from '../model/topology-definition.js';
export { TupleValueError } from '../errors/index.js';
