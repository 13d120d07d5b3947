import { PackingError } from '../errors/index.js';
import { formatBytes, subtractResources, withDefaults } from '../model/resources.js';
import type { Resources } from '../model/resources.js';
import type { ComponentDefinition, TopologyDefinition } from '../model/topology.js';
import type { PackingSettings } from '../spi/packing.js';
import { applyPackingHints } from './settings.js';

/** Same tolerance as `fitsWithin`: CPU sums drift by binary rounding, far below any real share. */
export const CPU_EPSILON = 1e-9;

/** The settings of one packing run, with what every constraint derives from them computed once. */
export interface PackingLimits {
  readonly settings: PackingSettings;
  /** Headroom each container keeps for its stream and metrics managers. */
  readonly padding: Resources;
  /** What the instances of one container may use together: the container limit minus padding. */
  readonly capacity: Resources;
  readonly maxInstances: number;
}

/** One component's share of a run: how many instances it wants and what each one needs. */
export interface ComponentDemand {
  readonly component: string;
  readonly parallelism: number;
  readonly resources: Resources;
  /** Position in the topology, the last tie-breaker wherever order matters. */
  readonly position: number;
}

interface Dimension {
  readonly key: keyof Resources;
  /** The key people write in packing.yaml and in a component's resources. */
  readonly name: 'cpu' | 'ram' | 'disk';
  readonly format: (value: number) => string;
}

const formatCpu = (cpu: number): string => `${Number(cpu.toFixed(3))}`;

export const DIMENSIONS: readonly Dimension[] = [
  { key: 'cpu', name: 'cpu', format: formatCpu },
  { key: 'ramBytes', name: 'ram', format: formatBytes },
  { key: 'diskBytes', name: 'disk', format: formatBytes },
];

/**
 * Per dimension the larger of the fixed padding and `percent` % of the container limit. Byte
 * amounts round up so the headroom is never smaller than asked.
 */
export function containerPadding(settings: PackingSettings): Resources {
  const { fixed, percent } = settings.padding;
  const max = settings.containerMax;
  return {
    cpu: Math.max(fixed.cpu, (max.cpu * percent) / 100),
    ramBytes: Math.max(fixed.ramBytes, Math.ceil((max.ramBytes * percent) / 100)),
    diskBytes: Math.max(fixed.diskBytes, Math.ceil((max.diskBytes * percent) / 100)),
  };
}

function checkCount(value: number, key: string): void {
  if (!Number.isInteger(value) || value < 1) throw new PackingError(`packing.${key} must be a whole number of at least 1, got ${value}`);
}

/**
 * Applies the topology's hints to the settings and checks what no algorithm can work around: a
 * container limit that the padding alone already fills.
 */
export function packingLimits(topology: TopologyDefinition, base: PackingSettings): PackingLimits {
  const settings = applyPackingHints(base, topology.packing);
  checkCount(settings.containers, 'containers');
  checkCount(settings.maxInstancesPerContainer, 'maxInstancesPerContainer');
  if (!(settings.padding.percent >= 0 && settings.padding.percent <= 100)) {
    throw new PackingError(`packing.padding.percent must be between 0 and 100, got ${settings.padding.percent}`);
  }
  const padding = containerPadding(settings);
  for (const dim of DIMENSIONS) {
    const limit = settings.containerMax[dim.key];
    if (!(limit >= padding[dim.key])) {
      throw new PackingError(
        `a container may hold at most ${dim.name}=${dim.format(limit)}, less than its padding of ${dim.format(padding[dim.key])} ` +
          (`(the larger of packing.padding.${dim.name} and packing.padding.percent); ` +
            `raise packing.container.${dim.name} or lower the padding`),
      );
    }
  }
  return {
    settings,
    padding,
    capacity: subtractResources(settings.containerMax, padding),
    maxInstances: settings.maxInstancesPerContainer,
  };
}

export function checkParallelism(component: ComponentDefinition): void {
  if (!Number.isInteger(component.parallelism) || component.parallelism < 1) {
    throw new PackingError(
      `component '${component.name}' has parallelism ${component.parallelism}; it must be a whole number of at least 1`,
    );
  }
}

