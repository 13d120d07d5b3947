import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { pack, unpack } from 'msgpackr';

/**
 * Every connection carries length-prefixed frames: `u32 length | u8 kind | body`. Data frames hold
 * one batch of tuples for one destination task (see {@link DataFrameHeader}); control frames hold one
 * msgpack-encoded message. Batching per destination lets stream managers forward a frame without
 * looking at its tuples.
 */
export const enum FrameKind {
  Data = 1,
  Control = 2,
}

/** Larger frames are treated as corruption: the emitter never builds one (see {@link MAX_TUPLE_BYTES}). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Layout of a data frame after the length prefix: kind (u8), destination task (u32), source task
 * (u32), tuple count (u32), epoch (u32), then tuples. Offsets are from the start of the frame, length
 * prefix included. The epoch counts the rollbacks of an effectively-once topology: a frame emitted
 * before a rollback is recognised by its older epoch and discarded (always 0 in the other modes).
 */
export const DataFrameHeader = {
  kindOffset: 4,
  destTaskOffset: 5,
  srcTaskOffset: 9,
  countOffset: 13,
  epochOffset: 17,
  size: 21,
} as const;

/**
 * Stream indexes at the top of the u16 range mark records that are not tuples. A marker of checkpoint
 * c (`u16 | f64 c`) travels alone in its frame, in order with the tuples before and after it; an ack
 * record (`u16 | u8 kind | u32 rootHigh | u32 rootLow | u32 xorHigh | u32 xorLow`) goes to the spout
 * task that tracks the tree.
 */
export const MARKER_RECORD = 0xfffe;
export const ACK_RECORD = 0xffff;
export const enum AckKind {
  Ack = 1,
  Fail = 2,
}

/**
 * The largest encoded tuple (stream index and values) a data frame can carry: emit refuses a larger
 * one, since no frame could take it.
 */
export const MAX_TUPLE_BYTES = 4 + MAX_FRAME_BYTES - DataFrameHeader.size;

export function destTaskOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(DataFrameHeader.destTaskOffset, true);
}

/** How many tuples a data frame holds. */
export function tupleCountOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(DataFrameHeader.countOffset, true);
}

export function encodeControlFrame(message: unknown): Buffer {
  const body = pack(message);
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame.writeUInt32LE(1 + body.length, 0);
  frame[4] = FrameKind.Control;
  body.copy(frame, 5);
  return frame;
}

export class FrameError extends Error {}

/**
 * Splits a byte stream into frames. Each frame is passed whole (length prefix included) as a view
 * into the received chunk, so a consumer that keeps it must copy it. A frame longer than
 * `maxFrameBytes` is rejected as soon as its length prefix arrives, before any of it is buffered.
 */
export class FrameReader {
  /** Bytes of an incomplete frame, kept as chunks so a large frame is concatenated once, not per chunk. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needed = 0;

  constructor(
    private readonly onFrame: (kind: FrameKind, frame: Buffer) => void,
    /** Largest frame accepted, length prefix excluded; a link raises it once its peer has authenticated. */
    public maxFrameBytes = MAX_FRAME_BYTES,
  ) {}

  push(chunk: Buffer): void {
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.needed === 0 && this.pendingBytes >= 4) this.needed = 4 + this.checkedLength(Buffer.concat(this.pending).readUInt32LE(0));
      if (this.pendingBytes < Math.max(this.needed, 5)) return;
      chunk = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.needed = 0;
    }
    let offset = 0;
    while (chunk.length - offset >= 5) {
      const length = this.checkedLength(chunk.readUInt32LE(offset));
      if (chunk.length - offset < 4 + length) break;
      const kind = chunk[offset + 4] as FrameKind;
      if (kind !== FrameKind.Data && kind !== FrameKind.Control) throw new FrameError(`unknown frame kind ${kind}`);
      if (kind === FrameKind.Data && length < DataFrameHeader.size - 4) throw new FrameError('data frame shorter than its header');
      this.onFrame(kind, chunk.subarray(offset, offset + 4 + length));
      offset += 4 + length;
    }
    if (offset < chunk.length) {
      const rest = Buffer.from(chunk.subarray(offset));
      this.pending = [rest];
      this.pendingBytes = rest.length;
      this.needed = rest.length >= 4 ? 4 + this.checkedLength(rest.readUInt32LE(0)) : 0;
    }
  }

  private checkedLength(length: number): number {
    if (length < 1 || length > this.maxFrameBytes)
      throw new FrameError(`frame length ${length} is out of range (1 to ${this.maxFrameBytes})`);
    return length;
  }
}

export function decodeControl(frame: Buffer): unknown {
  try {
    return unpack(frame.subarray(5));
  } catch (error) {
    throw new FrameError(`control frame is not valid msgpack: ${(error as Error).message}`);
  }
}

/**
 * Coalesces writes to a socket until the end of the current event-loop turn, then writes once.
 * Under load a turn accumulates many frames, so batches grow by themselves; when idle a frame leaves
 * within the same turn, which keeps latency at tens of microseconds instead of a timer's period.
 */
export class CoalescingWriter {
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  write(frame: Uint8Array): void {
    this.queued.push(frame);
    this.queuedBytes += frame.byteLength;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Bytes accepted but not yet handed to the kernel, including the socket's own buffer. */
  get backlogBytes(): number {
    return this.queuedBytes + this.socket.writableLength;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.queued.length === 0 || this.socket.destroyed) {
      this.queued = [];
      this.queuedBytes = 0;
      return;
    }
    const chunk = this.queued.length === 1 ? this.queued[0]! : Buffer.concat(this.queued, this.queuedBytes);
    this.queued = [];
    this.queuedBytes = 0;
    this.socket.write(chunk);
  };
}

/** Challenge-response over the topology secret: the secret itself never crosses the wire. */
export function newChallenge(): string {
  return randomBytes(16).toString('hex');
}

export function answerChallenge(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(nonce).digest('hex');
}

export function verifyChallenge(secret: string, nonce: string, answer: unknown): boolean {
  if (typeof answer !== 'string') return false;
  const expected = Buffer.from(answerChallenge(secret, nonce), 'hex');
  const given = Buffer.from(answer, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
