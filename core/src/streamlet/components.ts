/**
 * The spouts and bolts a streamlet graph compiles to. Every element travels as one tuple
 * `[key, value, ts]` on a data stream (key null unless the streamlet is keyed); watermarks travel on a
 * stream of their own that every downstream operator reads with all grouping. An instance sends a
 * tuple to a task through one ordered buffer whatever its stream (docs/engine.md, "Data path"), so a
 * watermark never overtakes the elements emitted before it.
 */
import type {
  Bolt,
  BoltOutputCollector,
  ComponentContext,
  Spout,
  SpoutEmitOptions,
  SpoutOutputCollector,
  State,
  StateKey,
  Tuple,
} from '../api/index.js';
import { TopologyError } from '../errors/index.js';
import { hasFired, type Window, type WindowConfig, windowStarts } from './window.js';

export const DATA_FIELDS = ['key', 'value', 'ts'] as const;
export const WATERMARK_STREAM = 'watermark';
export const WATERMARK_FIELDS = ['watermark'] as const;
const DEFAULT_STREAM = 'default';

/** Where an operator reads from, and whether those elements are `[key, value]` pairs. */
export interface InputSpec {
  readonly component: string;
  readonly stream: string;
  readonly keyed: boolean;
}

/** Event time of a source: without `timestamp`, an element's time is when the source read it. */
export interface SourceOptions<T> {
  /** The element's event time in ms. */
  readonly timestamp?: (element: T) => number;
  /** How far behind the latest timestamp seen an element may still arrive (event time); default 0. */
  readonly maxOutOfOrderMs?: number;
  /** How often the source sends its watermark downstream, in ms of wall-clock time; default 200, 0 after every element. */
  readonly watermarkIntervalMs?: number;
}

/** A sink's per-instance life: `open` once, `put` for each element, `close` at shutdown. */
export interface Sink<T> {
  open?(context: ComponentContext): void | Promise<void>;
  /** May return a promise: the sink then runs as an async bolt (see `maxInFlight` on components). */
  put(element: T): void | Promise<void>;
  close?(): void | Promise<void>;
}

export type SourceSpec =
  | { readonly kind: 'supplier'; readonly supplier: (context: ComponentContext) => unknown }
  | { readonly kind: 'iterable'; readonly factory: (context: ComponentContext) => Iterable<unknown> | AsyncIterable<unknown> }
  | { readonly kind: 'spout'; readonly factory: () => Spout; readonly fields: readonly string[] };

const POSITION_KEY = 'position';
const MAX_TS_KEY = 'maxTs';
/** Elements an iterable source emits per `nextTuple` call, so one call stays short. */
const ITERABLE_BATCH = 16;

type Reliability = 'at-most-once' | 'at-least-once' | 'effectively-once';

function reliabilityOf(context: ComponentContext): Reliability {
  return (context.config.reliability as Reliability | undefined) ?? 'at-most-once';
}

/**
 * A streamlet source: draws elements from a supplier, an iterable or a user spout, stamps them with
 * a time and sends watermarks. Under at-least-once every element is tracked and replayed when it
 * fails; under effectively-once an iterable source keeps how many elements it drew in its state and,
 * after a rollback, draws a fresh iterator and skips that many (so the iterable must yield the same
 * elements each time).
 */
export class SourceSpout implements Spout {
  private context!: ComponentContext;
  private collector!: SpoutOutputCollector;
  private readonly bound: number;
  private readonly interval: number;
  private tracked = false;
  private state: State | undefined;
  private iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  private asyncIterator = false;
  /** A pull of an async iterator is under way; results of an iterator replaced since are ignored. */
  private pulling = false;
  private generation = 0;
  private ready: IteratorResult<unknown>[] = [];
  private skip = 0;
  private position = 0;
  private exhausted = false;
  private finished = false;
  private maxTs = -Infinity;
  private lastWatermark = -Infinity;
  private lastWatermarkAt = 0;
  private nextId = 0;
  private readonly pending = new Map<number, [unknown, number]>();
  private replays: number[] = [];
  private user: Spout | undefined;
  /** Only a wrapped spout that reports a backlog has one: the health manager reads a backlog of 0 as "caught up". */
  backlog?: () => number;

