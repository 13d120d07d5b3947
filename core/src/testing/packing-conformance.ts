import { describe, expect, it } from 'vitest';
import { PackingError } from '../errors/index.js';
import { allInstances, checkPackingPlan, componentCounts, plansEqual } from '../model/packing-plan.js';
import type { ContainerPlan, InstancePlan, PackingPlan } from '../model/packing-plan.js';
import { addResources, fitsWithin, GiB, MiB, withDefaults, ZERO_RESOURCES } from '../model/resources.js';
import type { ResourceRequest } from '../model/resources.js';
import type { ComponentDefinition, PackingHints, TopologyDefinition } from '../model/topology.js';
import { containerPadding } from '../packing/constraints.js';
import { applyPackingHints, DEFAULT_PACKING_SETTINGS } from '../packing/settings.js';
import type { PackingAlgorithm, PackingSettings, RepackingAlgorithm } from '../spi/packing.js';

export interface PackingConformanceOptions {
  /**
   * Settings every test packs with (each fixture's packing hints are laid over them, as the core
   * does). Defaults to `DEFAULT_PACKING_SETTINGS`. The fixtures need room for 6 instances of up to
   * 2 CPU and 2 GiB each per container; tests that need an impossible fit derive it from these
   * settings.
   */
  readonly settings?: PackingSettings;
}

type Algorithm = PackingAlgorithm & RepackingAlgorithm;

interface ComponentSpec {
  readonly parallelism: number;
  readonly resources?: ResourceRequest;
}

/** A topology from `name: { parallelism, resources }` entries; the first is the spout, the others read from it. */
export function packingFixture(
  id: string,
  components: Readonly<Record<string, ComponentSpec>>,
  packing?: PackingHints,
): TopologyDefinition {
  const names = Object.keys(components);
  const definitions: ComponentDefinition[] = names.map((name, i) => {
    const spec = components[name]!;
    return {
      name,
      kind: i === 0 ? 'spout' : 'bolt',
      parallelism: spec.parallelism,
      ...(spec.resources ? { resources: spec.resources } : {}),
      config: {},
      outputs: [{ id: 'default', fields: ['value'] }],
      inputs: i === 0 ? [] : [{ component: names[0]!, stream: 'default', grouping: { type: 'shuffle' } }],
    };
  });
  return { name: id.replace(/-\d+$/, ''), id, components: definitions, config: {}, ...(packing ? { packing } : {}) };
}

/** The same topology with other parallelism, components dropped (`0`) or added (`spec`). */
function reshaped(topology: TopologyDefinition, changes: Readonly<Record<string, number | ComponentSpec>>): TopologyDefinition {
  const components: ComponentDefinition[] = [];
  for (const component of topology.components) {
    const change = changes[component.name];
    if (change === 0) continue;
    components.push(typeof change === 'number' ? { ...component, parallelism: change } : component);
  }
  for (const [name, change] of Object.entries(changes)) {
    if (typeof change === 'number' || topology.components.some((c) => c.name === name)) continue;
    components.push({
      name,
      kind: 'bolt',
      parallelism: change.parallelism,
      ...(change.resources ? { resources: change.resources } : {}),
      config: {},
      outputs: [],
      inputs: [{ component: topology.components[0]!.name, stream: 'default', grouping: { type: 'shuffle' } }],
    });
  }
  return { ...topology, components };
}

const wordCount = (): TopologyDefinition =>
  packingFixture(
    'word-count-1',
    {
      sentence: { parallelism: 2 },
      split: { parallelism: 3, resources: { cpu: 0.5, ramBytes: 512 * MiB } },
      count: { parallelism: 4, resources: { cpu: 2, ramBytes: 2 * GiB, diskBytes: 512 * MiB } },
    },
    { containers: 2 },
  );

