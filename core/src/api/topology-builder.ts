import { TopologyError } from '../errors/index.js';
// The zod-free halves of the model: the schemas run at submit, so bundles carry no zod.
import { parseByteAmount } from '../model/byte-amount.js';
import type { ResourceRequest } from '../model/resources.js';
import {
  AUTOSCALE_KEY,
  checkTopologyDefinition,
  ComponentDefinition,
  ComponentKind,
  DEFAULT_STREAM,
  GroupingDefinition,
  InputDefinition,
  PackingHints,
  RuntimeConfigSpec,
  StreamDefinition,
  TopologyDefinition,
} from '../model/topology-definition.js';
import type { Bolt, CustomGrouping, Spout } from './component.js';

const TOPOLOGY_BRAND = Symbol.for('ardea.Topology');

/** Config key under which a component asks for tick tuples, in milliseconds. */
export const TICK_FREQUENCY_KEY = 'tickFrequencyMs';
/** Component config keys of async components (see ComponentDeclarer.maxInFlight, BoltDeclarer.unordered). */
export const MAX_IN_FLIGHT_KEY = 'maxInFlight';
export const ORDERED_KEY = 'ordered';

/**
 * A built topology: its serialisable definition plus the factories that create its components.
 * A topology package default-exports one; every instance imports the package and asks it for the
 * component it runs, so no user object is ever serialised.
 */
export interface Topology {
  readonly definition: TopologyDefinition;
  createSpout(component: string): Spout;
  createBolt(component: string): Bolt;
  createCustomGrouping(name: string): CustomGrouping;
}

export function isTopology(value: unknown): value is Topology {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOPOLOGY_BRAND] === true;
}

/** Resources as authors write them: RAM and disk as byte counts or strings like `512MiB`. */
export interface ResourceSpec {
  readonly cpu?: number;
  readonly ram?: number | string;
  readonly disk?: number | string;
}

interface DraftComponent {
  name: string;
  kind: ComponentKind;
  parallelism: number;
  resources?: ResourceRequest;
  config: Record<string, unknown>;
  outputs: StreamDefinition[];
  inputs: InputDefinition[];
  runtimeConfigSpec: Record<string, RuntimeConfigSpec>;
  factory: () => Spout | Bolt;
}

/** Declares a component's streams, parallelism, resources and config. Methods chain. */
export class ComponentDeclarer<Self extends ComponentDeclarer<Self>> {
  constructor(protected readonly draft: DraftComponent) {}

  /** Declares the fields of the default stream. */
  outputFields(...fields: string[]): Self {
    return this.stream(DEFAULT_STREAM, fields);
  }

  /** Declares a named stream; a direct stream is read only with direct grouping. */
  stream(id: string, fields: readonly string[], options: { direct?: boolean } = {}): Self {
    this.draft.outputs = this.draft.outputs.filter((s) => s.id !== id);
    this.draft.outputs.push({ id, fields: [...fields], ...(options.direct ? { direct: true } : {}) });
    return this.self();
  }

  parallelism(parallelism: number): Self {
    this.draft.parallelism = parallelism;
    return this.self();
  }

  /** Per-instance resources; what is not given comes from the cluster's packing defaults. */
  resources(spec: ResourceSpec): Self {
    const bytes = (what: string, value: number | string | undefined): number | undefined => {
      if (value === undefined) return undefined;
      const parsed = parseByteAmount(value);
      if (parsed === undefined)
        throw new TopologyError(`component '${this.draft.name}': ${what} ${JSON.stringify(value)} is not a byte amount such as 512MiB`);
      return parsed;
    };
    const ramBytes = bytes('ram', spec.ram);
    const diskBytes = bytes('disk', spec.disk);
    this.draft.resources = {
      ...(spec.cpu === undefined ? {} : { cpu: spec.cpu }),
      ...(ramBytes === undefined ? {} : { ramBytes }),
      ...(diskBytes === undefined ? {} : { diskBytes }),
    };
    return this.self();
  }

  config(key: string, value: unknown): Self {
    this.draft.config[key] = value;
    return this.self();
  }

  /**
   * Lets `ardea update --runtime-config` change `key` while the component runs, to values that fit
   * `spec`, e.g. `.runtimeConfig('rate', { type: 'number', min: 0 })`. A component that declares no
   * key accepts changes only of keys its config already has, to values of the same JSON type.
   */
  runtimeConfig(key: string, spec: RuntimeConfigSpec): Self {
    this.draft.runtimeConfigSpec[key] = spec;
    return this.self();
  }