  constructor(
    private readonly spec: SourceSpec,
    private readonly options: SourceOptions<unknown>,
  ) {
    this.bound = options.maxOutOfOrderMs ?? 0;
    this.interval = options.watermarkIntervalMs ?? 200;
  }

  async open(context: ComponentContext, collector: SpoutOutputCollector): Promise<void> {
    this.context = context;
    this.collector = collector;
    this.tracked = reliabilityOf(context) === 'at-least-once';
    if (this.spec.kind === 'spout') {
      const user = this.spec.factory();
      this.user = user;
      await user.open?.(context, this.userCollector(this.spec.fields));
      if (typeof user.backlog === 'function') this.backlog = () => user.backlog!();
    }
  }

  /** What the user's spout emits becomes an element: an object of its declared fields. */
  private userCollector(fields: readonly string[]): SpoutOutputCollector {
    return {
      emit: (values, options) => {
        const element = Object.fromEntries(fields.map((field, index) => [field, values[index]]));
        this.emitElement(element, options);
      },
      emitDirect: () => {
        throw new TopologyError(`source '${this.context.componentName}': a spout used as a streamlet source cannot emitDirect; use emit`);
      },
      reportError: (error) => this.collector.reportError(error),
    };
  }

  nextTuple(): void | Promise<void> {
    if (this.replays.length > 0) {
      const id = this.replays.shift()!;
      const entry = this.pending.get(id);
      if (entry) this.collector.emit([null, entry[0], entry[1]], { messageId: id });
    } else if (this.user) {
      // An async spout's nextTuple returns a promise; the watermark follows what it emitted.
      const pending = this.user.nextTuple() as void | Promise<void>;
      if (pending) return pending.then(() => this.maybeSendWatermark());
    } else if (this.spec.kind === 'supplier') {
      const element = this.spec.supplier(this.context);
      if (element !== undefined) this.emitElement(element);
    } else {
      this.drawFromIterable();
    }
    this.maybeSendWatermark();
  }

  private drawFromIterable(): void {
    if (this.exhausted || this.spec.kind !== 'iterable') return;
    if (!this.iterator) this.openIterator();
    if (this.asyncIterator) {
      const result = this.ready.shift();
      if (result) this.take(result);
      if (!this.pulling && !this.exhausted && this.ready.length === 0) this.pull();
      return;
    }
    for (let n = 0; n < ITERABLE_BATCH && !this.exhausted; n++) this.take((this.iterator as Iterator<unknown>).next());
  }

  private openIterator(): void {
    if (this.spec.kind !== 'iterable') return;
    const iterable = this.spec.factory(this.context) as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
    this.generation++;
    this.pulling = false;
    this.ready = [];
    const asyncIterate = iterable[Symbol.asyncIterator];
    const iterate = iterable[Symbol.iterator];
    if (typeof asyncIterate === 'function') {
      this.iterator = asyncIterate.call(iterable);
      this.asyncIterator = true;
    } else if (typeof iterate === 'function') {
      this.iterator = iterate.call(iterable);
      this.asyncIterator = false;
    } else {
      throw new TopologyError(`source '${this.context.componentName}': its factory returned neither an iterable nor an async iterable`);
    }
  }

  private pull(): void {
    const generation = this.generation;
    this.pulling = true;
    (this.iterator as AsyncIterator<unknown>).next().then(
      (result) => {
        if (generation !== this.generation) return;
        this.pulling = false;
        this.ready.push(result);
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        this.pulling = false;
        this.collector.reportError(error);
        this.exhausted = true;
      },
    );
  }

  private take(result: IteratorResult<unknown>): void {
    if (result.done) {
      this.exhausted = true;
      return;
    }
    this.position++;
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    this.emitElement(result.value);
    this.maybeSendWatermark();
  }

  private emitElement(element: unknown, options: SpoutEmitOptions = {}): void {
    const ts = this.options.timestamp ? this.options.timestamp(element) : Date.now();
    if (typeof ts !== 'number' || Number.isNaN(ts))
      throw new TopologyError(`source '${this.context.componentName}': the timestamp extractor returned ${String(ts)}, not a number of ms`);
    if (ts > this.maxTs) this.maxTs = ts;
    if (this.user) {
      // The user's spout tracks its own message ids.
      this.collector.emit([null, element, ts], options);
    } else if (this.tracked) {
      const id = this.nextId++;
      this.pending.set(id, [element, ts]);
      this.collector.emit([null, element, ts], { messageId: id });
    } else {
      this.collector.emit([null, element, ts]);
    }
  }