/** Twelve components of assorted sizes, 33 instances. */
const wide = (): TopologyDefinition => {
  const components: Record<string, ComponentSpec> = {};
  for (let i = 0; i < 12; i++) {
    components[`c${i}`] = { parallelism: 1 + (i % 5), resources: { cpu: 0.25 + (i % 4) * 0.25, ramBytes: 256 * MiB * (1 + (i % 5)) } };
  }
  return packingFixture('wide-1', components, { containers: 6 });
};

/** 200 instances over 20 components. */
const large = (): TopologyDefinition => {
  const components: Record<string, ComponentSpec> = {};
  for (let i = 0; i < 20; i++) {
    components[`n${i}`] = { parallelism: 10, resources: { cpu: 0.2 + (i % 5) * 0.2, ramBytes: 192 * MiB + (i % 7) * 128 * MiB } };
  }
  return packingFixture('large-1', components, { containers: 25 });
};

const single = (): TopologyDefinition => packingFixture('single-1', { source: { parallelism: 1 } });

const FIXTURES: ReadonlyArray<readonly [string, () => TopologyDefinition]> = [
  ['a single instance', single],
  ['word count', wordCount],
  ['twelve components of assorted sizes', wide],
  ['200 instances', large],
];

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function sumOf(instances: readonly InstancePlan[]) {
  return instances.reduce((acc, instance) => addResources(acc, instance.resources), ZERO_RESOURCES);
}

/**
 * Everything a plan for `topology` must satisfy whichever algorithm made it: the structural
 * invariants, exactly `parallelism` instances per component, each with its component's resources,
 * and every container within the settings' limits with its padding accounted for.
 */
export function expectPlanHonours(plan: PackingPlan, topology: TopologyDefinition, base: PackingSettings): void {
  const settings = applyPackingHints(base, topology.packing);
  expect(() => checkPackingPlan(plan)).not.toThrow();
  expect(plan.topologyId).toBe(topology.id);
  expect(Object.fromEntries(componentCounts(plan))).toEqual(Object.fromEntries(topology.components.map((c) => [c.name, c.parallelism])));
  const ids = plan.containers.map((c) => c.id);
  expect(ids, 'containers sorted by id').toEqual([...ids].sort((a, b) => a - b));
  const padding = containerPadding(settings);
  const byName = new Map(topology.components.map((c) => [c.name, c]));
  for (const container of plan.containers) {
    expect(container.instances.length, `container ${container.id} is empty`).toBeGreaterThan(0);
    expect(container.instances.length, `container ${container.id} instance count`).toBeLessThanOrEqual(settings.maxInstancesPerContainer);
    const taskIds = container.instances.map((i) => i.taskId);
    expect(taskIds, `instances of container ${container.id} sorted by task id`).toEqual([...taskIds].sort((a, b) => a - b));
    const needed = addResources(sumOf(container.instances), padding);
    expect(fitsWithin(needed, container.required), `container ${container.id} requires its instances plus padding`).toBe(true);
    expect(fitsWithin(container.required, settings.containerMax), `container ${container.id} stays within containerMax`).toBe(true);
    for (const instance of container.instances) {
      const component = byName.get(instance.component)!;
      expect(instance.resources, `resources of ${instance.component} task ${instance.taskId}`).toEqual(
        withDefaults(component.resources, settings.instanceDefaults),
      );
    }
  }
}

/** Where each instance of `plan` runs, by task id. */
function placements(plan: PackingPlan): Map<number, InstancePlan & { readonly containerId: number }> {
  return new Map(allInstances(plan).map((i) => [i.taskId, i]));
}

/**
 * Every instance of `before` that is still in `after` runs in the same container as the same
 * component instance; instances of the `untouched` components are all still there.
 */
