/**
 * What every pool plugin needs to implement the Scheduler SPI the same way: one diff of an update
 * against what the pool runs, one start-or-undo loop, one naming rule for pool objects, and the
 * container-identity rule for pools that number containers by ordinal.
 * @module
 */
export { planContainerChanges, type ContainerChanges, type PlanContainerChangesOptions } from './container-changes.js';
export { compactContainerIds, containerIdentityOf, denseContainerIds, planForPool } from './container-identity.js';
export { startAllOrUndo } from './start-all-or-undo.js';
export { pollUntilDone, type PollOptions } from './poll.js';
export { environmentLines, executorCommandLine, isEnvironmentName, shellCommand, shellQuote } from './shell.js';
export { poolResourceName, type PoolResourceNameOptions } from './resource-names.js';
export { decodeLogChunk, logByteRange, type LogByteRange } from './log-chunk.js';
