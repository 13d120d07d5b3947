import { TopologyError } from '../errors/index.js';
import type { PhysicalInstance } from '../model/runtime-state.js';
import type { GroupingDefinition, TopologyDefinition } from '../model/topology.js';
import type { CustomGrouping } from '../api/component.js';
import { StreamSchema } from '../api/tuple.js';
import { ByteReader, ByteWriter, writeValue } from './wire/tuple-codec.js';
import { DataFrameHeader, FrameKind } from './wire/frames.js';

/**
 * An instance flushes its batches once they hold this many bytes (or at the end of its turn), so
 * one flush adds at most about this much to a destination's queue.
 */
export const MAX_BATCH_BYTES = 256 * 1024;

/** Runtime config key of an emitting component: shuffle weights per target task id. */
export const SHUFFLE_WEIGHTS_KEY = '__shuffleWeights';

/** One (component, stream) pair with a topology-wide index, identical in every process. */
export interface StreamEntry {
  readonly index: number;
  readonly component: string;
  readonly stream: string;
  readonly schema: StreamSchema;
}

/**
 * Stream indexes follow the order of components and outputs in the definition, so every process
 * that holds the same definition derives the same table and tuples carry a 2-byte index, not names.
 */
export class StreamTable {
  readonly entries: readonly StreamEntry[];
  private readonly byKey = new Map<string, StreamEntry>();

  constructor(definition: TopologyDefinition) {
    const entries: StreamEntry[] = [];
    for (const component of definition.components) {
      for (const output of component.outputs) {
        const entry = { index: entries.length, component: component.name, stream: output.id, schema: new StreamSchema(output.fields) };
        entries.push(entry);
        this.byKey.set(`${component.name}\u0000${output.id}`, entry);
      }
    }
    this.entries = entries;
  }

  lookup(component: string, stream: string): StreamEntry | undefined {
    return this.byKey.get(`${component}\u0000${stream}`);
  }
}

/** Task ids of each component, sorted, from the physical plan. */
export function tasksByComponent(instances: readonly Pick<PhysicalInstance, 'component' | 'taskId'>[]): Map<string, number[]> {
  const tasks = new Map<string, number[]>();
  for (const instance of instances) {
    const list = tasks.get(instance.component) ?? [];
    list.push(instance.taskId);
    tasks.set(instance.component, list);
  }
  for (const list of tasks.values()) list.sort((a, b) => a - b);
  return tasks;
}

