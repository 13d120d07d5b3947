/**
 * Binary tuple encoding for the data plane. Each value carries a one-byte tag; short ASCII strings
 * (the common case: words, keys, ids) are written and read in JavaScript, which is 2-3x cheaper than
 * calling into Buffer's C++ string codecs for a handful of bytes.
 *
 * Only the types listed in {@link ValueTag} can be sent, and each arrives as the type it was sent
 * as. Anything else (functions, symbols, class instances, cycles) is refused while encoding with an
 * {@link UnsendableValue} naming where in the value it sits, so the emitter can refuse the whole
 * tuple instead of sending something the consumer would read back differently.
 */
export const enum ValueTag {
  Null = 0,
  Int32 = 1,
  Float64 = 2,
  ShortAscii = 3,
  Utf8 = 4,
  True = 5,
  False = 6,
  /** A Buffer: u32 length, bytes. */
  Bytes = 7,
  Undefined = 8,
  /** A string with lone surrogates, which UTF-8 cannot carry: u32 byte length, UTF-16LE. */
  Utf16 = 9,
  /** u8 sign (1 = negative), u32 length, the magnitude in hexadecimal ASCII. */
  BigInt = 10,
  /** Milliseconds since the epoch as a float64 (NaN for an invalid date). */
  Date = 11,
  /** u32 length, then the elements. */
  Array = 12,
  /** u32 count, then key (a string value) and value pairs. */
  Object = 13,
  /** As {@link ValueTag.Object}, for an object whose prototype is null. */
  NullPrototypeObject = 14,
  /** u32 count, then key and value pairs. */
  Map = 15,
  /** u32 count, then the elements. */
  Set = 16,
  /** u32 length, bytes. */
  ArrayBuffer = 17,
  /** A typed array other than Buffer, or a DataView: u8 kind ({@link VIEW_TYPES}), u32 byte length, bytes. */
  View = 18,
}

/** Views that travel with the {@link ValueTag.View} tag; the index is the kind byte on the wire. */
const VIEW_TYPES: readonly (abstract new (buffer: ArrayBuffer) => ArrayBufferView)[] = [
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
];
const VIEW_KIND_BY_PROTOTYPE = new Map<object, number>(VIEW_TYPES.map((type, kind) => [type.prototype, kind]));

/**
 * Deeper values are refused: encoding and decoding recurse, and a fixed bound keeps both far from
 * the stack limit of a worker thread.
 */
export const MAX_VALUE_DEPTH = 1000;

/**
 * A value, or a part of it, that cannot be sent; `path` locates the part (e.g. `.items[3].fn`).
 * Internal: the emitter turns it into a `TupleValueError` naming the component, stream and field.
 */
export class UnsendableValue extends Error {
  readonly path: string[] = [];

  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }

  get location(): string {
    return this.path.join('');
  }
}

/** What is being encoded would grow a {@link ByteWriter} past its limit. Internal, like {@link UnsendableValue}. */
export class EncodingLimitExceeded extends Error {
  constructor(readonly neededOffset: number) {
    super(`the encoding needs the writer to grow to at least ${neededOffset} bytes`);
  }
}

/**
 * Node's Buffer has per-encoding methods that skip the encoding-name dispatch of `write`/`toString`;
 * they are stable since Node 0.x but absent from the type definitions.
 */
interface FastBuffer extends Buffer {
  latin1Write(text: string, offset: number, length: number): number;
  utf8Write(text: string, offset: number, length: number): number;
  ucs2Write(text: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  ucs2Slice(start: number, end: number): string;
}
const fast = (buffer: Buffer): FastBuffer => buffer as FastBuffer;

/** `String.prototype.isWellFormed` (ES2024, in Node 20) is not in the ES2022 library this builds against. */
interface WellFormedCheck {
  isWellFormed(): boolean;
}

const SHORT_STRING_MAX = 255;
/** Below this length a JavaScript loop beats Buffer.latin1Write/latin1Slice for ASCII. */
const JS_STRING_LOOP_MAX = 24;

/** A growable byte buffer that batches are written into; reused across flushes. */
export class ByteWriter {
  buffer: Buffer;
  offset = 0;

