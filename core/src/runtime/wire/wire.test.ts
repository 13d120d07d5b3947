import { describe, expect, it } from 'vitest';
import { answerChallenge, decodeControl, encodeControlFrame, FrameError, FrameKind, FrameReader, verifyChallenge } from './frames.js';
import { ByteReader, ByteWriter, writeValue } from './tuple-codec.js';

describe('tuple value codec', () => {
  it('round-trips every value kind', () => {
    const values = [
      'word',
      'a longer ascii string that is well past the javascript loop limit',
      'héron 鷺',
      'x'.repeat(300),
      '',
      0,
      -7,
      2147483647,
      -2147483648,
      2147483648,
      1.5,
      -0,
      Number.NaN,
      true,
      false,
      null,
      Buffer.from([1, 2, 3]),
      { nested: ['a', 1] },
      [1, 'two'],
    ];
    const writer = new ByteWriter(8);
    for (const value of values) writeValue(writer, value);
    const reader = new ByteReader(writer.buffer, 0, writer.offset);
    const decoded = values.map(() => reader.value());
    expect(reader.offset).toBe(writer.offset);
    expect(decoded).toEqual(values);
    expect(Object.is(decoded[11], -0)).toBe(true);
  });

  it('round-trips ASCII strings of every short length', () => {
    const words = Array.from({ length: 40 }, (_, n) => 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'.slice(0, n));
    const writer = new ByteWriter(8);
    for (const word of words) writeValue(writer, word);
    const reader = new ByteReader(writer.buffer, 0, writer.offset);
    expect(words.map(() => reader.value())).toEqual(words);
  });

  it('reads undefined back as undefined and rejects unknown tags', () => {
    const writer = new ByteWriter();
    writeValue(writer, undefined);
    writer.u8(99);
    const reader = new ByteReader(writer.buffer, 0, writer.offset);
    expect(reader.value()).toBeUndefined();
    expect(() => reader.value()).toThrow(/unknown value tag 99/);
  });
});

describe('frames', () => {
  it('reassembles frames split across chunks and several frames in one chunk', () => {
    const frames: unknown[] = [];
    const reader = new FrameReader((kind, frame) => frames.push([kind, decodeControl(frame)]));
    const a = encodeControlFrame({ type: 'hello', payload: 'x'.repeat(1000) });
    const b = encodeControlFrame({ type: 'bye' });
    const all = Buffer.concat([a, b, a]);
    for (let i = 0; i < all.length; i += 7) reader.push(all.subarray(i, i + 7));
    expect(frames).toEqual([
      [FrameKind.Control, { type: 'hello', payload: 'x'.repeat(1000) }],
      [FrameKind.Control, { type: 'bye' }],
      [FrameKind.Control, { type: 'hello', payload: 'x'.repeat(1000) }],
    ]);
  });

  it('treats garbage as a frame error', () => {
    const reader = new FrameReader(() => undefined);
    expect(() => reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(FrameError);
    expect(() => new FrameReader(() => undefined).push(Buffer.from([1, 0, 0, 0, 9]))).toThrow(/unknown frame kind 9/);
    const bad = encodeControlFrame('ok');
    bad[5] = 0xc1;
    expect(() => decodeControl(bad)).toThrow(FrameError);
  });

  it('rejects a frame over its limit as soon as its length is known, also when the length arrives in pieces', () => {
    const frames: Buffer[] = [];
    const reader = new FrameReader((_, frame) => frames.push(frame), 1024);
    const announced = Buffer.alloc(4);
    announced.writeUInt32LE(60 * 1024 * 1024);
    reader.push(announced.subarray(0, 2));
    expect(() => reader.push(announced.subarray(2))).toThrow(/frame length 62914560 is out of range \(1 to 1024\)/);
    // The default limit holds the same way for a prefix split across chunks.
    const unlimited = new FrameReader(() => undefined);
    unlimited.push(Buffer.from([0xff]));
    expect(() => unlimited.push(Buffer.from([0xff, 0xff, 0xff, 2]))).toThrow(FrameError);

    const raised = new FrameReader((_, frame) => frames.push(frame), 16);
    const large = encodeControlFrame({ type: 'x', payload: 'y'.repeat(100) });
    expect(() => raised.push(large)).toThrow(FrameError);
    const again = new FrameReader((_, frame) => frames.push(frame), 16);
    again.maxFrameBytes = 1024;
    again.push(large);
    expect(frames).toHaveLength(1);
  });

  it('authenticates with an HMAC of the nonce, never the secret itself', () => {
    const answer = answerChallenge('s3cret', 'nonce-1');
    expect(answer).not.toContain('s3cret');
    expect(verifyChallenge('s3cret', 'nonce-1', answer)).toBe(true);
    expect(verifyChallenge('other', 'nonce-1', answer)).toBe(false);
    expect(verifyChallenge('s3cret', 'nonce-2', answer)).toBe(false);
    expect(verifyChallenge('s3cret', 'nonce-1', 42)).toBe(false);
  });
});