  private currentWatermark(): number {
    if (this.exhausted && this.pending.size === 0 && this.replays.length === 0) return Infinity;
    let watermark = this.options.timestamp ? this.maxTs - this.bound - 1 : Date.now() - 1;
    // A tracked element may be replayed: hold the watermark below it until it is acked, so its replay is not late.
    for (const [, ts] of this.pending.values()) if (ts - 1 < watermark) watermark = ts - 1;
    return watermark;
  }

  private maybeSendWatermark(): void {
    if (this.finished) return;
    const now = Date.now();
    const ending = this.exhausted && this.pending.size === 0 && this.replays.length === 0;
    if (!ending && now - this.lastWatermarkAt < this.interval) return;
    this.lastWatermarkAt = now;
    const watermark = this.currentWatermark();
    if (!(watermark > this.lastWatermark)) return;
    this.lastWatermark = watermark;
    this.collector.emit([watermark], { stream: WATERMARK_STREAM });
    if (watermark === Infinity) this.finished = true;
  }

  ack(messageId: unknown): void {
    if (this.user) this.user.ack?.(messageId);
    else this.pending.delete(messageId as number);
  }

  fail(messageId: unknown): void {
    if (this.user) this.user.fail?.(messageId);
    else if (this.pending.has(messageId as number)) this.replays.push(messageId as number);
  }

  activate(): void {
    this.user?.activate?.();
  }

  deactivate(): void {
    this.user?.deactivate?.();
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.user?.onConfigChange?.(config);
  }

  async initState(state: State): Promise<void> {
    this.state = state;
    this.lastWatermark = -Infinity;
    this.lastWatermarkAt = 0;
    this.finished = false;
    if (this.user) {
      await this.user.initState?.(state);
      return;
    }
    const position = state.get(POSITION_KEY);
    const maxTs = state.get(MAX_TS_KEY);
    this.maxTs = typeof maxTs === 'number' ? maxTs : -Infinity;
    if (this.spec.kind === 'iterable') {
      this.iterator = undefined;
      this.exhausted = false;
      this.position = 0;
      this.skip = typeof position === 'number' ? position : 0;
    }
  }

  preSave(checkpointId: number): void {
    if (this.user) {
      this.user.preSave?.(checkpointId);
      return;
    }
    this.state?.put(POSITION_KEY, this.position);
    this.state?.put(MAX_TS_KEY, this.maxTs);
  }

  async postSave(checkpointId: number): Promise<void> {
    await this.user?.postSave?.(checkpointId);
  }

  async close(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = undefined;
    this.generation++;
    await this.user?.close?.();
    await iterator?.return?.();
  }
}

/** Keyed entries: the instance's `State` under effectively-once (so they are checkpointed and move with key groups), a map otherwise. */
interface Store {
  get(key: StateKey): unknown;
  put(key: StateKey, value: unknown): void;
  delete(key: StateKey): void;
  keys(): StateKey[];
}

function mapStore(): Store {
  const map = new Map<StateKey, unknown>();
  return {
    get: (key) => map.get(key),
    put: (key, value) => void map.set(key, value),
    delete: (key) => void map.delete(key),
    keys: () => [...map.keys()],
  };
}

function stateStore(state: State): Store {
  return {
    get: (key) => state.get(key),
    put: (key, value) => state.put(key, value),
    delete: (key) => void state.delete(key),
    keys: () => [...state.entries()].map(([key]) => key),
  };
}

/**
 * What every operator bolt shares: decoding elements, tracking the watermark of each upstream task
 * (the operator's watermark is the least of them), and forwarding it downstream.
 */
export abstract class OperatorBolt implements Bolt {
  protected context!: ComponentContext;
  protected collector!: BoltOutputCollector;
  protected watermark = -Infinity;
  private readonly upstream: string[];
  private readonly upstreamWatermarks = new Map<number, number>();

  constructor(
    protected readonly inputs: readonly InputSpec[],
    private readonly forwardsWatermark: boolean,
  ) {
    this.upstream = [...new Set(inputs.map((input) => input.component))];
  }