  /**
   * Async components: how many calls of `execute` (bolts) or `nextTuple` (spouts) that returned a
   * promise may be unsettled at once in one instance. 1 (the default) runs them one at a time, in
   * input order; while `n` are in flight the instance takes no more input, so backpressure sees it full.
   */
  maxInFlight(n: number): Self {
    if (!Number.isInteger(n) || n < 1)
      throw new TopologyError(`component '${this.draft.name}': maxInFlight must be a positive integer, got ${n}`);
    return this.config(MAX_IN_FLIGHT_KEY, n);
  }

  /**
   * Bounds the health manager keeps the component's parallelism in. Without `min` the declared
   * parallelism is the floor; without `max` only the health manager's `maxParallelism` caps it.
   * `healthmgr.components.<name>.min/max` in the cluster config overrides either.
   */
  autoscale(bounds: { readonly min?: number; readonly max?: number }): Self {
    const { min, max } = bounds;
    for (const [key, value] of Object.entries({ min, max })) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1))
        throw new TopologyError(`component '${this.draft.name}': autoscale ${key} must be a whole number of at least 1, got ${value}`);
    }
    if (min !== undefined && max !== undefined && min > max)
      throw new TopologyError(`component '${this.draft.name}': autoscale min ${min} is above max ${max}`);
    return this.config(AUTOSCALE_KEY, { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) });
  }

  /** Delivers a tick tuple on `__tick` every `ms` milliseconds (bolts only). */
  tickFrequency(ms: number): Self {
    if (!(ms > 0))
      throw new TopologyError(`component '${this.draft.name}': tick frequency must be a positive number of milliseconds, got ${ms}`);
    return this.config(TICK_FREQUENCY_KEY, ms);
  }

  protected self(): Self {
    return this as unknown as Self;
  }
}

export class SpoutDeclarer extends ComponentDeclarer<SpoutDeclarer> {}

/** Adds a bolt's subscriptions: one grouping per (component, stream) it reads. */
export class BoltDeclarer extends ComponentDeclarer<BoltDeclarer> {
  constructor(
    draft: DraftComponent,
    private readonly registerGrouping: (name: string, factory: () => CustomGrouping) => void,
  ) {
    super(draft);
  }

  /**
   * At-least-once: every tuple the bolt emits while executing an input is anchored to it, and the
   * input is acked when `execute` returns (failed when it throws), so the bolt needs no ack calls.
   */
  autoAck(enabled = true): BoltDeclarer {
    return this.config('autoAck', enabled);
  }

  /**
   * With `maxInFlight` above 1: what an execute emits (and acks) leaves as soon as it is made, not in
   * input order (the default holds it until every earlier execute has finished).
   */
  unordered(enabled = true): BoltDeclarer {
    return this.config(ORDERED_KEY, !enabled);
  }

  /** Tuples go to a random instance, evenly. */
  shuffleGrouping(component: string, stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'shuffle' });
  }

  /** Tuples with equal values in `fields` go to the same instance. */
  fieldsGrouping(component: string, fields: readonly string[], stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'fields', fields: [...fields] });
  }

  /** Every instance receives every tuple. */
  allGrouping(component: string, stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'all' });
  }

  /** Every tuple goes to the instance with the lowest task id. */
  globalGrouping(component: string, stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'global' });
  }

  /** The emitter picks the task with `emitDirect`; the stream must be declared direct. */
  directGrouping(component: string, stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'direct' });
  }

  /** No preference; behaves as shuffle. */
  noneGrouping(component: string, stream = DEFAULT_STREAM): BoltDeclarer {
    return this.subscribe(component, stream, { type: 'none' });
  }

  /** The emitting instance asks `grouping` which tasks receive each tuple. */
  customGrouping(component: string, name: string, grouping: () => CustomGrouping, stream = DEFAULT_STREAM): BoltDeclarer {
    this.registerGrouping(name, grouping);
    return this.subscribe(component, stream, { type: 'custom', name });
  }

  private subscribe(component: string, stream: string, grouping: GroupingDefinition): BoltDeclarer {
    if (this.draft.inputs.some((i) => i.component === component && i.stream === stream)) {
      throw new TopologyError(`bolt '${this.draft.name}' subscribes to '${component}/${stream}' twice; use one grouping per stream`);
    }
    this.draft.inputs.push({ component, stream, grouping });
    return this;
  }
}

