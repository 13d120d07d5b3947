import { TopologyError } from '../errors/index.js';
import type { ResourceRequest } from './resources.js';

/**
 * The serialisable description of a topology: what `TopologyBuilder` produces, what the state
 * manager stores under `/topologies/<name>`, and what packing reads. It holds no code: every instance
 * re-imports the topology package to construct its spout or bolt.
 */
export interface TopologyDefinition {
  readonly name: string;
  /** Unique per submission (`<name>-<random>`), so a resubmitted topology never reuses old state. */
  readonly id: string;
  readonly components: readonly ComponentDefinition[];
  /** Free-form topology config; components read it through their context. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Hints for the packing algorithm; the cluster's packing.yaml supplies whatever is not set here. */
  readonly packing?: PackingHints;
}

export interface PackingHints {
  /** Number of containers for algorithms that take one (round-robin, resource-compliant round-robin). */
  readonly containers?: number;
  /** Upper bound of one container; the cluster's limit applies when absent. */
  readonly containerResources?: ResourceRequest;
  readonly maxInstancesPerContainer?: number;
}

export type ComponentKind = 'spout' | 'bolt';

export interface ComponentDefinition {
  readonly name: string;
  readonly kind: ComponentKind;
  readonly parallelism: number;
  /** Per-instance resources; unset dimensions come from the packing defaults. */
  readonly resources?: ResourceRequest;
  readonly config: Readonly<Record<string, unknown>>;
  readonly outputs: readonly StreamDefinition[];
  /** Subscriptions of a bolt; always empty for spouts. */
  readonly inputs: readonly InputDefinition[];
  /**
   * Config keys `ardea update --runtime-config` may change while the component runs, and the values
   * each accepts. A component that declares none accepts changes of keys its config already has, to
   * values of the same JSON type.
   */
  readonly runtimeConfigSpec?: Readonly<Record<string, RuntimeConfigSpec>>;
}

/** What values a runtime-settable config key accepts. */
export type RuntimeConfigSpec =
  | { readonly type: 'number' | 'integer'; readonly min?: number; readonly max?: number }
  | { readonly type: 'string' }
  | { readonly type: 'boolean' }
  | { readonly type: 'enum'; readonly values: ReadonlyArray<string | number | boolean> };

/** Why `value` does not fit `spec` (e.g. "an integer ≥ 0"), or undefined when it does. */
export function runtimeConfigMismatch(spec: RuntimeConfigSpec, value: unknown): string | undefined {
  const expected = describeRuntimeConfigSpec(spec);
  switch (spec.type) {
    case 'number':
    case 'integer': {
      const fits = typeof value === 'number' && Number.isFinite(value) && (spec.type === 'number' || Number.isInteger(value));
      return fits && (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max) ? undefined : expected;
    }
    case 'string':
    case 'boolean':
      return typeof value === spec.type ? undefined : expected;
    case 'enum':
      return spec.values.includes(value as string | number | boolean) ? undefined : expected;
  }
}