  prepare(context: ComponentContext, collector: BoltOutputCollector): void | Promise<void> {
    this.context = context;
    this.collector = collector;
  }

  execute(tuple: Tuple): void | Promise<void> {
    if (tuple.stream === WATERMARK_STREAM) {
      this.receiveWatermark(tuple.sourceTask, tuple.values[0] as number);
      return;
    }
    const index =
      this.inputs.length === 1 ? 0 : this.inputs.findIndex((i) => i.component === tuple.sourceComponent && i.stream === tuple.stream);
    const input = this.inputs[index];
    if (!input) return;
    const [key, value, ts] = tuple.values as [StateKey | null, unknown, number];
    return this.onElement(input.keyed ? [key, value] : value, ts, index, key);
  }

  protected abstract onElement(element: unknown, ts: number, input: number, key: StateKey | null): void | Promise<void>;

  /** The watermark rose to `watermark`: fire what it completes. Results are emitted before the watermark goes on. */
  protected onWatermark(_watermark: number): void {}

  private receiveWatermark(task: number, watermark: number): void {
    if (!(watermark > (this.upstreamWatermarks.get(task) ?? -Infinity))) return;
    this.upstreamWatermarks.set(task, watermark);
    let least = Infinity;
    for (const component of this.upstream)
      for (const upstreamTask of this.context.taskIdsOf(component))
        least = Math.min(least, this.upstreamWatermarks.get(upstreamTask) ?? -Infinity);
    if (!(least > this.watermark)) return;
    this.watermark = least;
    this.onWatermark(least);
    if (this.forwardsWatermark) this.collector.emit([least], { stream: WATERMARK_STREAM });
  }

  /** After a rollback, upstream sends its watermarks again from the start. */
  protected resetWatermarks(): void {
    this.upstreamWatermarks.clear();
    this.watermark = -Infinity;
  }

  protected emitValue(value: unknown, ts: number, stream = DEFAULT_STREAM): void {
    this.collector.emit([null, value, ts], { stream });
  }

  protected emitKeyed(key: unknown, value: unknown, ts: number): void {
    this.collector.emit([key ?? null, value, ts]);
  }
}

/** What a stateless step emits through. */
export interface StepOutput {
  emit(value: unknown): void;
  emitKeyed(key: unknown, value: unknown): void;
  emitTo(stream: string, value: unknown): void;
}

export type Step = (element: unknown, out: StepOutput) => void;

/** map, flatMap, filter, keyBy, union, clone, repartition, split: one function per element. */
export class StepBolt extends OperatorBolt {
  private ts = 0;
  private readonly out: StepOutput = {
    emit: (value) => this.emitValue(value, this.ts),
    emitKeyed: (key, value) => this.emitKeyed(key, value, this.ts),
    emitTo: (stream, value) => this.emitValue(value, this.ts, stream),
  };

  constructor(
    inputs: readonly InputSpec[],
    private readonly step: Step,
  ) {
    super(inputs, true);
  }

  protected onElement(element: unknown, ts: number): void {
    this.ts = ts;
    this.step(element, this.out);
  }
}

/** How keyed values fold: from `initial` when given, else from the key's first value. */
export interface Reducer {
  readonly initial?: { readonly value: unknown };
  readonly fn: (accumulator: unknown, value: unknown) => unknown;
}

function fold(reducer: Reducer, accumulator: [unknown] | undefined, value: unknown): [unknown] {
  if (accumulator) return [reducer.fn(accumulator[0], value)];
  return reducer.initial ? [reducer.fn(reducer.initial.value, value)] : [value];
}

/** Stateful keyed bolts keep their entries in `State` under effectively-once. */
abstract class KeyedBolt extends OperatorBolt {
  protected store: Store = mapStore();
  protected late = 0;
  private lateLogged = 0;

  initState(state: State): void {
    this.store = stateStore(state);
    this.resetWatermarks();
  }

  protected countLate(): void {
    this.late++;
  }

  /** Late elements are dropped; the log says how many, at most once per watermark step. */
  protected reportLate(): void {
    if (this.late === this.lateLogged) return;
    this.context.logger.warn(
      `${this.context.componentName}: dropped ${this.late - this.lateLogged} late element(s) (${this.late} in all): ` +
        `their windows had fired; raise the source's maxOutOfOrderMs if they should count`,
    );
    this.lateLogged = this.late;
  }
}

