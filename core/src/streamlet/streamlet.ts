import { type Bolt, type ComponentContext, type Spout, type StateKey, type Topology, TopologyBuilder } from '../api/index.js';
import { TopologyError } from '../errors/index.js';
import {
  DATA_FIELDS,
  type InputSpec,
  JoinBolt,
  type JoinType,
  type Reducer,
  ReduceByKeyBolt,
  type Sink,
  SinkBolt,
  type SourceOptions,
  type SourceSpec,
  SourceSpout,
  type Step,
  StepBolt,
  WATERMARK_FIELDS,
  WATERMARK_STREAM,
  WindowReduceBolt,
} from './components.js';
import type { WindowConfig, WindowedValue } from './window.js';

const DEFAULT_STREAM = 'default';

/** How an operator reads one input: spread evenly, by key (fields grouping on `key`), or by the user's partitioner. */
export type Routing =
  | { readonly type: 'shuffle' }
  | { readonly type: 'key' }
  | { readonly type: 'custom'; readonly choose: (element: unknown, partitions: number) => number | readonly number[] };

export interface Edge {
  readonly node: OperatorNode;
  readonly stream: string;
  readonly routing: Routing;
}

export interface OperatorNode {
  name: string;
  readonly operator: string;
  parallelism: number | undefined;
  readonly kind: 'spout' | 'bolt';
  readonly inputs: readonly Edge[];
  /** Whether its elements are `[key, value]` pairs. */
  readonly keyed: boolean;
  /** Data streams it emits on; none for a sink. */
  readonly streams: readonly string[];
  readonly config: Record<string, unknown>;
  readonly create: (inputs: readonly InputSpec[]) => Spout | Bolt;
}

/** The operators of one streamlet topology, in the order they were added (every input before its consumers). */
export class Graph {
  readonly nodes: OperatorNode[] = [];
  private counter = 0;

  add(node: Omit<OperatorNode, 'name' | 'parallelism' | 'config'>): OperatorNode {
    for (const input of node.inputs)
      if (input.node.streams.length === 0) throw new TopologyError(`'${input.node.name}' is a sink: nothing can read from it`);
    const full: OperatorNode = { ...node, name: `${node.operator}-${++this.counter}`, parallelism: undefined, config: {} };
    this.nodes.push(full);
    return full;
  }
}

/** Settings every operator has: its component name, its parallelism, and component config its functions can read. */
abstract class Operator {
  constructor(
    /** @internal */ readonly graph: Graph,
    /** @internal */ readonly node: OperatorNode,
  ) {}

  /** The component's name in the topology (metrics, `ardea update`, `--config-property <name>.<key>`); default `<operator>-<n>`. */
  setName(name: string): this {
    if (this.graph.nodes.some((node) => node !== this.node && node.name === name))
      throw new TopologyError(`streamlet name '${name}' is used twice; names must be unique`);
    this.node.name = name;
    return this;
  }

  /** How many instances run the operator; default: as many as its input (1 for a source). */
  setNumPartitions(partitions: number): this {
    if (!Number.isSafeInteger(partitions) || partitions < 1)
      throw new TopologyError(`'${this.node.name}': the number of partitions must be a whole number of at least 1, got ${partitions}`);
    this.node.parallelism = partitions;
    return this;
  }

  /** Component config, visible in `context.config` of the operator's sink or spout. */
  config(key: string, value: unknown): this {
    this.node.config[key] = value;
    return this;
  }

  getName(): string {
    return this.node.name;
  }
}

/** The end of a streamlet: a sink, named and sized like any operator. */
export class StreamletSink extends Operator {}

/**
 * A stream of elements of type `T`, compiled to a component of the topology. Every operator returns
 * a new streamlet (or sink); elements cross between instances as tuple values, so they must be values
 * a tuple can carry (plain objects, arrays, strings, numbers… — docs/engine.md, "Values").
 */
export class Streamlet<T> extends Operator {
  constructor(
    graph: Graph,
    node: OperatorNode,
    /** @internal */ readonly stream: string = DEFAULT_STREAM,
  ) {
    super(graph, node);
  }

  protected edge(routing: Routing = { type: 'shuffle' }): Edge {
    return { node: this.node, stream: this.stream, routing };
  }

