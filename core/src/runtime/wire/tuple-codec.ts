import { pack, unpack } from 'msgpackr';

/**
 * Binary tuple encoding for the data plane. Each value carries a one-byte tag; short ASCII strings
 * (the common case: words, keys, ids) are written and read in JavaScript, which is 2-3x cheaper than
 * calling into Buffer's C++ string codecs for a handful of bytes. Values of other types fall back to
 * msgpack, so any JSON-like value can travel, at a higher cost.
 */
export const enum ValueTag {
  Null = 0,
  Int32 = 1,
  Float64 = 2,
  ShortAscii = 3,
  Utf8 = 4,
  True = 5,
  False = 6,
  Bytes = 7,
  MsgPack = 8,
}

/**
 * Node's Buffer has per-encoding methods that skip the encoding-name dispatch of `write`/`toString`;
 * they are stable since Node 0.x but absent from the type definitions.
 */
interface FastBuffer extends Buffer {
  latin1Write(text: string, offset: number, length: number): number;
  utf8Write(text: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const fast = (buffer: Buffer): FastBuffer => buffer as FastBuffer;

const SHORT_STRING_MAX = 255;
/** Below this length a JavaScript loop beats Buffer.latin1Write/latin1Slice for ASCII. */
const JS_STRING_LOOP_MAX = 24;

/** A growable byte buffer that batches are written into; reused across flushes. */
export class ByteWriter {
  buffer: Buffer;
  offset = 0;

  constructor(initialSize = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  ensure(extra: number): void {
    const needed = this.offset + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
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

export function writeValue(w: ByteWriter, value: unknown): void {
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
    case 'undefined':
      w.u8(ValueTag.Null);
      return;
    default:
      if (value === null) {
        w.u8(ValueTag.Null);
      } else if (value instanceof Uint8Array) {
        w.ensure(5 + value.length);
        w.buffer[w.offset] = ValueTag.Bytes;
        w.buffer.writeUInt32LE(value.length, w.offset + 1);
        w.buffer.set(value, w.offset + 5);
        w.offset += 5 + value.length;
      } else {
        const packed = pack(value);
        w.ensure(5 + packed.length);
        w.buffer[w.offset] = ValueTag.MsgPack;
        w.buffer.writeUInt32LE(packed.length, w.offset + 1);
        w.buffer.set(packed, w.offset + 5);
        w.offset += 5 + packed.length;
      }
  }
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
  const byteLength = Buffer.byteLength(value, 'utf8');
  w.ensure(5 + byteLength);
  w.buffer[w.offset] = ValueTag.Utf8;
  w.buffer.writeUInt32LE(byteLength, w.offset + 1);
  fast(w.buffer).utf8Write(value, w.offset + 5, byteLength);
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

  value(): unknown {
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
      case ValueTag.MsgPack: {
        const length = buffer.readUInt32LE(this.offset);
        const start = this.offset + 4;
        this.offset = start + length;
        return unpack(buffer.subarray(start, start + length));
      }
      default:
        throw new RangeError(`unknown value tag ${String(tag)} at byte ${this.offset - 1}`);
    }
  }
}