  /**
   * Growing the buffer past `limit` bytes throws {@link EncodingLimitExceeded}, so a value far above
   * what may be sent is refused before it is copied in whole. Checked only when the buffer grows.
   */
  constructor(
    initialSize = 64 * 1024,
    readonly limit = Number.POSITIVE_INFINITY,
  ) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  ensure(extra: number): void {
    const needed = this.offset + extra;
    if (needed <= this.buffer.length) return;
    if (needed > this.limit) throw new EncodingLimitExceeded(needed);
    // Doubling amortises small appends; a value bigger than that gets exactly its size, not twice it.
    const size = Math.max(this.buffer.length * 2, needed);
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.offset++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.buffer.writeUInt16LE(value, this.offset);
    this.offset += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32LE(value, this.offset);
    this.offset += 4;
  }

  bytes(source: Uint8Array): void {
    this.ensure(source.length);
    this.buffer.set(source, this.offset);
    this.offset += source.length;
  }

  /** Copies what was written into an ArrayBuffer of exactly that size, which can be transferred. */
  takeArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.offset);
    new Uint8Array(out).set(this.buffer.subarray(0, this.offset));
    this.offset = 0;
    return out;
  }

  reset(): void {
    this.offset = 0;
  }
}

/**
 * Appends one value. `depth` counts the containers around it; callers outside this module pass
 * nothing. Throws {@link UnsendableValue} for a value that cannot be sent, with whatever it wrote
 * so far left in the writer: the caller rolls the writer back.
 */
export function writeValue(w: ByteWriter, value: unknown, depth = 0): void {
  switch (typeof value) {
    case 'string':
      writeString(w, value);
      return;
    case 'number':
      if ((value | 0) === value && !Object.is(value, -0)) {
        w.ensure(5);
        w.buffer[w.offset] = ValueTag.Int32;
        w.buffer.writeInt32LE(value, w.offset + 1);
        w.offset += 5;
      } else {
        w.ensure(9);
        w.buffer[w.offset] = ValueTag.Float64;
        w.buffer.writeDoubleLE(value, w.offset + 1);
        w.offset += 9;
      }
      return;
    case 'boolean':
      w.u8(value ? ValueTag.True : ValueTag.False);
      return;
    case 'object':
      if (value === null) w.u8(ValueTag.Null);
      else writeObject(w, value, depth);
      return;
    default:
      // Kept out of this function, so it stays small enough for V8 to inline the string writer.
      writeOther(w, value);
  }
}

function writeOther(w: ByteWriter, value: unknown): void {
  switch (typeof value) {
    case 'undefined':
      w.u8(ValueTag.Undefined);
      return;
    case 'bigint':
      writeBigInt(w, value);
      return;
    case 'function':
      throw new UnsendableValue(`a function${value.name ? ` (${value.name})` : ''} cannot be sent`);
    default:
      throw new UnsendableValue(`a ${typeof value} cannot be sent`);
  }
}

/**
 * The containers around the value being written: `ancestors[i]` for i < depth is the one at depth i,
 * so a value among them is a cycle. Entries from `depth` on are stale and never read; they are
 * dropped after each top-level value, so the last value sent is not kept alive.
 */
const ancestors: object[] = [];

function writeObject(w: ByteWriter, value: object, depth: number): void {
  if (depth > 0) {
    writeNonNull(w, value, depth);
    return;
  }
  try {
    writeNonNull(w, value, 0);
  } finally {
    if (ancestors.length > 0) ancestors.length = 0;
  }
}