  protected step<U>(operator: string, step: Step, inputs: readonly Edge[] = [this.edge()]): Streamlet<U> {
    return new Streamlet<U>(this.graph, this.graph.add(stepNode(operator, inputs, step, false)));
  }

  /** Each element transformed by `fn`. */
  map<U>(fn: (element: T) => U): Streamlet<U> {
    return this.step('map', (element, out) => out.emit(fn(element as T)));
  }

  /** Each element replaced by the elements `fn` returns (none, one or many). */
  flatMap<U>(fn: (element: T) => Iterable<U>): Streamlet<U> {
    return this.step('flatMap', (element, out) => {
      for (const value of fn(element as T)) out.emit(value);
    });
  }

  /** The elements for which `predicate` holds. */
  filter<S extends T>(predicate: (element: T) => element is S): Streamlet<S>;
  filter(predicate: (element: T) => boolean): Streamlet<T>;
  filter(predicate: (element: T) => boolean): Streamlet<T> {
    return this.step('filter', (element, out) => {
      if (predicate(element as T)) out.emit(element);
    });
  }

  /** The elements of this streamlet and of `other`, interleaved. */
  union(other: Streamlet<T>): Streamlet<T> {
    if (other.node === this.node && other.stream === this.stream)
      throw new TopologyError(`'${this.node.name}': a streamlet cannot be unioned with itself; clone it first`);
    return this.step('union', (element, out) => out.emit(element), [this.edge(), other.edge()]);
  }

  /** `copies` streamlets that each carry every element of this one. */
  clone(copies: number): Streamlet<T>[] {
    if (!Number.isSafeInteger(copies) || copies < 1)
      throw new TopologyError(`'${this.node.name}': clone needs at least 1 copy, got ${copies}`);
    return Array.from({ length: copies }, () => this.step<T>('clone', (element, out) => out.emit(element)));
  }

  /**
   * The same elements spread over `partitions` instances: evenly, or to the partitions (0-based) that
   * `partitioner` picks for each element.
   */
  repartition(partitions: number, partitioner?: (element: T, partitions: number) => number | readonly number[]): Streamlet<T> {
    const routing: Routing = partitioner
      ? { type: 'custom', choose: partitioner as (element: unknown, partitions: number) => number | readonly number[] }
      : { type: 'shuffle' };
    return this.step<T>('repartition', (element, out) => out.emit(element), [this.edge(routing)]).setNumPartitions(partitions);
  }

  /** Pairs `[key, value]` of each element; keyed operators route by the key, so keys are strings or numbers. */
  keyBy<K extends StateKey>(key: (element: T) => K): KeyedStreamlet<K, T>;
  keyBy<K extends StateKey, V>(key: (element: T) => K, value: (element: T) => V): KeyedStreamlet<K, V>;
  keyBy<K extends StateKey, V>(key: (element: T) => K, value?: (element: T) => V): KeyedStreamlet<K, V | T> {
    const node = this.graph.add(
      stepNode('keyBy', [this.edge()], (element, out) => out.emitKeyed(key(element as T), value ? value(element as T) : element), true),
    );
    return new KeyedStreamlet(this.graph, node);
  }

  /**
   * One streamlet per name, each with the elements its predicate holds for (an element may go to
   * several, or none). The streamlets share one operator: naming or sizing one names or sizes it.
   */
  split<N extends string>(predicates: Record<N, (element: T) => boolean>): Record<N, Streamlet<T>> {
    const names = Object.keys(predicates) as N[];
    if (names.length === 0) throw new TopologyError(`'${this.node.name}': split needs at least one named predicate`);
    for (const name of names)
      if (name === DEFAULT_STREAM || name === WATERMARK_STREAM)
        throw new TopologyError(`'${this.node.name}': split stream name '${name}' is reserved; pick another`);
    const tests = names.map((name) => [name, predicates[name]] as const);
    const node = this.graph.add({
      operator: 'split',
      kind: 'bolt',
      inputs: [this.edge()],
      keyed: false,
      streams: names,
      create: (inputs) =>
        new StepBolt(inputs, (element, out) => {
          for (const [name, test] of tests) if (test(element as T)) out.emitTo(name, element);
        }),
    });
    return Object.fromEntries(names.map((name) => [name, new Streamlet<T>(this.graph, node, name)])) as Record<N, Streamlet<T>>;
  }

