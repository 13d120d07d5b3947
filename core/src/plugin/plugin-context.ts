import type { Logger } from '../logging/index.js';
import type { PluginContext, PluginDescriptor } from './plugin-descriptor.js';

/**
 * What a plugin's module gets besides its config. Its logger is the deployment's, as a child named
 * after the plugin, so every line a plugin writes says which plugin wrote it.
 */
export function pluginContext(
  descriptor: Pick<PluginDescriptor, 'name' | 'kind'>,
  where: Omit<PluginContext, 'logger'>,
  logger: Logger,
): PluginContext {
  return { ...where, logger: logger.child({ plugin: descriptor.name, kind: descriptor.kind }) };
}
