import { TopologyError } from '../../errors/index.js';
import type { StreamEntry, StreamTable } from '../routing.js';
import { ACK_RECORD, AckKind, DataFrameHeader, MARKER_RECORD } from '../wire/frames.js';
import { ByteReader, type ByteWriter } from '../wire/tuple-codec.js';

/** Numbers per root in a tuple's anchors: spout task, root id (high, low), XOR value (high, low). */
export const ROOT_WIDTH = 5;

export interface ReliableFrameHandlers {
  /** A tuple; `anchors` holds ROOT_WIDTH numbers per root (empty for an untracked tuple) when the frame is anchored. */
  tuple(entry: StreamEntry, values: unknown[], anchors: number[] | undefined): void;
  ack(kind: AckKind, rootHigh: number, rootLow: number, xorHigh: number, xorLow: number): void;
  marker(checkpointId: number): void;
}

/**
 * Decodes a data frame of an at-least-once or effectively-once topology: tuples (with anchors after
 * their values when `anchored`), ack records and checkpoint markers, in order.
 */
export function decodeReliableFrame(frame: Buffer, table: StreamTable, anchored: boolean, handlers: ReliableFrameHandlers): void {
  const count = frame.readUInt32LE(DataFrameHeader.countOffset);
  const reader = new ByteReader(frame, DataFrameHeader.size);
  for (let i = 0; i < count; i++) {
    const index = reader.u16();
    if (index === ACK_RECORD) {
      const kind = reader.u8() as AckKind;
      handlers.ack(kind, reader.u32(), reader.u32(), reader.u32(), reader.u32());
      continue;
    }
    if (index === MARKER_RECORD) {
      handlers.marker(readId(reader));
      continue;
    }
    const entry = table.entries[index];
    if (!entry)
      throw new TopologyError(`data frame names stream index ${index}, beyond the ${table.entries.length} streams of this topology`);
    const width = entry.schema.fields.length;
    const values = new Array<unknown>(width);
    for (let v = 0; v < width; v++) values[v] = reader.value();
    let anchors: number[] | undefined;
    if (anchored) {
      const roots = reader.u8();
      anchors = new Array<number>(roots * ROOT_WIDTH);
      for (let r = 0; r < anchors.length; r++) anchors[r] = reader.u32();
    }
    handlers.tuple(entry, values, anchors);
  }
  if (reader.offset !== frame.length)
    throw new TopologyError(`data frame has ${frame.length - reader.offset} trailing bytes after ${count} records`);
}

export function writeAckRecord(
  writer: ByteWriter,
  kind: AckKind,
  rootHigh: number,
  rootLow: number,
  xorHigh: number,
  xorLow: number,
): void {
  writer.u16(ACK_RECORD);
  writer.u8(kind);
  writer.u32(rootHigh);
  writer.u32(rootLow);
  writer.u32(xorHigh >>> 0);
  writer.u32(xorLow >>> 0);
}

export function writeMarkerRecord(writer: ByteWriter, checkpointId: number): void {
  writer.u16(MARKER_RECORD);
  writer.u32(Math.floor(checkpointId / 0x100000000));
  writer.u32(checkpointId >>> 0);
}

function readId(reader: ByteReader): number {
  const high = reader.u32();
  return high * 0x100000000 + reader.u32();
}

/** The checkpoint of a frame that holds only a marker (markers always travel alone), else undefined. */
export function markerOf(frame: Buffer): number | undefined {
  if (frame.length < DataFrameHeader.size + 2 || frame.readUInt32LE(DataFrameHeader.countOffset) !== 1) return undefined;
  if (frame.readUInt16LE(DataFrameHeader.size) !== MARKER_RECORD) return undefined;
  return readId(new ByteReader(frame, DataFrameHeader.size + 2));
}

export function epochOf(frame: Buffer): number {
  return frame.readUInt32LE(DataFrameHeader.epochOffset);
}

export function sourceTaskOf(frame: Buffer): number {
  return frame.readUInt32LE(DataFrameHeader.srcTaskOffset);
}