/** reduceByKey and countByKey: a running value per key, emitted on each update. */
export class ReduceByKeyBolt extends KeyedBolt {
  constructor(
    inputs: readonly InputSpec[],
    private readonly reducer: Reducer,
  ) {
    super(inputs, true);
  }

  protected onElement(element: unknown, ts: number, _input: number, key: StateKey | null): void {
    const value = (element as [unknown, unknown])[1];
    const next = fold(this.reducer, this.store.get(key!) as [unknown] | undefined, value);
    this.store.put(key!, next);
    this.emitKeyed(key, next[0], ts);
  }
}

type TimeWindowEntry = [start: number, accumulator: [unknown] | undefined];
interface CountWindowEntry {
  readonly n: number;
  readonly last: readonly unknown[];
}

/** reduceByKeyAndWindow and countByKeyAndWindow. */
export class WindowReduceBolt extends KeyedBolt {
  constructor(
    inputs: readonly InputSpec[],
    private readonly window: WindowConfig,
    private readonly reducer: Reducer,
  ) {
    super(inputs, true);
  }

  protected onElement(element: unknown, ts: number, _input: number, key: StateKey | null): void {
    const value = (element as [unknown, unknown])[1];
    const window = this.window;
    if (window.kind === 'count') {
      const entry = this.store.get(key!) as CountWindowEntry | undefined;
      const n = (entry?.n ?? 0) + 1;
      const last = [...(entry?.last ?? []), value].slice(-window.size);
      this.store.put(key!, { n, last });
      if (n >= window.size && (n - window.size) % window.slide === 0) {
        let accumulator: [unknown] | undefined;
        for (const v of last) accumulator = fold(this.reducer, accumulator, v);
        this.emitResult(key!, { start: n - window.size, end: n }, accumulator![0], ts);
      }
      return;
    }
    const entries = (this.store.get(key!) as TimeWindowEntry[] | undefined) ?? [];
    const open = windowStarts(window, ts).filter((start) => !hasFired(start, window.sizeMs, this.watermark));
    if (open.length === 0) {
      this.countLate();
      return;
    }
    const next = entries.map((entry): TimeWindowEntry => [entry[0], entry[1]]);
    for (const start of open) {
      const existing = next.find((entry) => entry[0] === start);
      if (existing) existing[1] = fold(this.reducer, existing[1], value);
      else next.push([start, fold(this.reducer, undefined, value)]);
    }
    next.sort((a, b) => a[0] - b[0]);
    this.store.put(key!, next);
  }

  protected override onWatermark(watermark: number): void {
    const window = this.window;
    if (window.kind !== 'time') return;
    const fired: [StateKey, number, unknown][] = [];
    for (const key of this.store.keys()) {
      const entries = this.store.get(key) as TimeWindowEntry[];
      const remaining = entries.filter(([start]) => !hasFired(start, window.sizeMs, watermark));
      if (remaining.length === entries.length) continue;
      for (const [start, accumulator] of entries) if (hasFired(start, window.sizeMs, watermark)) fired.push([key, start, accumulator![0]]);
      if (remaining.length > 0) this.store.put(key, remaining);
      else this.store.delete(key);
    }
    emitInOrder(fired, (key, start, value) =>
      this.emitResult(key, { start, end: start + window.sizeMs }, value, start + window.sizeMs - 1),
    );
    this.reportLate();
  }

  private emitResult(key: StateKey, window: Window, value: unknown, ts: number): void {
    this.emitValue({ key, window, value }, ts);
  }
}

/** Results of one watermark step in window order, then key order, so a run's output reads the same each time. */
function emitInOrder<T>(fired: [StateKey, number, T][], emit: (key: StateKey, start: number, value: T) => void): void {
  fired.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [key, start, value] of fired) emit(key, start, value);
}

export type JoinType = 'inner' | 'left' | 'outer';
type JoinWindowEntry = [start: number, left: readonly unknown[], right: readonly unknown[]];

