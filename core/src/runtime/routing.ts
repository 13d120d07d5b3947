import { TopologyError, TupleValueError } from '../errors/index.js';
import type { PhysicalInstance } from '../model/runtime-state.js';
import type { GroupingDefinition, TopologyDefinition } from '../model/topology.js';
import type { CustomGrouping } from '../api/component.js';
import { StreamSchema } from '../api/tuple.js';
import { ByteReader, ByteWriter, EncodingLimitExceeded, UnsendableValue, writeValue } from './wire/tuple-codec.js';
import { DataFrameHeader, FrameKind, MAX_FRAME_BYTES, MAX_TUPLE_BYTES } from './wire/frames.js';

/**
 * An instance flushes its batches once they hold this many bytes (or at the end of its turn), so
 * one flush adds at most about this much to a destination's queue.
 */
export const MAX_BATCH_BYTES = 256 * 1024;

/** A batch's bytes, length prefix included, never exceed this, so every frame is within {@link MAX_FRAME_BYTES}. */
const FRAME_END = 4 + MAX_FRAME_BYTES;
/**
 * Writers refuse to grow past this: a batch holds less than a frame before a tuple is added, so a
 * tuple within {@link MAX_TUPLE_BYTES} always fits, and one far beyond it is refused before it is
 * copied in whole. Up to here a refused tuple's exact size is known.
 */
const WRITER_LIMIT = FRAME_END + MAX_TUPLE_BYTES;
/** A writer that grew past this for a large tuple is dropped after use, not kept for reuse. */
const MAX_REUSED_WRITER_BYTES = 4 * MAX_BATCH_BYTES;
/** Up to this many bytes a JavaScript loop copies a tuple faster than Buffer.copy's native call. */
const JS_COPY_MAX = 64;
const SCRATCH_BYTES = 4 * 1024;

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

/**
 * FNV-1a over the value's text (for objects, over their encoding); stable across processes and Node
 * versions, unlike object identity.
 */
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
  const text = typeof value === 'string' ? value : textToHash(value);
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

let hashScratch = new ByteWriter(256, WRITER_LIMIT);

/** Maps, Sets and typed arrays have no useful JSON text, so an object is hashed by its encoding. */
function textToHash(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  const writer = hashScratch;
  writer.offset = 0;
  try {
    writeValue(writer, value);
  } catch {
    // A value that cannot be encoded cannot be sent either: encoding the tuple refuses it, with the reason.
    return '';
  }
  const text = writer.buffer.toString('latin1', 0, writer.offset);
  if (writer.buffer.length > MAX_REUSED_WRITER_BYTES) hashScratch = new ByteWriter(256, WRITER_LIMIT);
  return text;
}

/** The hash fields grouping routes a tuple by: over the grouping's fields, in their order. */
export function fieldsHash(values: readonly unknown[], fieldIndexes: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const index of fieldIndexes) hash = hashValue(values[index], hash);
  return hash;
}

/**
 * Fields grouping maps a hash to one of `maxParallelism` key groups, and key groups to instances in
 * contiguous ranges: changing the parallelism moves whole key groups, so keyed state can move with
 * them, and an instance's groups stay next to each other.
 */
export function keyGroupOf(hash: number, maxParallelism: number): number {
  return hash % maxParallelism;
}