export function describeRuntimeConfigSpec(spec: RuntimeConfigSpec): string {
  switch (spec.type) {
    case 'number':
    case 'integer': {
      const bounds = [spec.min === undefined ? '' : `≥ ${spec.min}`, spec.max === undefined ? '' : `≤ ${spec.max}`]
        .filter(Boolean)
        .join(' and ');
      return `${spec.type === 'number' ? 'a number' : 'an integer'}${bounds ? ` ${bounds}` : ''}`;
    }
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
}

export const DEFAULT_STREAM = 'default';

export interface StreamDefinition {
  readonly id: string;
  readonly fields: readonly string[];
  /** A direct stream is consumed only through direct grouping: the emitter picks the task. */
  readonly direct?: boolean;
}

export interface InputDefinition {
  readonly component: string;
  readonly stream: string;
  readonly grouping: GroupingDefinition;
}

export type GroupingDefinition =
  | { readonly type: 'shuffle' }
  | { readonly type: 'fields'; readonly fields: readonly string[] }
  | { readonly type: 'all' }
  | { readonly type: 'global' }
  | { readonly type: 'direct' }
  | { readonly type: 'custom'; readonly name: string }
  | { readonly type: 'none' };

/**
 * Size limits of one topology. Every instance is a worker thread with its own heap, so far fewer fit
 * on any real pool; the limits exist so that a typo (`count:1000000000`) fails with a clear error
 * instead of exhausting the memory of whoever packs the plan.
 */
export const MAX_COMPONENT_PARALLELISM = 10_000;
export const MAX_TOPOLOGY_INSTANCES = 50_000;
export const MAX_CONTAINERS = 10_000;

/** Topology and component names: safe as file names, znode names and URL segments. */
export const TOPOLOGY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
export const NAME_RULE = "must be 1-63 letters, digits, '-' or '_', starting with a letter or digit";

/**
 * Checks meaning without a schema library, so that the topology API (and every bundle made with it)
 * stays free of zod: names, parallelism, unique names, spouts without inputs, every input names a
 * declared component and stream, fields groupings name declared fields, direct groupings read direct
 * streams, no cycles, sizes within {@link checkTopologySize}. The shape of a definition that did not
 * come from `TopologyBuilder` is checked by `validateTopology`, at submit. Throws one
 * {@link TopologyError} naming the component and the problem.
 */
export function checkTopologyDefinition(topology: TopologyDefinition): TopologyDefinition {
  if (!TOPOLOGY_NAME_PATTERN.test(topology.name)) throw new TopologyError(`topology name '${topology.name}' ${NAME_RULE}`);
  if (topology.components.length === 0)
    throw new TopologyError(`topology '${topology.name}' has no components; a topology needs at least one component`);
  for (const component of topology.components) {
    if (!TOPOLOGY_NAME_PATTERN.test(component.name))
      throw new TopologyError(`topology '${topology.name}': component name '${component.name}' ${NAME_RULE}`);
    if (!Number.isInteger(component.parallelism) || component.parallelism < 1)
      throw new TopologyError(
        `component '${component.name}': parallelism must be a whole number of at least 1, got ${component.parallelism}`,
      );
  }
  checkTopologySize(topology);
  const byName = new Map<string, ComponentDefinition>();
  for (const component of topology.components) {
    if (byName.has(component.name)) {
      throw new TopologyError(`topology '${topology.name}': component name '${component.name}' is used twice; names must be unique`);
    }
    byName.set(component.name, component);
    const streamIds = new Set<string>();
    for (const stream of component.outputs) {
      if (stream.id.startsWith('__')) {
        throw new TopologyError(
          `component '${component.name}': stream id '${stream.id}' is reserved (ids starting with '__' belong to the system)`,
        );
      }
      if (streamIds.has(stream.id)) throw new TopologyError(`component '${component.name}': stream '${stream.id}' is declared twice`);
      streamIds.add(stream.id);
      const duplicateField = stream.fields.find((field, index) => stream.fields.indexOf(field) !== index);
      if (duplicateField !== undefined) {
        throw new TopologyError(`component '${component.name}': stream '${stream.id}' declares field '${duplicateField}' twice`);
      }
    }
  }
  if (!topology.components.some((c) => c.kind === 'spout')) {
    throw new TopologyError(`topology '${topology.name}' has no spout; at least one component must be a spout`);
  }
  for (const component of topology.components) {
    if (component.kind === 'spout' && component.inputs.length > 0) {
      throw new TopologyError(`spout '${component.name}' subscribes to streams; only bolts may have inputs`);
    }
    if (component.kind === 'bolt' && component.inputs.length === 0) {
      throw new TopologyError(`bolt '${component.name}' has no inputs; subscribe it to a stream with a grouping`);
    }
    for (const input of component.inputs) checkInput(component, input, byName);
    checkRuntimeConfigSpec(topology, component);
  }
  checkAcyclic(topology, byName);
  return topology;
}

function checkInput(component: ComponentDefinition, input: InputDefinition, byName: Map<string, ComponentDefinition>): void {
  const source = byName.get(input.component);
  if (!source) {
    throw new TopologyError(
      `bolt '${component.name}' subscribes to unknown component '${input.component}'; known: ${[...byName.keys()].join(', ')}`,
    );
  }
  const stream = source.outputs.find((s) => s.id === input.stream);
  if (!stream) {
    const declared = source.outputs.map((s) => s.id).join(', ') || 'none';
    throw new TopologyError(
      `bolt '${component.name}' subscribes to stream '${input.stream}' of '${input.component}', ` +
        `which declares no such stream (declared: ${declared})`,
    );
  }
  const grouping = input.grouping;
  if (grouping.type === 'fields') {
    const missing = grouping.fields.filter((field) => !stream.fields.includes(field));
    if (missing.length > 0) {
      throw new TopologyError(
        `bolt '${component.name}' groups '${input.component}/${input.stream}' by ` +
          `field(s) ${missing.map((f) => `'${f}'`).join(', ')}, not declared by that stream ` +
          `(fields: ${stream.fields.join(', ') || 'none'})`,
      );
    }
  }
  if (grouping.type === 'direct' && !stream.direct) {
    throw new TopologyError(
      `bolt '${component.name}' uses direct grouping on '${input.component}/${input.stream}', which is not declared as a direct stream`,
    );
  }
  if (grouping.type !== 'direct' && stream.direct) {
    throw new TopologyError(
      `bolt '${component.name}' reads direct stream '${input.component}/${input.stream}' ` +
        `with ${grouping.type} grouping; direct streams need direct grouping`,
    );
  }
}

/** Declared runtime keys: sensible bounds, and the value the component starts with fits. */
function checkRuntimeConfigSpec(topology: TopologyDefinition, component: ComponentDefinition): void {
  for (const [key, spec] of Object.entries(component.runtimeConfigSpec ?? {})) {
    if (key.startsWith('__'))
      throw new TopologyError(
        `component '${component.name}': runtime config key '${key}' is reserved (keys starting with '__' belong to the engine)`,
      );
    if ((spec.type === 'number' || spec.type === 'integer') && spec.min !== undefined && spec.max !== undefined && spec.min > spec.max) {
      throw new TopologyError(`component '${component.name}': runtime config key '${key}' has min ${spec.min} above max ${spec.max}`);
    }
    const initial = key in component.config ? component.config[key] : topology.config[key];
    const mismatch = initial === undefined ? undefined : runtimeConfigMismatch(spec, initial);
    if (mismatch)
      throw new TopologyError(
        `component '${component.name}': config ${key}=${JSON.stringify(initial)} is not what it declares for ${key}: ${mismatch}`,
      );
  }
}

function checkAcyclic(topology: TopologyDefinition, byName: Map<string, ComponentDefinition>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): void => {
    const mark = state.get(name);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name].join(' -> ');
      throw new TopologyError(`topology '${topology.name}' has a cycle: ${cycle}; streams must form a DAG`);
    }
    state.set(name, 'visiting');
    path.push(name);
    for (const input of byName.get(name)?.inputs ?? []) visit(input.component);
    path.pop();
    state.set(name, 'done');
  };
  for (const component of topology.components) visit(component.name);
}