/**
 * Builds a topology in code. `build()` validates the whole DAG and fails with a clear
 * `TopologyError` (unknown component, cycle, undeclared stream or field) at submit time rather than
 * at run time.
 *
 * ```ts
 * const builder = new TopologyBuilder('word-count');
 * builder.setSpout('sentence', () => new SentenceSpout()).outputFields('sentence');
 * builder.setBolt('split', () => new SplitBolt(), 2).shuffleGrouping('sentence').outputFields('word');
 * builder.setBolt('count', () => new CountBolt(), 2).fieldsGrouping('split', ['word']).outputFields('word', 'count');
 * export default builder.build();
 * ```
 */
export class TopologyBuilder {
  private readonly components = new Map<string, DraftComponent>();
  private readonly groupings = new Map<string, () => CustomGrouping>();
  private readonly topologyConfig: Record<string, unknown> = {};
  private packingHints: PackingHints = {};

  constructor(private readonly name: string) {}

  setSpout(name: string, factory: () => Spout, parallelism = 1): SpoutDeclarer {
    return new SpoutDeclarer(this.add(name, 'spout', factory, parallelism));
  }

  setBolt(name: string, factory: () => Bolt, parallelism = 1): BoltDeclarer {
    return new BoltDeclarer(this.add(name, 'bolt', factory, parallelism), (groupingName, groupingFactory) => {
      const existing = this.groupings.get(groupingName);
      if (existing && existing !== groupingFactory)
        throw new TopologyError(`custom grouping '${groupingName}' is registered twice with different factories`);
      this.groupings.set(groupingName, groupingFactory);
    });
  }

  /** Topology-wide config, visible to every component through its context. */
  config(key: string, value: unknown): this {
    this.topologyConfig[key] = value;
    return this;
  }

  /** How many containers to spread instances over, for algorithms that take a count. */
  containers(count: number): this {
    this.packingHints = { ...this.packingHints, containers: count };
    return this;
  }

  packing(hints: PackingHints): this {
    this.packingHints = { ...this.packingHints, ...hints };
    return this;
  }

  build(): Topology {
    const components: ComponentDefinition[] = [...this.components.values()].map((draft) => ({
      name: draft.name,
      kind: draft.kind,
      parallelism: draft.parallelism,
      ...(draft.resources ? { resources: draft.resources } : {}),
      config: { ...draft.config },
      outputs: draft.outputs.map((s) => ({ ...s })),
      inputs: draft.inputs.map((i) => ({ ...i })),
      ...(Object.keys(draft.runtimeConfigSpec).length > 0 ? { runtimeConfigSpec: { ...draft.runtimeConfigSpec } } : {}),
    }));
    for (const component of components) {
      if (component.kind === 'spout' && component.config[TICK_FREQUENCY_KEY] !== undefined) {
        throw new TopologyError(`spout '${component.name}' asks for tick tuples; only bolts receive them`);
      }
    }
    const definition = checkTopologyDefinition({
      name: this.name,
      id: this.name,
      components,
      config: { ...this.topologyConfig },
      ...(Object.keys(this.packingHints).length > 0 ? { packing: this.packingHints } : {}),
    });
    const factories = new Map([...this.components.values()].map((d) => [d.name, d]));
    const groupings = new Map(this.groupings);
    const create = (component: string, kind: ComponentKind) => {
      const draft = factories.get(component);
      if (!draft) throw new TopologyError(`topology '${definition.name}' has no component '${component}'`);
      if (draft.kind !== kind) throw new TopologyError(`component '${component}' is a ${draft.kind}, not a ${kind}`);
      return draft.factory();
    };
    return {
      [TOPOLOGY_BRAND]: true,
      definition,
      createSpout: (component: string) => create(component, 'spout') as Spout,
      createBolt: (component: string) => create(component, 'bolt') as Bolt,
      createCustomGrouping: (name: string) => {
        const factory = groupings.get(name);
        if (!factory) throw new TopologyError(`topology '${definition.name}' has no custom grouping '${name}'`);
        return factory();
      },
    } as Topology;
  }

  private add(name: string, kind: ComponentKind, factory: () => Spout | Bolt, parallelism: number): DraftComponent {
    if (this.components.has(name)) throw new TopologyError(`component '${name}' is defined twice in topology '${this.name}'`);
    if (typeof factory !== 'function') {
      throw new TopologyError(
        `${kind} '${name}': pass a factory such as () => new My${kind === 'spout' ? 'Spout' : 'Bolt'}(), not an instance`,
      );
    }
    const draft: DraftComponent = { name, kind, parallelism, config: {}, outputs: [], inputs: [], runtimeConfigSpec: {}, factory };
    this.components.set(name, draft);
    return draft;
  }
}
