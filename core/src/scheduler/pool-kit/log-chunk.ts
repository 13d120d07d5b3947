import type { ContainerLogChunk, ContainerLogRequest } from '../../spi/scheduler.js';

/** The bytes of a log a {@link ContainerLogRequest} asks for. */
export interface LogByteRange {
  readonly start: number;
  readonly length: number;
}

/**
 * Which bytes of a log of `size` bytes to read: the last `maxBytes` without `fromOffset`, otherwise
 * up to `maxBytes` from `fromOffset`. A log shorter than `fromOffset` is not the log the follower
 * read before (the file was rotated, or a restarted container began a new one), so it is read from
 * its start: the chunk then starts below the offset asked for, which is how a follower notices.
 */
export function logByteRange(size: number, request: ContainerLogRequest): LogByteRange {
  const { fromOffset, maxBytes } = request;
  const start = fromOffset === undefined ? Math.max(0, size - maxBytes) : fromOffset > size ? 0 : fromOffset;
  return { start, length: Math.max(0, Math.min(maxBytes, size - start)) };
}

/**
 * Turns bytes read from a log at `start` into a chunk whose text holds only whole UTF-8 characters:
 * a character cut at the end is left for the next read (`end` stops before it), and, for a tail
 * (`fromOffset` absent), one cut at the start is dropped (`start` moves past it). A follower's offset
 * is always the `end` of an earlier chunk, so with `fromOffset` the start is kept as asked, whatever
 * the bytes there. Bytes that are not UTF-8 at all come out as U+FFFD.
 */
export function decodeLogChunk(
  containerId: number,
  bytes: Uint8Array,
  start: number,
  request: ContainerLogRequest,
  source: string,
): ContainerLogChunk {
  let from = 0;
  if (request.fromOffset === undefined && start > 0) {
    while (from < bytes.length && from < 3 && isContinuation(bytes[from]!)) from++;
  }
  let to = bytes.length - incompleteTail(bytes.subarray(from));
  // A chunk too small for one character must still move a follower on.
  if (to === from) to = bytes.length;
  return {
    containerId,
    text: Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('utf8'),
    start: start + from,
    end: start + to,
    source,
  };
}

function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/** How many bytes at the end of `bytes` are the beginning of a character whose rest is not there yet. */
function incompleteTail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if (isContinuation(byte)) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}
