/**
 * `@ardea/core`: the SPIs every resource pool implements, the domain model, configuration and plugin
 * loading, the built-in packing algorithms, and the local filesystem state manager and uploader.
 *
 * @example
 * ```ts
 * import { loadClusterConfig, createArdeaContainer, StateManager } from '@ardea/core';
 * const config = await loadClusterConfig({ cluster: 'local' });
 * const container = await createArdeaContainer(config);
 * const state = container.get<StateManager>(StateManager);
 * ```
 * @module
 */
import 'reflect-metadata';

export * from './errors/index.js';
export * from './logging/index.js';
export * from './model/index.js';
export * from './spi/index.js';
export * from './plugin/plugin-descriptor.js';