export function expectInPlace(before: PackingPlan, after: PackingPlan, untouched: readonly string[]): void {
  const now = placements(after);
  for (const instance of allInstances(before)) {
    const moved = now.get(instance.taskId);
    if (untouched.includes(instance.component))
      expect(moved, `task ${instance.taskId} of untouched '${instance.component}' is gone`).toBeDefined();
    if (!moved) continue;
    expect(
      { component: moved.component, componentIndex: moved.componentIndex, containerId: moved.containerId },
      `task ${instance.taskId} of '${instance.component}'`,
    ).toEqual({ component: instance.component, componentIndex: instance.componentIndex, containerId: instance.containerId });
  }
}

function maxTaskId(plan: PackingPlan): number {
  return allInstances(plan).reduce((max, i) => Math.max(max, i.taskId), 0);
}

function newInstances(before: PackingPlan, after: PackingPlan): Array<InstancePlan & { readonly containerId: number }> {
  const old = placements(before);
  return allInstances(after).filter((i) => !old.has(i.taskId));
}

/** A running plan laid out by hand: one list of component names per container, at the given ids. */
function handMadePlan(
  topology: TopologyDefinition,
  settings: PackingSettings,
  layout: ReadonlyArray<readonly [number, readonly string[]]>,
): PackingPlan {
  const padding = containerPadding(applyPackingHints(settings, topology.packing));
  const byName = new Map(topology.components.map((c) => [c.name, c]));
  const nextIndex = new Map<string, number>();
  let taskId = 1;
  const containers: ContainerPlan[] = layout.map(([id, names]) => {
    const instances = names.map((component): InstancePlan => {
      const componentIndex = nextIndex.get(component) ?? 0;
      nextIndex.set(component, componentIndex + 1);
      return {
        component,
        taskId: taskId++,
        componentIndex,
        resources: withDefaults(byName.get(component)!.resources, settings.instanceDefaults),
      };
    });
    return { id, instances, required: addResources(sumOf(instances), padding) };
  });
  return { topologyId: topology.id, containers };
}

function expectPackingError(run: () => unknown, component: string): void {
  let error: unknown;
  try {
    run();
  } catch (caught) {
    error = caught;
  }
  expect(error, 'expected a PackingError').toBeInstanceOf(PackingError);
  expect((error as Error).message).toContain(`'${component}'`);
}

/**
 * Registers the conformance suite of a packing/repacking algorithm: valid plans for assorted
 * topologies, exact parallelism, determinism, resources and limits honoured, impossible fits
 * reported as `PackingError` naming the component, and the repack contract (running instances stay
 * in place with their task ids, new task ids above every current one, emptied containers dropped,
 * no-op repacks return the same plan).
 */