  /** Calls `fn` with every element, in the operator's instances. */
  consume(fn: (element: T) => void): StreamletSink {
    return this.toSink(() => ({ put: fn }));
  }

  /**
   * Hands every element to a sink the factory makes per instance: a {@link Sink} (`open`, `put`,
   * `close`), or a Bolt, which gets the tuples as they travel (fields `key`, `value`, `ts`).
   */
  toSink(factory: () => Sink<T> | Bolt): StreamletSink {
    const node = this.graph.add({
      operator: 'sink',
      kind: 'bolt',
      inputs: [this.edge()],
      keyed: false,
      streams: [],
      create: (inputs) => new SinkBolt(inputs, factory as () => Sink<unknown> | Bolt),
    });
    return new StreamletSink(this.graph, node);
  }
}

/**
 * A streamlet of `[key, value]` pairs, routed by key to the operators below (fields grouping on the
 * key), whose keyed state lives in `State` under effectively-once.
 */
export class KeyedStreamlet<K extends StateKey, V> extends Streamlet<[K, V]> {
  private keyed<U>(
    operator: string,
    create: (inputs: readonly InputSpec[]) => Bolt,
    keyedOutput: boolean,
    inputs = [this.edge({ type: 'key' })],
  ) {
    const node = this.graph.add({ operator, kind: 'bolt', inputs, keyed: keyedOutput, streams: [DEFAULT_STREAM], create });
    return { node, streamlet: keyedOutput ? new KeyedStreamlet<K, U>(this.graph, node) : undefined };
  }

  /** The running value per key, folded from the key's first value (or from `initial`), emitted as each element updates it. */
  reduceByKey(reducer: (accumulator: V, value: V) => V): KeyedStreamlet<K, V>;
  reduceByKey<A>(initial: A, reducer: (accumulator: A, value: V) => A): KeyedStreamlet<K, A>;
  reduceByKey(...args: unknown[]): KeyedStreamlet<K, unknown> {
    const reducer = reducerOf(args);
    return this.keyed<unknown>('reduceByKey', (inputs) => new ReduceByKeyBolt(inputs, reducer), true).streamlet!;
  }

  /** How many elements each key has had so far, emitted as each element arrives. */
  countByKey(): KeyedStreamlet<K, number> {
    return this.keyed<number>('countByKey', (inputs) => new ReduceByKeyBolt(inputs, COUNT), true).streamlet!;
  }

  /** One folded value per key and window, emitted when the window fires. */
  reduceByKeyAndWindow(window: WindowConfig, reducer: (accumulator: V, value: V) => V): Streamlet<WindowedValue<K, V>>;
  reduceByKeyAndWindow<A>(window: WindowConfig, initial: A, reducer: (accumulator: A, value: V) => A): Streamlet<WindowedValue<K, A>>;
  reduceByKeyAndWindow(window: WindowConfig, ...args: unknown[]): Streamlet<WindowedValue<K, unknown>> {
    const reducer = reducerOf(args);
    const { node } = this.keyed('reduceByKeyAndWindow', (inputs) => new WindowReduceBolt(inputs, window, reducer), false);
    return new Streamlet(this.graph, node);
  }

  /** How many elements each key has in each window, emitted when the window fires. */
  countByKeyAndWindow(window: WindowConfig): Streamlet<WindowedValue<K, number>> {
    const { node } = this.keyed('countByKeyAndWindow', (inputs) => new WindowReduceBolt(inputs, window, COUNT), false);
    return new Streamlet(this.graph, node);
  }

  /** For each key and time window, `join(l, r)` of every pair of this streamlet's and `other`'s values. */
  join<R, T>(other: KeyedStreamlet<K, R>, window: WindowConfig, join: (left: V, right: R) => T): Streamlet<WindowedValue<K, T>> {
    return this.joined('join', 'inner', other, window, join as (left: unknown, right: unknown) => unknown);
  }