/**
 * What one instance of the component needs, checked against the runtime's minimum and against an
 * empty container: an instance that fails here fits nowhere, whatever the algorithm.
 */
export function componentDemand(component: ComponentDefinition, position: number, limits: PackingLimits): ComponentDemand {
  const { settings, capacity, padding } = limits;
  const name = component.name;
  checkParallelism(component);
  const resources = withDefaults(component.resources, settings.instanceDefaults);
  // The runtime sets no floor on disk; zero keeps that dimension from ever failing the check.
  const minimum: Resources = { cpu: settings.minInstance.cpu, ramBytes: settings.minInstance.ramBytes, diskBytes: 0 };
  for (const dim of DIMENSIONS) {
    const wanted = resources[dim.key];
    const least = minimum[dim.key];
    const tolerance = dim.key === 'cpu' ? CPU_EPSILON : 0;
    if (wanted + tolerance < least) {
      throw new PackingError(
        `component '${name}' asks for ${dim.name}=${dim.format(wanted)} per ` +
          `instance but an instance needs at least ${dim.name}=${dim.format(least)}; ` +
          `raise the ${dim.name} of '${name}' or lower packing.minInstance.${dim.name}`,
      );
    }
  }
  for (const dim of DIMENSIONS) {
    const wanted = resources[dim.key];
    const room = capacity[dim.key];
    const tolerance = dim.key === 'cpu' ? CPU_EPSILON : 0;
    if (wanted > room + tolerance) {
      throw new PackingError(
        `component '${name}' needs ${dim.name}=${dim.format(wanted)} per instance ` +
          `but a container may hold at most ${dim.name}=${dim.format(room)} ` +
          `after ${dim.format(padding[dim.key])} padding; raise packing.container.${dim.name} or lower the ${dim.name} of '${name}'`,
      );
    }
  }
  return { component: name, parallelism: component.parallelism, resources, position };
}

/** Every component's demand, validated, in topology order. */
export function componentDemands(topology: TopologyDefinition, limits: PackingLimits): ComponentDemand[] {
  return topology.components.map((component, position) => componentDemand(component, position, limits));
}

/**
 * Largest first by the chosen dimension, then by the other one, then topology order. All three
 * algorithms place big instances first: first-fit-decreasing by definition, the round robins so that
 * the big instances spread over all containers before the small ones fill the gaps.
 */
export function byDecreasingSize(sortBy: PackingSettings['sortBy']): (a: ComponentDemand, b: ComponentDemand) => number {
  const [first, second]: readonly [keyof Resources, keyof Resources] = sortBy === 'cpu' ? ['cpu', 'ramBytes'] : ['ramBytes', 'cpu'];
  return (a, b) =>
    b.resources[first] - a.resources[first] ||
    b.resources[second] - a.resources[second] ||
    b.resources.diskBytes - a.resources.diskBytes ||
    a.position - b.position;
}

/** What a set of instances needs in total, and how many they are. */
export interface Load {
  readonly instances: number;
  readonly total: Resources;
}

export function loadOf(parts: Iterable<{ readonly resources: Resources; readonly count: number }>): Load {
  let instances = 0;
  const total = { cpu: 0, ramBytes: 0, diskBytes: 0 };
  for (const { resources, count } of parts) {
    instances += count;
    total.cpu += resources.cpu * count;
    total.ramBytes += resources.ramBytes * count;
    total.diskBytes += resources.diskBytes * count;
  }
  return { instances, total };
}

/** A lower bound on the containers a load needs: fewer cannot hold it in some dimension. */
export function minimumContainers(load: Load, limits: PackingLimits): number {
  let bound = Math.ceil(load.instances / limits.maxInstances);
  for (const dim of DIMENSIONS) {
    const room = limits.capacity[dim.key];
    const needed = dim.key === 'cpu' ? load.total.cpu - CPU_EPSILON * load.instances : load.total[dim.key];
    if (needed > 0 && room > 0) bound = Math.max(bound, Math.ceil(needed / room));
  }
  return bound;
}