export function describePackingConformance(name: string, create: () => Algorithm, options: PackingConformanceOptions = {}): void {
  const settings = options.settings ?? DEFAULT_PACKING_SETTINGS;
  const pack = (topology: TopologyDefinition) => create().pack(topology, applyPackingHints(settings, topology.packing));
  const repack = (current: PackingPlan, topology: TopologyDefinition) =>
    create().repack({ current, topology }, applyPackingHints(settings, topology.packing));

  describe(`packing conformance: ${name}`, () => {
    it('has a kebab-case name, the same for packing and repacking', () => {
      const algorithm = create();
      expect(algorithm.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    });

    describe('pack', () => {
      for (const [label, fixture] of FIXTURES) {
        it(`makes a plan that honours topology and settings: ${label}`, () => {
          const topology = fixture();
          expectPlanHonours(pack(topology), topology, settings);
        });
      }

      it('numbers each component 0..parallelism-1 and gives every instance a distinct task id', () => {
        const topology = wide();
        const plan = pack(topology);
        for (const component of topology.components) {
          const indexes = allInstances(plan)
            .filter((i) => i.component === component.name)
            .map((i) => i.componentIndex)
            .sort((a, b) => a - b);
          expect(indexes).toEqual([...Array(component.parallelism).keys()]);
        }
        expect(new Set(allInstances(plan).map((i) => i.taskId)).size).toBe(33);
      });

      it('is deterministic, across calls and across algorithm objects', () => {
        const first = create().pack(large(), applyPackingHints(settings, large().packing));
        const algorithm = create();
        const again = algorithm.pack(large(), applyPackingHints(settings, large().packing));
        const third = algorithm.pack(large(), applyPackingHints(settings, large().packing));
        expect(JSON.stringify(again)).toBe(JSON.stringify(first));
        expect(JSON.stringify(third)).toBe(JSON.stringify(first));
      });

      it('does not modify the topology or the settings', () => {
        const topology = deepFreeze(wordCount());
        const frozen = deepFreeze(applyPackingHints(settings, topology.packing));
        expect(() => create().pack(topology, frozen)).not.toThrow();
      });

      it('fills unset resource dimensions from the instance defaults', () => {
        const topology = packingFixture('partial-1', { only: { parallelism: 2, resources: { cpu: 0.5 } } });
        const plan = pack(topology);
        for (const instance of allInstances(plan)) {
          expect(instance.resources).toEqual({ ...settings.instanceDefaults, cpu: 0.5 });
        }
      });

      it('throws a PackingError naming the component whose instance is larger than a container, in any dimension', () => {
        const max = settings.containerMax;
        for (const resources of [{ ramBytes: max.ramBytes + GiB }, { cpu: max.cpu + 1 }, { diskBytes: max.diskBytes + GiB }]) {
          const topology = packingFixture('too-big-1', { source: { parallelism: 1 }, huge: { parallelism: 1, resources } });
          expectPackingError(() => pack(topology), 'huge');
        }
      });

      it('throws a PackingError naming the component whose instance is below the runtime minimum', () => {
        const { cpu, ramBytes } = settings.minInstance;
        const tiny = [{ cpu: cpu / 2 }, ...(ramBytes > 1 ? [{ ramBytes: Math.floor(ramBytes / 2) }] : [])];
        for (const resources of tiny) {
          const topology = packingFixture('too-small-1', { source: { parallelism: 1 }, tiny: { parallelism: 1, resources } });
          expectPackingError(() => pack(topology), 'tiny');
        }
      });
    });

    describe('repack', () => {
      it('returns an equal plan when no parallelism changes', () => {
        for (const [, fixture] of FIXTURES) {
          const topology = fixture();
          const current = pack(topology);
          expect(plansEqual(repack(current, topology), current)).toBe(true);
        }
      });

      it('scales up: running instances stay in place and new task ids exceed every current one', () => {
        const topology = wordCount();
        const current = pack(topology);
        const scaled = reshaped(topology, { count: 8 });
        const next = repack(current, scaled);
        expectPlanHonours(next, scaled, settings);
        expectInPlace(current, next, ['sentence', 'split', 'count']);
        const added = newInstances(current, next);
        expect(added).toHaveLength(4);
        for (const instance of added) {
          expect(instance.component).toBe('count');
          expect(instance.taskId).toBeGreaterThan(maxTaskId(current));
        }
      });

      it('scales down: survivors stay in place, untouched components are all kept, no container is left empty', () => {
        const topology = wide();
        const current = pack(topology);
        const scaled = reshaped(topology, { c4: 1, c9: 2, c3: 1 });
        const next = repack(current, scaled);
        expectPlanHonours(next, scaled, settings);
        const untouched = topology.components.map((c) => c.name).filter((c) => !['c4', 'c9', 'c3'].includes(c));
        expectInPlace(current, next, untouched);
        expect(newInstances(current, next)).toEqual([]);
        expect(next.containers.length).toBeLessThanOrEqual(current.containers.length);
      });

      it('drops a container whose instances were all removed', () => {
        const topology = packingFixture('freeing-1', { a: { parallelism: 2 }, b: { parallelism: 2 } });
        const current = handMadePlan(topology, settings, [
          [1, ['b', 'b']],
          [2, ['a']],
          [3, ['a']],
        ]);
        const scaled = reshaped(topology, { a: 1 });
        const next = repack(current, scaled);
        expectPlanHonours(next, scaled, settings);
        expect(next.containers).toHaveLength(2);
        expect(next.containers.find((c) => c.id === 1)).toEqual(current.containers[0]);
        expectInPlace(current, next, ['b']);
      });

      it('continues a plan it did not make, with gaps in container ids and task ids', () => {
        const topology = packingFixture('foreign-1', { a: { parallelism: 3 }, b: { parallelism: 2 } });
        const made = handMadePlan(topology, settings, [
          [2, ['a', 'b']],
          [5, ['a']],
          [9, ['a', 'b']],
        ]);
        const current: PackingPlan = {
          ...made,
          containers: made.containers.map((c) => ({ ...c, instances: c.instances.map((i) => ({ ...i, taskId: i.taskId * 10 })) })),
        };
        const scaled = reshaped(topology, { a: 5, b: 4 });
        const next = repack(current, scaled);
        expectPlanHonours(next, scaled, settings);
        expectInPlace(current, next, ['a', 'b']);
        for (const instance of newInstances(current, next)) expect(instance.taskId).toBeGreaterThan(50);
      });

      it('removes the instances of a component dropped from the topology and adds those of a new one', () => {
        const topology = wordCount();
        const current = pack(topology);
        const changed = reshaped(topology, { split: 0, sink: { parallelism: 2, resources: { cpu: 0.5, ramBytes: 256 * MiB } } });
        const next = repack(current, changed);
        expectPlanHonours(next, changed, settings);
        expectInPlace(current, next, ['sentence', 'count']);
        const added = newInstances(current, next);
        expect(added.map((i) => i.component)).toEqual(['sink', 'sink']);
        expect(added.map((i) => i.componentIndex).sort()).toEqual([0, 1]);
        for (const instance of added) expect(instance.taskId).toBeGreaterThan(maxTaskId(current));
      });

      it('goes up and back down: parallelism restored, untouched components in place throughout', () => {
        const topology = large();
        const current = pack(topology);
        const up = reshaped(topology, { n3: 16, n11: 14 });
        const bigger = repack(current, up);
        expectPlanHonours(bigger, up, settings);
        const back = repack(bigger, topology);
        expectPlanHonours(back, topology, settings);
        const untouched = topology.components.map((c) => c.name).filter((c) => c !== 'n3' && c !== 'n11');
        expectInPlace(current, bigger, untouched);
        expectInPlace(bigger, back, untouched);
        expectInPlace(current, back, untouched);
      });

      it('never hands out a task id twice over a series of scale-ups', () => {
        let topology = wordCount();
        let plan = pack(topology);
        const seen = new Set(allInstances(plan).map((i) => i.taskId));
        for (const parallelism of [5, 6, 8]) {
          topology = reshaped(topology, { count: parallelism });
          const next = repack(plan, topology);
          expectPlanHonours(next, topology, settings);
          expectInPlace(plan, next, ['sentence', 'split', 'count']);
          for (const instance of newInstances(plan, next)) {
            expect(seen.has(instance.taskId), `task id ${instance.taskId} reused`).toBe(false);
            seen.add(instance.taskId);
          }
          plan = next;
        }
      });

      it('does not modify the running plan, the topology or the settings', () => {
        const topology = wordCount();
        const current = deepFreeze(pack(topology));
        const scaled = deepFreeze(reshaped(topology, { count: 6, split: 1 }));
        const frozen = deepFreeze(applyPackingHints(settings, scaled.packing));
        expect(() => create().repack({ current, topology: scaled }, frozen)).not.toThrow();
      });

      it('throws a PackingError naming a new component whose instance cannot fit any container', () => {
        const topology = wordCount();
        const current = pack(topology);
        const changed = reshaped(topology, { huge: { parallelism: 1, resources: { ramBytes: settings.containerMax.ramBytes + GiB } } });
        expectPackingError(() => repack(current, changed), 'huge');
      });
    });
  });
}