/** The component index (of `parallelism`) that owns a key group. */
export function keyGroupOwner(keyGroup: number, parallelism: number, maxParallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

/** Writes what follows a tuple's values for one destination (its anchors, under at-least-once). */
export type TupleTrailer = (writer: ByteWriter, destTask: number) => void;

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

/** Tuples encoded for one destination task: they leave as one frame. */
export interface Batch {
  readonly writer: ByteWriter;
  count: number;
}

/**
 * Per-destination batches of encoded tuples, written by an emitting instance and taken as frames at
 * flush time: one per destination task, or more when big tuples would overflow a frame.
 */
export class OutboundBatches {
  private readonly batches = new Map<number, Batch>();
  /** Batches closed early because the next tuple would have overflowed their frame; they leave first. */
  private sealed: ArrayBuffer[] = [];
  private readonly spare: ByteWriter[] = [];
  bufferedBytes = 0;
  /** Written into every frame taken (see DataFrameHeader.epochOffset). */
  epoch = 0;

  constructor(private readonly sourceTask: number) {}

  /**
   * `destTask`'s batch, for encoding one tuple at the end of its writer; then call {@link appended}
   * to count it, or {@link discard} to drop it.
   */
  batchFor(destTask: number): Batch {
    let batch = this.batches.get(destTask);
    if (!batch) {
      batch = { writer: this.newWriter(), count: 0 };
      this.batches.set(destTask, batch);
    }
    return batch;
  }

  /** Counts the tuple encoded at `start` in `destTask`'s batch; one that overflows the frame opens a new batch. */
  appended(destTask: number, batch: Batch, start: number): void {
    const writer = batch.writer;
    const size = writer.offset - start;
    this.bufferedBytes += size;
    if (writer.offset <= FRAME_END) {
      batch.count++;
      return;
    }
    // The tuple fits a frame of its own (the emitter refuses larger ones), so the batch before it is not empty.
    const next = this.newWriter();
    next.ensure(size);
    writer.buffer.copy(next.buffer, next.offset, start, writer.offset);
    next.offset += size;
    writer.offset = start;
    this.seal(destTask, batch);
    this.batches.set(destTask, { writer: next, count: 1 });
  }

  /** Drops what was written at `start` and after in `destTask`'s batch: a tuple that was refused. */
  discard(destTask: number, batch: Batch, start: number): void {
    batch.writer.offset = start;
    if (batch.count > 0) return;
    this.batches.delete(destTask);
    this.recycle(batch.writer);
  }

  /** Appends one record (an ack, a marker) that `write` encodes, to `destTask`'s batch. */
  appendRecord(destTask: number, write: (writer: ByteWriter) => void): void {
    const batch = this.batchFor(destTask);
    const start = batch.writer.offset;
    write(batch.writer);
    this.appended(destTask, batch, start);
  }

  /** Appends a copy of one encoded tuple, `source[0, length)`, and its trailer for `destTask`, to `destTask`'s batch. */
  append(destTask: number, source: Buffer, length: number, trailer?: TupleTrailer): void {
    let batch = this.batchFor(destTask);
    if (batch.writer.offset + length > FRAME_END) {
      this.seal(destTask, batch);
      batch = this.batchFor(destTask);
    }
    const writer = batch.writer;
    writer.ensure(length);
    const target = writer.buffer;
    const at = writer.offset;
    if (length <= JS_COPY_MAX) for (let i = 0; i < length; i++) target[at + i] = source[i]!;
    else source.copy(target, at, 0, length);
    writer.offset = at + length;
    if (trailer) trailer(writer, destTask);
    batch.count++;
    this.bufferedBytes += writer.offset - at;
  }

  get isEmpty(): boolean {
    return this.batches.size === 0 && this.sealed.length === 0;
  }

  /** Every batch as a transferable frame, each destination's in the order written; the writers are kept for reuse. */
  take(): ArrayBuffer[] {
    const frames = this.sealed;
    this.sealed = [];
    for (const [destTask, batch] of this.batches) frames.push(this.finish(destTask, batch));
    this.batches.clear();
    this.bufferedBytes = 0;
    return frames;
  }

  private newWriter(): ByteWriter {
    const writer = this.spare.pop() ?? new ByteWriter(16 * 1024, WRITER_LIMIT);
    writer.offset = DataFrameHeader.size;
    return writer;
  }

  private seal(destTask: number, batch: Batch): void {
    this.sealed.push(this.finish(destTask, batch));
    this.batches.delete(destTask);
  }

  private finish(destTask: number, { writer, count }: Batch): ArrayBuffer {
    const buffer = writer.buffer;
    buffer.writeUInt32LE(writer.offset - 4, 0);
    buffer[DataFrameHeader.kindOffset] = FrameKind.Data;
    buffer.writeUInt32LE(destTask, DataFrameHeader.destTaskOffset);
    buffer.writeUInt32LE(this.sourceTask, DataFrameHeader.srcTaskOffset);
    buffer.writeUInt32LE(count, DataFrameHeader.countOffset);
    buffer.writeUInt32LE(this.epoch, DataFrameHeader.epochOffset);
    const frame = writer.takeArrayBuffer();
    this.recycle(writer);
    return frame;
  }

  private recycle(writer: ByteWriter): void {
    if (writer.buffer.length <= MAX_REUSED_WRITER_BYTES) this.spare.push(writer);
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
  /** Destination tasks of the tuple being emitted, at the front; reused across emits (clearing an array is a slow call). */
  private readonly targets: number[] = [];
  /** Where a tuple for several destinations (or none) is encoded once before it is copied. */
  private scratch = new ByteWriter(SCRATCH_BYTES, WRITER_LIMIT);
  /** Written after the values of the tuple being emitted, per destination; set by the caller around an emit. */
  trailer: TupleTrailer | undefined;

  constructor(
    readonly component: string,
    private readonly batches: OutboundBatches,
    private readonly table: StreamTable,
    private readonly definition: TopologyDefinition,
    private readonly createGrouping: (name: string) => CustomGrouping,
    private readonly maxParallelism = 128,
  ) {}

  /** Every task that reads any stream of this component by the current plan: where markers go. */
  get downstreamTasks(): readonly number[] {
    const tasks = new Set<number>();
    for (const routes of this.streams.values()) {
      for (const route of routes.routes) {
        if (route.type === 'global') {
          if (route.task >= 0) tasks.add(route.task);
        } else for (const task of route.tasks) tasks.add(task);
      }
    }
    return [...tasks].sort((a, b) => a - b);
  }

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

  /**
   * Encodes `values` for every destination of `stream`; returns how many copies were queued. All or
   * nothing: a tuple that cannot be sent throws {@link TupleValueError} and reaches no destination.
   */
  emit(stream: string, values: readonly unknown[]): number {
    const routes = this.routesOf(stream, values);
    const targets = this.targets;
    let count = 0;
    for (const route of routes.routes) {
      switch (route.type) {
        case 'shuffle': {
          if (route.tasks.length === 0) break;
          if (route.weights) {
            targets[count++] = route.tasks[pickWeighted(route.weights, route.credit!)]!;
          } else {
            targets[count++] = route.tasks[route.next]!;
            route.next = route.next + 1 === route.tasks.length ? 0 : route.next + 1;
          }
          break;
        }
        case 'fields': {
          if (route.tasks.length === 0) break;
          let hash = 0x811c9dc5;
          for (const index of route.fieldIndexes) hash = hashValue(values[index], hash);
          // `| 0` keeps the indexes small integers: hashes above 2^31 would take V8 off its fast path.
          const keyGroup = (hash % this.maxParallelism) | 0;
          targets[count++] = route.tasks[((keyGroup * route.tasks.length) / this.maxParallelism) | 0]!;
          break;
        }
        case 'all':
          for (const task of route.tasks) targets[count++] = task;
          break;
        case 'global':
          if (route.task >= 0) targets[count++] = route.task;
          break;
        case 'custom':
          for (const task of route.grouping.chooseTasks(values)) {
            if (!route.tasks.has(task))
              throw new TopologyError(`custom grouping '${route.name}' chose task ${task}, which does not read this stream`);
            targets[count++] = task;
          }
          break;
        case 'direct':
          break;
      }
    }
    this.enqueue(routes.entry, values, count);
    return count;
  }

  /** Sends `values` to one task of a component that reads `stream` with direct grouping. */
  emitDirect(task: number, stream: string, values: readonly unknown[]): number {
    const routes = this.routesOf(stream, values);
    if (!routes.hasDirect)
      throw new TopologyError(`emitDirect on stream '${stream}' of '${this.component}': no bolt reads it with direct grouping`);
    let count = 0;
    for (const route of routes.routes) {
      if (route.type !== 'direct') continue;
      if (!route.tasks.has(task)) {
        throw new TopologyError(
          `emitDirect to task ${task}: '${route.component}' has tasks ${[...route.tasks].join(', ')} on stream '${stream}'`,
        );
      }
      this.targets[count++] = task;
    }
    this.enqueue(routes.entry, values, count);
    return count;
  }

  private routesOf(stream: string, values: readonly unknown[]): StreamRoutes {
    const routes = this.streams.get(stream);
    if (!routes) {
      throw new TopologyError(`'${this.component}' emitted on stream '${stream}', which it does not declare`);
    }
    if (values.length !== routes.entry.schema.fields.length) {
      throw new TopologyError(
        `'${this.component}' emitted ${values.length} value(s) on stream '${stream}', ` +
          `which declares ${routes.entry.schema.fields.length} field(s): ${routes.entry.schema.fields.join(', ')}`,
      );
    }
    return routes;
  }

  /** Adds one tuple to the batch of the first `count` targets, or to none if it cannot be sent. */
  private enqueue(entry: StreamEntry, values: readonly unknown[], count: number): void {
    if (count === 1) this.enqueueOne(this.targets[0]!, entry, values);
    else this.enqueueCopies(entry, values, count);
  }

  /** The common case, encoded in place with no copy. */
  private enqueueOne(task: number, entry: StreamEntry, values: readonly unknown[]): void {
    const batch = this.batches.batchFor(task);
    const writer = batch.writer;
    const start = writer.offset;
    let field = 0;
    try {
      writer.u16(entry.index);
      for (; field < values.length; field++) writeValue(writer, values[field]);
    } catch (error) {
      this.batches.discard(task, batch, start);
      throw this.refusal(entry, field, start, error);
    }
    if (this.trailer) this.trailer(writer, task);
    // A batch still within one frame cannot hold a tuple above the limit: only an overflowing one is checked.
    const size = writer.offset - start;
    if (writer.offset > FRAME_END && size > MAX_TUPLE_BYTES) {
      this.batches.discard(task, batch, start);
      throw this.tooLarge(entry, size);
    }
    this.batches.appended(task, batch, start);
  }

  /**
   * Several targets get copies of one encoding. No target still has the values checked, so whether
   * an emit is refused does not depend on who reads the stream.
   */
  private enqueueCopies(entry: StreamEntry, values: readonly unknown[], count: number): void {
    const scratch = this.scratch;
    scratch.offset = 0;
    let field = 0;
    try {
      scratch.u16(entry.index);
      for (; field < values.length; field++) writeValue(scratch, values[field]);
    } catch (error) {
      throw this.refusal(entry, field, 0, error);
    } finally {
      if (scratch.buffer.length > MAX_REUSED_WRITER_BYTES) this.scratch = new ByteWriter(SCRATCH_BYTES, WRITER_LIMIT);
    }
    if (scratch.offset > MAX_TUPLE_BYTES) throw this.tooLarge(entry, scratch.offset);
    for (let i = 0; i < count; i++) this.batches.append(this.targets[i]!, scratch.buffer, scratch.offset, this.trailer);
  }

  private refusal(entry: StreamEntry, field: number, start: number, error: unknown): TupleValueError {
    if (error instanceof EncodingLimitExceeded) return this.tooLarge(entry, error.neededOffset - start, error);
    const where = `'${this.component}' emitted on stream '${entry.stream}', field '${entry.schema.fields[field]}'`;
    if (error instanceof UnsendableValue) {
      const at = error.location ? ` at ${error.location}` : '';
      return new TupleValueError(
        `${where}${at}: ${error.reason}; nothing of this tuple was sent (supported values: see "Values" in docs/engine.md)`,
        {
          cause: error,
          code: 'tuple.unsendable',
        },
      );
    }
    return new TupleValueError(
      `${where} could not be encoded: ${String((error as Error)?.message ?? error)}; nothing of this tuple was sent`,
      {
        cause: error,
        code: 'tuple.unsendable',
      },
    );
  }

  /** `cause` is set when encoding stopped early, at `bytes`, rather than at the tuple's end. */
  private tooLarge(entry: StreamEntry, bytes: number, cause?: EncodingLimitExceeded): TupleValueError {
    return new TupleValueError(
      `'${this.component}' emitted a tuple on stream '${entry.stream}' whose encoding ` +
        `takes ${cause ? 'at least ' : ''}${bytes} bytes; a tuple may take at most ${MAX_TUPLE_BYTES} bytes ` +
        (`(a ${MAX_FRAME_BYTES}-byte frame less its header), so it was not sent: ` +
          `send large data in pieces, or store it elsewhere and send a reference`),
      { cause, code: 'tuple.too-large' },
    );
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
    if (!entry)
      throw new TopologyError(`data frame names stream index ${index}, beyond the ${table.entries.length} streams of this topology`);
    const width = entry.schema.fields.length;
    const values = new Array<unknown>(width);
    for (let v = 0; v < width; v++) values[v] = reader.value();
    onTuple(entry, values);
  }
  if (reader.offset !== frame.length)
    throw new TopologyError(`data frame has ${frame.length - reader.offset} trailing bytes after ${count} tuples`);
  return count;
}