  /** As {@link join}, plus `join(l, undefined)` for each value of this streamlet with no partner in its window. */
  leftJoin<R, T>(
    other: KeyedStreamlet<K, R>,
    window: WindowConfig,
    join: (left: V, right: R | undefined) => T,
  ): Streamlet<WindowedValue<K, T>> {
    return this.joined('leftJoin', 'left', other, window, join as (left: unknown, right: unknown) => unknown);
  }

  /** As {@link leftJoin}, plus `join(undefined, r)` for each value of `other` with no partner in its window. */
  outerJoin<R, T>(
    other: KeyedStreamlet<K, R>,
    window: WindowConfig,
    join: (left: V | undefined, right: R | undefined) => T,
  ): Streamlet<WindowedValue<K, T>> {
    return this.joined('outerJoin', 'outer', other, window, join as (left: unknown, right: unknown) => unknown);
  }

  private joined(
    operator: string,
    type: JoinType,
    other: KeyedStreamlet<K, unknown>,
    window: WindowConfig,
    join: (left: unknown, right: unknown) => unknown,
  ): Streamlet<WindowedValue<K, never>> {
    if (window.kind !== 'time')
      throw new TopologyError(
        `'${this.node.name}': ${operator} takes a time window (WindowConfig.tumblingTime or slidingTime), not a count window`,
      );
    if (other.node === this.node && other.stream === this.stream)
      throw new TopologyError(`'${this.node.name}': a streamlet cannot be joined with itself; clone it and join the clones`);
    const { node } = this.keyed(operator, (inputs) => new JoinBolt(inputs, window, type, join), false, [
      this.edge({ type: 'key' }),
      other.edge({ type: 'key' }),
    ]);
    return new Streamlet(this.graph, node);
  }
}

const COUNT: Reducer = { initial: { value: 0 }, fn: (count) => (count as number) + 1 };

function reducerOf(args: unknown[]): Reducer {
  const fn = args[args.length - 1];
  if (typeof fn !== 'function')
    throw new TopologyError(`a reduce operator needs a reducer function as its last argument, got ${typeof fn}`);
  return args.length >= 2 ? { initial: { value: args[0] }, fn: fn as Reducer['fn'] } : { fn: fn as Reducer['fn'] };
}

function stepNode(
  operator: string,
  inputs: readonly Edge[],
  step: Step,
  keyed: boolean,
): Omit<OperatorNode, 'name' | 'parallelism' | 'config'> {
  return { operator, kind: 'bolt', inputs, keyed, streams: [DEFAULT_STREAM], create: (specs) => new StepBolt(specs, step) };
}

/**
 * Builds a topology from streamlets. Sources come from a function called repeatedly, an iterable or
 * async iterable, or a spout; `build()` compiles the graph to an ordinary topology, one component per
 * operator, which runs on every pool under the same config (reliability included) as one built with
 * `TopologyBuilder`.
 *
 * ```ts
 * const builder = StreamletBuilder.create('streamlet-word-count');
 * builder.fromIterable(() => sentences).flatMap((s) => s.split(' ')).keyBy((w) => w).countByKey().consume(print);
 * export default builder.build();
 * ```
 */
export class StreamletBuilder {
  private readonly graph = new Graph();
  private readonly topologyConfig: Record<string, unknown> = {};
  private containerCount: number | undefined;

  private constructor(private readonly name: string) {}

  static create(name: string): StreamletBuilder {
    return new StreamletBuilder(name);
  }

  /** Elements from `supplier`, called over and over (with the instance's context); `undefined` means none this time. */
  newSource<T>(supplier: (context: ComponentContext) => T | undefined, options: SourceOptions<T> = {}): Streamlet<T> {
    return this.source({ kind: 'supplier', supplier }, options as SourceOptions<unknown>);
  }

  /**
   * Elements of the iterable or async iterable the factory returns for each instance. When it ends
   * the source's watermark jumps to the end of time, so every window still open fires.
   */
  fromIterable<T>(factory: (context: ComponentContext) => Iterable<T> | AsyncIterable<T>, options: SourceOptions<T> = {}): Streamlet<T> {
    return this.source({ kind: 'iterable', factory }, options as SourceOptions<unknown>);
  }

