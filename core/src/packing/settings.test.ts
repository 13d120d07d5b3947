import { describe, expect, it } from 'vitest';
import { PackingError } from '../errors/index.js';
import { fitsWithin, GiB, scaleResources } from '../model/resources.js';
import { packingFixture } from '../testing/packing-conformance.js';
import { componentDemand, containerPadding, packingLimits } from './constraints.js';
import { applyPackingHints, DEFAULT_PACKING_SETTINGS } from './settings.js';

describe('DEFAULT_PACKING_SETTINGS', () => {
  it('fits maxInstancesPerContainer default instances in a container once padding is taken out', () => {
    const settings = DEFAULT_PACKING_SETTINGS;
    const limits = packingLimits(packingFixture('d-1', { a: { parallelism: 1 } }), settings);
    expect(fitsWithin(scaleResources(settings.instanceDefaults, settings.maxInstancesPerContainer), limits.capacity)).toBe(true);
    expect(limits.padding).toEqual({ cpu: 1.2, ramBytes: Math.ceil(1.2 * GiB), diskBytes: Math.ceil(1.2 * GiB) });
  });

  it('cannot be changed by accident', () => {
    expect(Object.isFrozen(DEFAULT_PACKING_SETTINGS.containerMax)).toBe(true);
    expect(Object.isFrozen(DEFAULT_PACKING_SETTINGS.padding.fixed)).toBe(true);
  });
});

describe('applyPackingHints', () => {
  const base = DEFAULT_PACKING_SETTINGS;

  it('returns the settings themselves when the topology gives no hints', () => {
    expect(applyPackingHints(base, undefined)).toBe(base);
    expect(applyPackingHints(base, {})).toBe(base);
  });

  it('replaces the hinted values, and lowers the container size per dimension', () => {
    const merged = applyPackingHints(base, { containers: 4, maxInstancesPerContainer: 3, containerResources: { ramBytes: 4 * GiB } });
    expect(merged).toEqual({
      ...base,
      containers: 4,
      maxInstancesPerContainer: 3,
      containerMax: { ...base.containerMax, ramBytes: 4 * GiB },
    });
  });

  it('never raises the container size above what the cluster allows', () => {
    const merged = applyPackingHints(base, { containerResources: { ramBytes: base.containerMax.ramBytes * 10, cpu: 1 } });
    expect(merged.containerMax).toEqual({ ...base.containerMax, cpu: 1 });
  });

  it('changes nothing more when applied twice', () => {
    const hints = { containers: 4, containerResources: { cpu: 6 } };
    expect(applyPackingHints(applyPackingHints(base, hints), hints)).toEqual(applyPackingHints(base, hints));
  });
});

describe('packing limits', () => {
  const settings = { ...DEFAULT_PACKING_SETTINGS, containerMax: { cpu: 4, ramBytes: 5 * GiB, diskBytes: 5 * GiB } };

  it('pads each dimension by the larger of the fixed amount and the percentage of the container limit', () => {
    expect(containerPadding({ ...settings, padding: { fixed: { cpu: 1, ramBytes: GiB, diskBytes: 0 }, percent: 50 } })).toEqual({
      cpu: 2,
      ramBytes: 2.5 * GiB,
      diskBytes: 2.5 * GiB,
    });
  });

  it('explains an instance larger than a container with the numbers and what to change', () => {
    const topology = packingFixture('big-1', { count: { parallelism: 1, resources: { ramBytes: 6 * GiB } } });
    const limits = packingLimits(topology, settings);
    expect(() => componentDemand(topology.components[0]!, 0, limits)).toThrow(
      new PackingError(
        "component 'count' needs ram=6GiB per instance but a container may hold at most " +
          "ram=4GiB after 1GiB padding; raise packing.container.ram or lower the ram of 'count'",
      ),
    );
  });

  it('explains an instance below the runtime minimum', () => {
    const topology = packingFixture('small-1', { tick: { parallelism: 1, resources: { cpu: 0.05 } } });
    expect(() => componentDemand(topology.components[0]!, 0, packingLimits(topology, settings))).toThrow(
      "component 'tick' asks for cpu=0.05 per instance but an instance needs at least cpu=0.1; raise the cpu of 'tick' or " +
        'lower packing.minInstance.cpu',
    );
  });

  it('rejects a container limit its padding alone fills, and counts below one', () => {
    const topology = packingFixture('bad-1', { a: { parallelism: 1 } });
    expect(() => packingLimits(topology, { ...settings, containerMax: { ...settings.containerMax, cpu: 0.5 } })).toThrow(
      /a container may hold at most cpu=0.5, less than its padding of 1/,
    );
    expect(() => packingLimits(topology, { ...settings, maxInstancesPerContainer: 0 })).toThrow(
      /packing.maxInstancesPerContainer must be a whole number/,
    );
    expect(() => packingLimits({ ...topology, packing: { containers: 0 } }, settings)).toThrow(/packing.containers must be a whole number/);
  });
});
