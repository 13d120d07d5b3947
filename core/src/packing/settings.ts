import { GiB, MiB, withDefaults, type Resources } from '../model/resources.js';
import type { PackingHints } from '../model/topology.js';
import type { PackingSettings } from '../spi/packing.js';

/**
 * What packing uses when neither `packing.yaml` nor the topology says otherwise. The container limit
 * is sized so that `maxInstancesPerContainer` default instances still fit once the padding (10 % of
 * 12 = 1.2 per dimension, above the fixed 1) is taken out.
 */
export const DEFAULT_PACKING_SETTINGS: PackingSettings = Object.freeze({
  instanceDefaults: Object.freeze({ cpu: 1, ramBytes: GiB, diskBytes: GiB }),
  containerMax: Object.freeze({ cpu: 12, ramBytes: 12 * GiB, diskBytes: 12 * GiB }),
  maxInstancesPerContainer: 10,
  padding: Object.freeze({ fixed: Object.freeze({ cpu: 1, ramBytes: GiB, diskBytes: GiB }), percent: 10 }),
  minInstance: Object.freeze({ cpu: 0.1, ramBytes: 192 * MiB }),
  containers: 1,
  sortBy: 'ram' as const,
});

/**
 * Lays a topology's packing hints over the cluster's settings: each hint that is set replaces the
 * cluster value, except the container size, which a topology may only lower (per dimension): the
 * cluster's limit is what its pool can grant. Applying the same hints twice changes nothing, so
 * algorithms may call this even when the caller already did.
 */
function minResources(a: Resources, b: Resources): Resources {
  return { cpu: Math.min(a.cpu, b.cpu), ramBytes: Math.min(a.ramBytes, b.ramBytes), diskBytes: Math.min(a.diskBytes, b.diskBytes) };
}

export function applyPackingHints(settings: PackingSettings, hints: PackingHints | undefined): PackingSettings {
  if (!hints) return settings;
  const { containers, containerResources, maxInstancesPerContainer } = hints;
  if (containers === undefined && containerResources === undefined && maxInstancesPerContainer === undefined) return settings;
  return {
    ...settings,
    containers: containers ?? settings.containers,
    containerMax: minResources(withDefaults(containerResources, settings.containerMax), settings.containerMax),
    maxInstancesPerContainer: maxInstancesPerContainer ?? settings.maxInstancesPerContainer,
  };
}