  /** Tuples of an existing spout, each as an object of its `fields`; the spout keeps its own message ids and state. */
  fromSpout<T = Record<string, unknown>>(factory: () => Spout, fields: readonly string[], options: SourceOptions<T> = {}): Streamlet<T> {
    if (fields.length === 0) throw new TopologyError('fromSpout needs the fields the spout emits, in order');
    return this.source({ kind: 'spout', factory, fields: [...fields] }, options as SourceOptions<unknown>);
  }

  private source<T>(spec: SourceSpec, options: SourceOptions<unknown>): Streamlet<T> {
    if (options.maxOutOfOrderMs !== undefined && !(options.maxOutOfOrderMs >= 0))
      throw new TopologyError(`maxOutOfOrderMs must be 0 or more, got ${options.maxOutOfOrderMs}`);
    if (options.watermarkIntervalMs !== undefined && !(options.watermarkIntervalMs >= 0))
      throw new TopologyError(`watermarkIntervalMs must be 0 or more, got ${options.watermarkIntervalMs}`);
    const node = this.graph.add({
      operator: 'source',
      kind: 'spout',
      inputs: [],
      keyed: false,
      streams: [DEFAULT_STREAM],
      create: () => new SourceSpout(spec, options),
    });
    return new Streamlet<T>(this.graph, node);
  }

  /** Topology config, as `TopologyBuilder.config` (e.g. `reliability`). */
  config(key: string, value: unknown): this {
    this.topologyConfig[key] = value;
    return this;
  }

  containers(count: number): this {
    this.containerCount = count;
    return this;
  }

  /** The topology to default-export from the package; `config` entries are added to the topology config. */
  build(config: Readonly<Record<string, unknown>> = {}): Topology {
    const nodes = this.graph.nodes;
    if (nodes.length === 0) throw new TopologyError(`streamlet topology '${this.name}' has no operators; add a source`);
    const builder = new TopologyBuilder(this.name);
    if (this.containerCount !== undefined) builder.containers(this.containerCount);
    for (const [key, value] of Object.entries({ ...this.topologyConfig, ...config })) builder.config(key, value);
    const parallelism = new Map<OperatorNode, number>();
    for (const node of nodes) {
      const p = node.parallelism ?? Math.max(1, ...node.inputs.map((input) => parallelism.get(input.node) ?? 1));
      parallelism.set(node, p);
      const specs: InputSpec[] = node.inputs.map((input) => ({
        component: input.node.name,
        stream: input.stream,
        keyed: input.node.keyed,
      }));
      const declarer =
        node.kind === 'spout'
          ? builder.setSpout(node.name, () => node.create(specs) as Spout, p)
          : this.subscribe(builder.setBolt(node.name, () => node.create(specs) as Bolt, p).autoAck(), node);
      for (const stream of node.streams) declarer.stream(stream, DATA_FIELDS);
      if (node.streams.length > 0) declarer.stream(WATERMARK_STREAM, WATERMARK_FIELDS);
      for (const [key, value] of Object.entries(node.config)) declarer.config(key, value);
    }
    return builder.build();
  }

  private subscribe(declarer: ReturnType<TopologyBuilder['setBolt']>, node: OperatorNode): ReturnType<TopologyBuilder['setBolt']> {
    for (const input of node.inputs) {
      const from = input.node.name;
      const routing = input.routing;
      if (routing.type === 'key') declarer.fieldsGrouping(from, ['key'], input.stream);
      else if (routing.type === 'shuffle') declarer.shuffleGrouping(from, input.stream);
      else {
        const keyed = input.node.keyed;
        const choose = routing.choose;
        declarer.customGrouping(
          from,
          `${node.name}-partitioner`,
          () => {
            let targets: readonly number[] = [];
            return {
              prepare: (context) => {
                targets = context.targetTasks;
              },
              chooseTasks: (values) => {
                const element = keyed ? [values[0], values[1]] : values[1];
                const picked = choose(element, targets.length);
                return (typeof picked === 'number' ? [picked] : picked).map(
                  (p) => targets[((p % targets.length) + targets.length) % targets.length]!,
                );
              },
            };
          },
          input.stream,
        );
      }
    }
    for (const from of new Set(node.inputs.map((input) => input.node.name))) declarer.allGrouping(from, WATERMARK_STREAM);
    return declarer;
  }
}