/**
 * Refuses a component above {@link MAX_COMPONENT_PARALLELISM} instances and a topology above
 * {@link MAX_TOPOLOGY_INSTANCES}, naming the component and the limit.
 */
export function checkTopologySize(topology: Pick<TopologyDefinition, 'name' | 'components'>): void {
  let total = 0;
  for (const component of topology.components) {
    if (component.parallelism > MAX_COMPONENT_PARALLELISM) {
      throw new TopologyError(
        `component '${component.name}' of topology '${topology.name}': ` +
          `parallelism ${component.parallelism} is above the limit of ${MAX_COMPONENT_PARALLELISM} instances per component`,
      );
    }
    total += component.parallelism;
  }
  if (total > MAX_TOPOLOGY_INSTANCES) {
    throw new TopologyError(
      `topology '${topology.name}' would have ${total} instances, above the limit of ${MAX_TOPOLOGY_INSTANCES} instances per topology`,
    );
  }
}

/** Components in an order where every component comes after all components it reads from. */
export function topologicalOrder(topology: TopologyDefinition): ComponentDefinition[] {
  const byName = new Map(topology.components.map((c) => [c.name, c]));
  const ordered: ComponentDefinition[] = [];
  const seen = new Set<string>();
  const visit = (component: ComponentDefinition): void => {
    if (seen.has(component.name)) return;
    seen.add(component.name);
    for (const input of component.inputs) {
      const source = byName.get(input.component);
      if (source) visit(source);
    }
    ordered.push(component);
  };
  for (const component of topology.components) visit(component);
  return ordered;
}

/** Returns a copy with new parallelism for the named components, within the size limits. */
export function withParallelism(topology: TopologyDefinition, parallelism: Readonly<Record<string, number>>): TopologyDefinition {
  for (const name of Object.keys(parallelism)) {
    if (!topology.components.some((c) => c.name === name)) {
      throw new TopologyError(`topology '${topology.name}' has no component '${name}'`);
    }
  }
  const scaled = {
    ...topology,
    components: topology.components.map((c) => (parallelism[c.name] === undefined ? c : { ...c, parallelism: parallelism[c.name]! })),
  };
  checkTopologySize(scaled);
  return scaled;
}

/**
 * Runtime config key the engine reserves on an emitting component: shuffle weights per target task
 * id (a health policy routes around a slow instance with it). Keys starting with `__` belong to the engine.
 */
export const SHUFFLE_WEIGHTS_KEY = '__shuffleWeights';

/**
 * Component config key of the health manager's bounds, `{ min?, max? }`, set by the declarers'
 * `autoscale()`; the health manager never scales the component outside them.
 */
export const AUTOSCALE_KEY = 'autoscale';

/**
 * Component config key the first `update` that changes a component's parallelism stamps with the
 * parallelism it was submitted with: the health manager's default floor, which must outlive updates.
 */
export const DECLARED_PARALLELISM_KEY = '__declaredParallelism';