function writeNonNull(w: ByteWriter, value: object, depth: number): void {
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === Object.prototype || prototype === null) {
    enter(value, depth);
    writeRecord(w, value as Record<string, unknown>, prototype === null ? ValueTag.NullPrototypeObject : ValueTag.Object, depth + 1);
  } else if (prototype === Array.prototype && Array.isArray(value)) {
    enter(value, depth);
    writeArray(w, value as unknown[], depth + 1);
  } else if (prototype === Buffer.prototype) {
    writeBytes(w, ValueTag.Bytes, value as Buffer);
  } else if (prototype === Date.prototype) {
    w.ensure(9);
    w.buffer[w.offset] = ValueTag.Date;
    w.buffer.writeDoubleLE((value as Date).getTime(), w.offset + 1);
    w.offset += 9;
  } else if (prototype === Map.prototype) {
    enter(value, depth);
    writeMap(w, value as Map<unknown, unknown>, depth + 1);
  } else if (prototype === Set.prototype) {
    enter(value, depth);
    writeSet(w, value as Set<unknown>, depth + 1);
  } else if (prototype === ArrayBuffer.prototype) {
    writeBytes(w, ValueTag.ArrayBuffer, new Uint8Array(value as ArrayBuffer));
  } else {
    const kind = VIEW_KIND_BY_PROTOTYPE.get(prototype);
    if (kind === undefined) throw new UnsendableValue(describeUnsendable(value, prototype));
    const view = value as ArrayBufferView;
    w.u8(ValueTag.View);
    writeBytes(w, kind, new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
}

/** Records a container at `depth`, refusing a cycle or a value nested too deeply. */
function enter(value: object, depth: number): void {
  if (depth >= MAX_VALUE_DEPTH) throw new UnsendableValue(`it is nested deeper than ${MAX_VALUE_DEPTH} levels`);
  for (let i = 0; i < depth; i++)
    if (ancestors[i] === value) throw new UnsendableValue('it contains itself (a cycle), which cannot be sent');
  ancestors[depth] = value;
}

function writeRecord(w: ByteWriter, record: Record<string, unknown>, tag: ValueTag, inner: number): void {
  const keys = Object.keys(record);
  w.u8(tag);
  w.u32(keys.length);
  for (const key of keys) {
    writeString(w, key);
    try {
      writeValue(w, record[key], inner);
    } catch (error) {
      throw within(error, /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
    }
  }
}

function writeArray(w: ByteWriter, array: unknown[], inner: number): void {
  w.u8(ValueTag.Array);
  w.u32(array.length);
  for (let i = 0; i < array.length; i++) {
    try {
      writeValue(w, array[i], inner);
    } catch (error) {
      throw within(error, `[${i}]`);
    }
  }
}

function writeMap(w: ByteWriter, map: Map<unknown, unknown>, inner: number): void {
  w.u8(ValueTag.Map);
  w.u32(map.size);
  let i = 0;
  for (const [key, entry] of map) {
    try {
      writeValue(w, key, inner);
    } catch (error) {
      throw within(error, ` key #${i}`);
    }
    try {
      writeValue(w, entry, inner);
    } catch (error) {
      throw within(error, `.get(${describeKey(key, i)})`);
    }
    i++;
  }
}

function writeSet(w: ByteWriter, set: Set<unknown>, inner: number): void {
  w.u8(ValueTag.Set);
  w.u32(set.size);
  let i = 0;
  for (const element of set) {
    try {
      writeValue(w, element, inner);
    } catch (error) {
      throw within(error, ` element #${i}`);
    }
    i++;
  }
}

/** Prefixes the location of the failing part; an error that is not a refusal (a getter threw) becomes one. */
function within(error: unknown, segment: string): unknown {
  if (error instanceof EncodingLimitExceeded) return error;
  const refusal =
    error instanceof UnsendableValue
      ? error
      : new UnsendableValue(`reading it threw: ${String((error as Error)?.message ?? error)}`, { cause: error });
  refusal.path.unshift(segment);
  return refusal;
}

function describeKey(key: unknown, index: number): string {
  if (typeof key === 'string') return JSON.stringify(key);
  if (typeof key === 'number' || typeof key === 'boolean' || key === null || key === undefined) return String(key);
  if (typeof key === 'bigint') return `${key}n`;
  return `<key #${index}>`;
}

function describeUnsendable(value: object, prototype: object | null): string {
  if (prototype === SharedArrayBuffer.prototype) return 'a SharedArrayBuffer cannot be sent; copy it into an ArrayBuffer or a typed array';
  if (ArrayBuffer.isView(value))
    return (
      `a ${className(prototype)} (a subclass of a typed array) cannot be sent; ` +
      `send a ${VIEW_TYPES.find((t) => value instanceof t)?.name ?? 'typed array'} of its contents`
    );
  return (
    `an instance of ${className(prototype)} cannot be sent; only plain objects, arrays, Maps, Sets, ` +
    `Dates, Buffers, typed arrays, DataViews and ArrayBuffers can (send its data as a plain object)`
  );
}

function className(prototype: object | null): string {
  const constructor = (prototype as { constructor?: unknown } | null)?.constructor;
  return typeof constructor === 'function' && constructor.name ? constructor.name : 'an anonymous class';
}

/** `head` is a tag, or a view's kind byte after its tag; then the length and the bytes. */
function writeBytes(w: ByteWriter, head: number, bytes: Uint8Array): void {
  w.ensure(5 + bytes.length);
  w.buffer[w.offset] = head;
  w.buffer.writeUInt32LE(bytes.length, w.offset + 1);
  w.buffer.set(bytes, w.offset + 5);
  w.offset += 5 + bytes.length;
}

function writeBigInt(w: ByteWriter, value: bigint): void {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString(16);
  w.ensure(6 + digits.length);
  w.buffer[w.offset] = ValueTag.BigInt;
  w.buffer[w.offset + 1] = negative ? 1 : 0;
  w.buffer.writeUInt32LE(digits.length, w.offset + 2);
  fast(w.buffer).latin1Write(digits, w.offset + 6, digits.length);
  w.offset += 6 + digits.length;
}

function writeString(w: ByteWriter, value: string): void {
  const length = value.length;
  if (length <= SHORT_STRING_MAX) {
    w.ensure(2 + length);
    const buffer = w.buffer;
    const start = w.offset;
    if (length <= JS_STRING_LOOP_MAX) {
      let ascii = true;
      for (let i = 0; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 0x7f) {
          ascii = false;
          break;
        }
        buffer[start + 2 + i] = code;
      }
      if (ascii) {
        buffer[start] = ValueTag.ShortAscii;
        buffer[start + 1] = length;
        w.offset = start + 2 + length;
        return;
      }
    } else if (isAscii(value)) {
      buffer[start] = ValueTag.ShortAscii;
      buffer[start + 1] = length;
      fast(buffer).latin1Write(value, start + 2, length);
      w.offset = start + 2 + length;
      return;
    }
  }
  if (!(value as unknown as WellFormedCheck).isWellFormed()) {
    writeUtf16(w, value);
    return;
  }
  const byteLength = Buffer.byteLength(value, 'utf8');
  w.ensure(5 + byteLength);
  w.buffer[w.offset] = ValueTag.Utf8;
  w.buffer.writeUInt32LE(byteLength, w.offset + 1);
  fast(w.buffer).utf8Write(value, w.offset + 5, byteLength);
  w.offset += 5 + byteLength;
}

/** UTF-8 would turn each lone surrogate into U+FFFD; UTF-16 keeps the string exactly as it was. */
function writeUtf16(w: ByteWriter, value: string): void {
  const byteLength = value.length * 2;
  w.ensure(5 + byteLength);
  w.buffer[w.offset] = ValueTag.Utf16;
  w.buffer.writeUInt32LE(byteLength, w.offset + 1);
  fast(w.buffer).ucs2Write(value, w.offset + 5, byteLength);
  w.offset += 5 + byteLength;
}

function isAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** One `fromCharCode` call per word instead of one concatenation per character: words are short. */
function shortAscii(b: Buffer, s: number, length: number): string {
  switch (length) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(b[s]!);
    case 2:
      return String.fromCharCode(b[s]!, b[s + 1]!);
    case 3:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    default:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
  }
}