/** FNV-1a over the value's text; stable across processes and Node versions, unlike object identity. */
export function hashValue(value: unknown, seed = 0x811c9dc5): number {
  let hash = seed;
  if (typeof value === 'number' && (value | 0) === value) {
    hash ^= value & 0xff;
    hash = Math.imul(hash, 0x01000193);
    hash ^= (value >>> 8) & 0xff;
    hash = Math.imul(hash, 0x01000193);
    hash ^= (value >>> 16) & 0xff;
    hash = Math.imul(hash, 0x01000193);
    hash ^= value >>> 24;
    return Math.imul(hash, 0x01000193) >>> 0;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

type Route =
  | { readonly type: 'shuffle'; readonly tasks: readonly number[]; next: number; weights?: number[]; credit?: number[] }
  | { readonly type: 'fields'; readonly tasks: readonly number[]; readonly fieldIndexes: readonly number[] }
  | { readonly type: 'all'; readonly tasks: readonly number[] }
  | { readonly type: 'global'; readonly task: number }
  | { readonly type: 'direct'; readonly tasks: ReadonlySet<number>; readonly component: string }
  | { readonly type: 'custom'; readonly grouping: CustomGrouping; readonly tasks: ReadonlySet<number>; readonly name: string };

interface StreamRoutes {
  readonly entry: StreamEntry;
  readonly routes: Route[];
  readonly hasDirect: boolean;
}

/**
 * Per-destination batches of encoded tuples, written by an emitting instance and taken as one
 * frame per destination task at flush time.
 */
export class OutboundBatches {
  private readonly writers = new Map<number, { writer: ByteWriter; count: number }>();
  private readonly spare: ByteWriter[] = [];
  bufferedBytes = 0;

  constructor(private readonly sourceTask: number) {}

  /** Returns the writer for `destTask`, with room for one more tuple. */
  writerFor(destTask: number): ByteWriter {
    let batch = this.writers.get(destTask);
    if (!batch) {
      const writer = this.spare.pop() ?? new ByteWriter(16 * 1024);
      writer.offset = DataFrameHeader.size;
      batch = { writer, count: 0 };
      this.writers.set(destTask, batch);
    }
    batch.count++;
    return batch.writer;
  }

  get isEmpty(): boolean {
    return this.writers.size === 0;
  }

  /** One transferable frame per destination; the writers are kept for reuse. */
  take(): ArrayBuffer[] {
    const frames: ArrayBuffer[] = [];
    for (const [destTask, { writer, count }] of this.writers) {
      const buffer = writer.buffer;
      buffer.writeUInt32LE(writer.offset - 4, 0);
      buffer[DataFrameHeader.kindOffset] = FrameKind.Data;
      buffer.writeUInt32LE(destTask, DataFrameHeader.destTaskOffset);
      buffer.writeUInt32LE(this.sourceTask, DataFrameHeader.srcTaskOffset);
      buffer.writeUInt32LE(count, DataFrameHeader.countOffset);
      frames.push(writer.takeArrayBuffer());
      this.spare.push(writer);
    }
    this.writers.clear();
    this.bufferedBytes = 0;
    return frames;
  }
}

/**
 * Decides where each emitted tuple goes and encodes it into the destination's batch. Routing runs
 * in the emitting instance, so the stream managers only forward frames by destination task.
 */
export class Emitter {
  private readonly streams = new Map<string, StreamRoutes>();
  private weights: Readonly<Record<string, number>> | undefined;
  private avoided: ReadonlySet<number> = new Set();

  constructor(
    readonly component: string,
    private readonly batches: OutboundBatches,
    private readonly table: StreamTable,
    private readonly definition: TopologyDefinition,
    private readonly createGrouping: (name: string) => CustomGrouping,
  ) {}

  /** Rebuilds the routes for a new physical plan (scaling changes the task lists). */
  setTasks(tasks: ReadonlyMap<string, readonly number[]>): void {
    this.streams.clear();
    const self = this.definition.components.find((c) => c.name === this.component);
    if (!self) throw new TopologyError(`component '${this.component}' is not in topology '${this.definition.name}'`);
    for (const output of self.outputs) {
      const entry = this.table.lookup(this.component, output.id)!;
      const routes: Route[] = [];
      for (const consumer of this.definition.components) {
        for (const input of consumer.inputs) {
          if (input.component !== this.component || input.stream !== output.id) continue;
          routes.push(this.route(input.grouping, consumer.name, tasks.get(consumer.name) ?? [], entry));
        }
      }
      this.streams.set(output.id, { entry, routes, hasDirect: routes.some((r) => r.type === 'direct') });
    }
    if (this.weights || this.avoided.size > 0) this.setShuffleWeights(this.weights);
  }

  private route(grouping: GroupingDefinition, consumer: string, tasks: readonly number[], entry: StreamEntry): Route {
    switch (grouping.type) {
      case 'shuffle':
      case 'none':
        return { type: 'shuffle', tasks, next: Math.floor(Math.random() * Math.max(1, tasks.length)) };
      case 'fields':
        return { type: 'fields', tasks, fieldIndexes: grouping.fields.map((f) => entry.schema.indexOf.get(f)!) };
      case 'all':
        return { type: 'all', tasks };
      case 'global':
        return { type: 'global', task: tasks[0] ?? -1 };
      case 'direct':
        return { type: 'direct', tasks: new Set(tasks), component: consumer };
      case 'custom': {
        const custom = this.createGrouping(grouping.name);
        custom.prepare?.({ sourceComponent: this.component, stream: entry.stream, targetTasks: tasks });
        return { type: 'custom', grouping: custom, tasks: new Set(tasks), name: grouping.name };
      }
    }
  }

  /**
   * Weights shuffle traffic per target task (a health policy routes around a slow instance this
   * way); tasks not named keep weight 1, and no weights restores plain round robin.
   */
  setShuffleWeights(weights: Readonly<Record<string, number>> | undefined): void {
    this.weights = weights;
    for (const routes of this.streams.values()) {
      for (const route of routes.routes) {
        if (route.type !== 'shuffle') continue;
        let list = route.tasks.map((task) => Math.max(0, Number(weights?.[String(task)] ?? 1)));
        // Avoided tasks get nothing while another target can take it; when every target is avoided
        // the tuples go where they would anyway, and wait there.
        const avoiding = list.map((w, i) => (this.avoided.has(route.tasks[i]!) ? 0 : w));
        if (avoiding.some((w) => w > 0)) list = avoiding;
        const weighted = list.some((w) => w !== 1) && list.some((w) => w > 0);
        route.weights = weighted ? list : undefined;
        route.credit = weighted ? list.map(() => 0) : undefined;
      }
    }
  }

  /**
   * Tasks shuffle grouping should not send to (hung workers being restarted). Fields, global,
   * direct and custom groupings keep routing to them: their tuples must reach that task, and wait.
   */
  setAvoidedTasks(tasks: ReadonlySet<number>): void {
    this.avoided = tasks;
    this.setShuffleWeights(this.weights);
  }

  /** Encodes `values` for every destination of `stream`; returns how many copies were queued. */
  emit(stream: string, values: readonly unknown[]): number {
    const routes = this.routesOf(stream, values);
    let copies = 0;
    for (const route of routes.routes) {
      switch (route.type) {
        case 'shuffle': {
          if (route.tasks.length === 0) break;
          let task: number;
          if (route.weights) {
            task = route.tasks[pickWeighted(route.weights, route.credit!)]!;
          } else {
            task = route.tasks[route.next]!;
            route.next = route.next + 1 === route.tasks.length ? 0 : route.next + 1;
          }
          this.encode(task, routes.entry.index, values);
          copies++;
          break;
        }
        case 'fields': {
          if (route.tasks.length === 0) break;
          let hash = 0x811c9dc5;
          for (const index of route.fieldIndexes) hash = hashValue(values[index], hash);
          // `| 0` keeps the index a small integer: hashes above 2^31 would take V8 off its fast path.
          this.encode(route.tasks[(hash % route.tasks.length) | 0]!, routes.entry.index, values);
          copies++;
          break;
        }
        case 'all':
          for (const task of route.tasks) this.encode(task, routes.entry.index, values);
          copies += route.tasks.length;
          break;
        case 'global':
          if (route.task >= 0) {
            this.encode(route.task, routes.entry.index, values);
            copies++;
          }
          break;
        case 'custom':
          for (const task of route.grouping.chooseTasks(values)) {
            if (!route.tasks.has(task)) throw new TopologyError(`custom grouping '${route.name}' chose task ${task}, which does not read this stream`);
            this.encode(task, routes.entry.index, values);
            copies++;
          }
          break;
        case 'direct':
          break;
      }
    }
    return copies;
  }

  /** Sends `values` to one task of a component that reads `stream` with direct grouping. */
  emitDirect(task: number, stream: string, values: readonly unknown[]): number {
    const routes = this.routesOf(stream, values);
    let copies = 0;
    for (const route of routes.routes) {
      if (route.type !== 'direct') continue;
      if (!route.tasks.has(task)) {
        throw new TopologyError(`emitDirect to task ${task}: '${route.component}' has tasks ${[...route.tasks].join(', ')} on stream '${stream}'`);
      }
      this.encode(task, routes.entry.index, values);
      copies++;
    }
    if (!routes.hasDirect) throw new TopologyError(`emitDirect on stream '${stream}' of '${this.component}': no bolt reads it with direct grouping`);
    return copies;
  }

  private routesOf(stream: string, values: readonly unknown[]): StreamRoutes {
    const routes = this.streams.get(stream);
    if (!routes) {
      throw new TopologyError(`'${this.component}' emitted on stream '${stream}', which it does not declare`);
    }
    if (values.length !== routes.entry.schema.fields.length) {
      throw new TopologyError(
        `'${this.component}' emitted ${values.length} value(s) on stream '${stream}', which declares ${routes.entry.schema.fields.length} field(s): ${routes.entry.schema.fields.join(', ')}`,
      );
    }
    return routes;
  }

  private encode(task: number, streamIndex: number, values: readonly unknown[]): void {
    const writer = this.batches.writerFor(task);
    const before = writer.offset;
    writer.u16(streamIndex);
    for (let i = 0; i < values.length; i++) writeValue(writer, values[i]);
    this.batches.bufferedBytes += writer.offset - before;
  }
}

/** Smooth weighted round robin: spreads picks in proportion to the weights, deterministically. */
function pickWeighted(weights: readonly number[], credit: number[]): number {
  let total = 0;
  let best = 0;
  for (let i = 0; i < weights.length; i++) {
    credit[i]! += weights[i]!;
    total += weights[i]!;
    if (credit[i]! > credit[best]!) best = i;
  }
  credit[best]! -= total;
  return best;
}

/**
 * Decodes the tuples of one data frame, calling `onTuple` for each. A callback rather than an
 * iterator: this runs once per tuple on the hot path.
 */
export function decodeDataFrame(frame: Buffer, table: StreamTable, onTuple: (entry: StreamEntry, values: unknown[]) => void): number {
  const count = frame.readUInt32LE(DataFrameHeader.countOffset);
  const reader = new ByteReader(frame, DataFrameHeader.size);
  for (let i = 0; i < count; i++) {
    const index = reader.u16();
    const entry = table.entries[index];
    if (!entry) throw new TopologyError(`data frame names stream index ${index}, beyond the ${table.entries.length} streams of this topology`);
    const width = entry.schema.fields.length;
    const values = new Array<unknown>(width);
    for (let v = 0; v < width; v++) values[v] = reader.value();
    onTuple(entry, values);
  }
  if (reader.offset !== frame.length) throw new TopologyError(`data frame has ${frame.length - reader.offset} trailing bytes after ${count} tuples`);
  return count;
}