/** join, leftJoin and outerJoin of two keyed streamlets over time windows. */
export class JoinBolt extends KeyedBolt {
  constructor(
    inputs: readonly InputSpec[],
    private readonly window: { readonly sizeMs: number; readonly slideMs: number },
    private readonly type: JoinType,
    private readonly join: (left: unknown, right: unknown) => unknown,
  ) {
    super(inputs, true);
  }

  protected onElement(element: unknown, ts: number, input: number, key: StateKey | null): void {
    const value = (element as [unknown, unknown])[1];
    const open = windowStarts(this.window, ts).filter((start) => !hasFired(start, this.window.sizeMs, this.watermark));
    if (open.length === 0) {
      this.countLate();
      return;
    }
    const entries = (this.store.get(key!) as JoinWindowEntry[] | undefined) ?? [];
    const next = entries.map((entry): JoinWindowEntry => [...entry]);
    for (const start of open) {
      let entry = next.find((e) => e[0] === start);
      if (!entry) {
        entry = [start, [], []];
        next.push(entry);
      }
      if (input === 0) entry[1] = [...entry[1], value];
      else entry[2] = [...entry[2], value];
    }
    next.sort((a, b) => a[0] - b[0]);
    this.store.put(key!, next);
  }

  protected override onWatermark(watermark: number): void {
    const size = this.window.sizeMs;
    const fired: [StateKey, number, JoinWindowEntry][] = [];
    for (const key of this.store.keys()) {
      const entries = this.store.get(key) as JoinWindowEntry[];
      const remaining = entries.filter(([start]) => !hasFired(start, size, watermark));
      if (remaining.length === entries.length) continue;
      for (const entry of entries) if (hasFired(entry[0], size, watermark)) fired.push([key, entry[0], entry]);
      if (remaining.length > 0) this.store.put(key, remaining);
      else this.store.delete(key);
    }
    emitInOrder(fired, (key, start, [, left, right]) => {
      const window = { start, end: start + size };
      const ts = start + size - 1;
      for (const l of left) {
        if (right.length === 0 && this.type !== 'inner') this.emitValue({ key, window, value: this.join(l, undefined) }, ts);
        for (const r of right) this.emitValue({ key, window, value: this.join(l, r) }, ts);
      }
      if (left.length === 0 && this.type === 'outer')
        for (const r of right) this.emitValue({ key, window, value: this.join(undefined, r) }, ts);
    });
    this.reportLate();
  }
}

/** consume and toSink: hands each element to a function, a Sink, or a user's bolt (which gets the data tuples as they are). */
export class SinkBolt extends OperatorBolt {
  private sink: Sink<unknown> | undefined;
  private bolt: Bolt | undefined;

  constructor(
    inputs: readonly InputSpec[],
    private readonly create: () => Sink<unknown> | Bolt,
  ) {
    super(inputs, false);
  }

  override async prepare(context: ComponentContext, collector: BoltOutputCollector): Promise<void> {
    await super.prepare(context, collector);
    const target = this.create();
    if (typeof (target as Bolt).execute === 'function') {
      this.bolt = target as Bolt;
      await this.bolt.prepare?.(context, collector);
    } else if (typeof (target as Sink<unknown>).put === 'function') {
      this.sink = target as Sink<unknown>;
      await this.sink.open?.(context);
    } else {
      throw new TopologyError(`sink '${context.componentName}': its factory returned neither a Sink (with put) nor a Bolt (with execute)`);
    }
  }

  override execute(tuple: Tuple): void | Promise<void> {
    if (this.bolt) return tuple.stream === WATERMARK_STREAM ? undefined : this.bolt.execute(tuple);
    return super.execute(tuple);
  }

  protected onElement(element: unknown): void | Promise<void> {
    return this.sink!.put(element);
  }

  onConfigChange(config: Readonly<Record<string, unknown>>): void {
    this.bolt?.onConfigChange?.(config);
  }

  async initState(state: State): Promise<void> {
    this.resetWatermarks();
    await this.bolt?.initState?.(state);
  }

  preSave(checkpointId: number): void {
    this.bolt?.preSave?.(checkpointId);
  }

  async postSave(checkpointId: number): Promise<void> {
    await this.bolt?.postSave?.(checkpointId);
  }

  async cleanup(): Promise<void> {
    await this.bolt?.cleanup?.();
    await this.sink?.close?.();
  }
}