/** Reads values written by {@link writeValue}; `offset` advances as values are read. */
export class ByteReader {
  offset: number;

  constructor(
    readonly buffer: Buffer,
    start = 0,
    readonly end = buffer.length,
  ) {
    this.offset = start;
  }

  u8(): number {
    return this.buffer[this.offset++]!;
  }

  u16(): number {
    const value = this.buffer.readUInt16LE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    const value = this.buffer.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  /** `depth` counts the containers around the value; callers outside this module pass nothing. */
  value(depth = 0): unknown {
    const buffer = this.buffer;
    const tag = buffer[this.offset++];
    switch (tag) {
      case ValueTag.ShortAscii: {
        const length = buffer[this.offset++]!;
        const start = this.offset;
        this.offset += length;
        if (length <= 8) return shortAscii(buffer, start, length);
        if (length <= JS_STRING_LOOP_MAX) {
          let text = shortAscii(buffer, start, 8);
          for (let i = start + 8; i < start + length; i++) text += String.fromCharCode(buffer[i]!);
          return text;
        }
        return fast(buffer).latin1Slice(start, start + length);
      }
      case ValueTag.Int32: {
        const value = buffer.readInt32LE(this.offset);
        this.offset += 4;
        return value;
      }
      case ValueTag.Float64: {
        const value = buffer.readDoubleLE(this.offset);
        this.offset += 8;
        return value;
      }
      case ValueTag.Utf8: {
        const length = buffer.readUInt32LE(this.offset);
        const start = this.offset + 4;
        this.offset = start + length;
        return fast(buffer).utf8Slice(start, start + length);
      }
      case ValueTag.True:
        return true;
      case ValueTag.False:
        return false;
      case ValueTag.Null:
        return null;
      case ValueTag.Bytes: {
        const length = buffer.readUInt32LE(this.offset);
        const start = this.offset + 4;
        this.offset = start + length;
        return Buffer.from(buffer.subarray(start, start + length));
      }
      case ValueTag.Undefined:
        return undefined;
      default:
        return this.rare(tag, depth);
    }
  }

  /** Values off the hot path, kept out of {@link value} so that stays small. */
  private rare(tag: number | undefined, depth: number): unknown {
    const buffer = this.buffer;
    if (tag !== undefined && tag >= ValueTag.Array && tag <= ValueTag.Set && depth >= MAX_VALUE_DEPTH) {
      throw new RangeError(`value at byte ${this.offset - 1} is nested deeper than ${MAX_VALUE_DEPTH} levels`);
    }
    switch (tag) {
      case ValueTag.Utf16: {
        const start = this.span(buffer.readUInt32LE(this.offset), 4);
        return fast(buffer).ucs2Slice(start, this.offset);
      }
      case ValueTag.BigInt: {
        const negative = buffer[this.offset] === 1;
        const start = this.span(buffer.readUInt32LE(this.offset + 1), 5);
        const magnitude = BigInt(`0x${fast(buffer).latin1Slice(start, this.offset)}`);
        return negative ? -magnitude : magnitude;
      }
      case ValueTag.Date: {
        const time = buffer.readDoubleLE(this.offset);
        this.offset += 8;
        return new Date(time);
      }
      case ValueTag.Array: {
        const array = new Array<unknown>(this.count());
        for (let i = 0; i < array.length; i++) array[i] = this.value(depth + 1);
        return array;
      }
      case ValueTag.Object:
      case ValueTag.NullPrototypeObject: {
        const record: Record<string, unknown> = tag === ValueTag.Object ? {} : (Object.create(null) as Record<string, unknown>);
        for (let i = this.count(); i > 0; i--) {
          const key = this.value(depth + 1);
          if (typeof key !== 'string') throw new RangeError(`object key at byte ${this.offset} is a ${typeof key}, not a string`);
          const entry = this.value(depth + 1);
          // Assigning '__proto__' would set the prototype instead of adding the property that was sent.
          if (key === '__proto__')
            Object.defineProperty(record, key, { value: entry, enumerable: true, writable: true, configurable: true });
          else record[key] = entry;
        }
        return record;
      }
      case ValueTag.Map: {
        const map = new Map<unknown, unknown>();
        for (let i = this.count(); i > 0; i--) {
          const key = this.value(depth + 1);
          map.set(key, this.value(depth + 1));
        }
        return map;
      }
      case ValueTag.Set: {
        const set = new Set<unknown>();
        for (let i = this.count(); i > 0; i--) set.add(this.value(depth + 1));
        return set;
      }
      case ValueTag.ArrayBuffer: {
        const start = this.span(buffer.readUInt32LE(this.offset), 4);
        return this.copy(start);
      }
      case ValueTag.View: {
        const type = VIEW_TYPES[buffer[this.offset]!] as (new (buffer: ArrayBuffer) => ArrayBufferView) | undefined;
        if (!type) throw new RangeError(`unknown view kind ${buffer[this.offset]} at byte ${this.offset}`);
        const start = this.span(buffer.readUInt32LE(this.offset + 1), 5);
        return new type(this.copy(start));
      }
      default:
        throw new RangeError(`unknown value tag ${String(tag)} at byte ${this.offset - 1}`);
    }
  }

  /** Skips `header` bytes and a body of `length` bytes; returns where the body starts. */
  private span(length: number, header: number): number {
    const start = this.offset + header;
    if (start + length > this.end) throw new RangeError(`value at byte ${this.offset - 1} runs past the end of its frame`);
    this.offset = start + length;
    return start;
  }

  /** An element count, which cannot exceed the bytes left (each element takes one at least). */
  private count(): number {
    const count = this.u32();
    if (count > this.end - this.offset)
      throw new RangeError(`count ${count} at byte ${this.offset - 4} exceeds the bytes left in the frame`);
    return count;
  }

  /** A copy in an ArrayBuffer of its own, so the value does not keep the frame alive or expose it. */
  private copy(start: number): ArrayBuffer {
    const out = new ArrayBuffer(this.offset - start);
    new Uint8Array(out).set(this.buffer.subarray(start, this.offset));
    return out;
  }
}
