import { describe, expect, it } from 'vitest';
import { decodeLogChunk, logByteRange } from './index.js';

describe('logByteRange', () => {
  it('reads the last maxBytes without an offset, all of a shorter log', () => {
    expect(logByteRange(100, { maxBytes: 30 })).toEqual({ start: 70, length: 30 });
    expect(logByteRange(10, { maxBytes: 30 })).toEqual({ start: 0, length: 10 });
    expect(logByteRange(0, { maxBytes: 30 })).toEqual({ start: 0, length: 0 });
  });

  it('reads up to maxBytes from an offset, nothing at the end', () => {
    expect(logByteRange(100, { fromOffset: 40, maxBytes: 30 })).toEqual({ start: 40, length: 30 });
    expect(logByteRange(100, { fromOffset: 90, maxBytes: 30 })).toEqual({ start: 90, length: 10 });
    expect(logByteRange(100, { fromOffset: 100, maxBytes: 30 })).toEqual({ start: 100, length: 0 });
  });

  it('reads a log shorter than the offset from its start: it was replaced since', () => {
    expect(logByteRange(20, { fromOffset: 50, maxBytes: 30 })).toEqual({ start: 0, length: 20 });
    expect(logByteRange(200, { fromOffset: 500, maxBytes: 30 })).toEqual({ start: 0, length: 30 });
  });
});

describe('decodeLogChunk', () => {
  // 'é' is two bytes (c3 a9), '€' three (e2 82 ac), '𝄞' four (f0 9d 84 9e).
  const log = Buffer.from('aé€𝄞z\n', 'utf8');

  it('decodes whole characters with their byte offsets', () => {
    expect(decodeLogChunk(3, log, 0, { maxBytes: 100 }, '/x.log')).toEqual({
      containerId: 3,
      text: 'aé€𝄞z\n',
      start: 0,
      end: log.length,
      source: '/x.log',
    });
  });

  it('leaves a character cut at the end for the next read', () => {
    // Bytes 0..4 hold 'a', 'é' and the first two of the three bytes of '€'.
    const chunk = decodeLogChunk(1, log.subarray(0, 5), 0, { fromOffset: 0, maxBytes: 5 }, 'f');
    expect(chunk).toMatchObject({ text: 'aé', start: 0, end: 3 });
    const next = decodeLogChunk(1, log.subarray(3, 10), 3, { fromOffset: 3, maxBytes: 7 }, 'f');
    expect(next).toMatchObject({ text: '€𝄞', start: 3, end: 10 });
  });

  it('drops a character cut at the start of a tail, not at a follower’s offset', () => {
    // A tail starting at byte 2, inside 'é'.
    expect(decodeLogChunk(1, log.subarray(2), 2, { maxBytes: 100 }, 'f')).toMatchObject({ text: '€𝄞z\n', start: 3, end: log.length });
    // A follower asked for byte 2 itself: the chunk starts there, the stray byte shown as U+FFFD.
    expect(decodeLogChunk(1, log.subarray(2), 2, { fromOffset: 2, maxBytes: 100 }, 'f')).toMatchObject({
      text: '\ufffd€𝄞z\n',
      start: 2,
    });
  });

  it('still moves a follower on when maxBytes is smaller than one character', () => {
    const chunk = decodeLogChunk(1, log.subarray(6, 8), 6, { fromOffset: 6, maxBytes: 2 }, 'f');
    expect(chunk.start).toBe(6);
    expect(chunk.end).toBe(8);
  });

  it('returns an empty chunk at the end of the log', () => {
    expect(decodeLogChunk(1, new Uint8Array(0), 11, { fromOffset: 11, maxBytes: 10 }, 'f')).toMatchObject({ text: '', start: 11, end: 11 });
  });
});
