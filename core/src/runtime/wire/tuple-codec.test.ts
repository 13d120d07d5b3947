import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, EncodingLimitExceeded, MAX_VALUE_DEPTH, UnsendableValue, writeValue } from './tuple-codec.js';

function roundTrip(value: unknown): unknown {
  const writer = new ByteWriter(8);
  writeValue(writer, value);
  // Bytes after the value must stay unread: a reader that overruns would swallow the next field.
  writer.u8(0xee);
  const reader = new ByteReader(writer.buffer, 0, writer.offset);
  const decoded = reader.value();
  expect(reader.offset).toBe(writer.offset - 1);
  return decoded;
}

/** Same type, same prototype, same contents: `isDeepStrictEqual` compares prototypes, -0 and typed array types. */
function expectSame(decoded: unknown, sent: unknown): void {
  if (!isDeepStrictEqual(decoded, sent)) expect(decoded).toStrictEqual(sent);
  expect(isDeepStrictEqual(decoded, sent)).toBe(true);
  if (typeof sent === 'object' && sent !== null) expect(Object.getPrototypeOf(decoded)).toBe(Object.getPrototypeOf(sent));
}

/** A view at a non-zero offset into a larger buffer whose other bytes are not part of the value. */
function viewInside<T extends ArrayBufferView>(make: (buffer: ArrayBuffer, byteOffset: number) => T): T {
  const buffer = new ArrayBuffer(64);
  new Uint8Array(buffer).fill(0xab);
  const view = make(buffer, 8);
  new Uint8Array(view.buffer, view.byteOffset, view.byteLength).forEach((_, i, bytes) => (bytes[i] = i + 1));
  return view;
}

const SUPPORTED: [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['true', true],
  ['false', false],
  ['zero', 0],
  ['negative zero', -0],
  ['int32 bounds', [2147483647, -2147483648]],
  ['beyond int32', [2147483648, -2147483649, 2 ** 53 + 2]],
  ['fractions and extremes', [1.5, -0.1, Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON]],
  ['NaN', Number.NaN],
  ['infinities', [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]],
  ['empty string', ''],
  ['short ascii', 'word'],
  ['long ascii', 'x'.repeat(300)],
  ['unicode', 'héron 鷺 🐦 \u0000 \u2028'],
  ['long unicode', '鷺'.repeat(200)],
  ['lone surrogates', ['\ud800', 'a\udc00b', '\udbff'.repeat(300), '🐦'.slice(0, 1)]],
  ['bigints', [0n, 5n, -5n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n, -(2n ** 300n) + 7n]],
  ['Buffer', Buffer.from([0, 1, 2, 255])],
  ['empty Buffer', Buffer.alloc(0)],
  ['Buffer view into a larger buffer', Buffer.from('a longer buffer of which only a part is sent').subarray(9, 15)],
  ['Uint8Array (not a Buffer)', new Uint8Array([1, 2, 3])],
  ['Int8Array', viewInside((b, o) => new Int8Array(b, o, 5))],
  ['Uint8Array view', viewInside((b, o) => new Uint8Array(b, o, 5))],
  ['Uint8ClampedArray', viewInside((b, o) => new Uint8ClampedArray(b, o, 5))],
  ['Int16Array', viewInside((b, o) => new Int16Array(b, o, 5))],
  ['Uint16Array', viewInside((b, o) => new Uint16Array(b, o, 5))],
  ['Int32Array', viewInside((b, o) => new Int32Array(b, o, 3))],
  ['Uint32Array', viewInside((b, o) => new Uint32Array(b, o, 3))],
  ['Float32Array', viewInside((b, o) => new Float32Array(b, o, 3))],
  ['Float64Array', new Float64Array([1.5, Number.NaN, -0, Number.POSITIVE_INFINITY])],
  ['BigInt64Array', new BigInt64Array([1n, -(2n ** 63n)])],
  ['BigUint64Array', viewInside((b, o) => new BigUint64Array(b, o, 2))],
  ['DataView', viewInside((b, o) => new DataView(b, o, 7))],
  ['ArrayBuffer', Uint8Array.from([9, 8, 7]).buffer],
  ['Date', new Date('2026-12-05T10:11:12.345Z')],
  [
    'Map with keys of any type',
    new Map<unknown, unknown>([
      [{ id: 1 }, 'object key'],
      [1, 'number key'],
      ['1', 'string key'],
      [null, new Map([[2n, [true]]])],
      [[1, 2], undefined],
    ]),
  ],
  ['Set', new Set<unknown>([1, '1', { a: 1 }, [1], null, undefined])],
  ['plain object', { a: 1, 'not an identifier': 'x', nested: { deeper: { deepest: [1, { e: 'é' }] } }, missing: undefined, '': 0 }],
  ['object with a null prototype', Object.assign(Object.create(null) as object, { a: 1, b: { c: 2 } })],
  ['object with an own __proto__ property', JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as unknown],
  ['arrays', [[], [1, 'two', [3, [4]]], [undefined, null]]],
  ['empty object', {}],
  [
    'everything nested',
    {
      items: [Buffer.from('b'), new Float32Array([0.5]), new Date(0), 10n ** 30n, new Set([new Map([['k', new Uint16Array([7])]])])],
      text: { ascii: 'w', unicode: '鷺', lone: '\ud800' },
      view: viewInside((b, o) => new DataView(b, o, 3)),
    },
  ],
];

describe('tuple values', () => {
  it.each(SUPPORTED)('round-trips %s exactly', (_name, value) => {
    expectSame(roundTrip(value), value);
  });

  it('round-trips an invalid Date, which isDeepStrictEqual cannot compare (NaN !== NaN)', () => {
    const decoded = roundTrip(new Date(Number.NaN));
    expect(decoded).toBeInstanceOf(Date);
    expect((decoded as Date).getTime()).toBeNaN();
  });

  it('gives every typed array, DataView and Buffer its own memory holding only the elements sent', () => {
    for (const [name, value] of SUPPORTED) {
      if (!ArrayBuffer.isView(value)) continue;
      const decoded = roundTrip(value) as ArrayBufferView;
      expect(decoded.byteLength, name).toBe(value.byteLength);
      if (Buffer.isBuffer(decoded)) continue; // small Buffers share Node's pool, as Buffer.from's do
      expect(decoded.byteOffset, name).toBe(0);
      expect(decoded.buffer.byteLength, name).toBe(value.byteLength);
    }
  });

  it('reads several values written one after another', () => {
    const values = SUPPORTED.map(([, value]) => value);
    const writer = new ByteWriter(8);
    for (const value of values) writeValue(writer, value);
    const reader = new ByteReader(writer.buffer, 0, writer.offset);
    for (const value of values) expectSame(reader.value(), value);
    expect(reader.offset).toBe(writer.offset);
  });

  it(`carries values nested ${MAX_VALUE_DEPTH} levels deep and refuses deeper ones`, () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 'bottom';
      for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { v: value };
      return value;
    };
    expectSame(roundTrip(nest(MAX_VALUE_DEPTH)), nest(MAX_VALUE_DEPTH));
    expect(() => writeValue(new ByteWriter(), nest(MAX_VALUE_DEPTH + 1))).toThrow(`nested deeper than ${MAX_VALUE_DEPTH} levels`);
  });

  it('sends an object referenced twice as two equal copies, and array holes as undefined', () => {
    const shared = { n: 1 };
    const decoded = roundTrip({ a: shared, b: shared }) as { a: object; b: object };
    expect(decoded.a).toEqual(shared);
    expect(decoded.b).toEqual(shared);
    expect(decoded.a).not.toBe(decoded.b);
    // eslint-disable-next-line no-sparse-arrays
    expect(roundTrip([1, , 3])).toStrictEqual([1, undefined, 3]);
  });

  it('stops encoding a value that would grow the writer past its limit', () => {
    const writer = new ByteWriter(16, 100);
    writeValue(writer, 'x'.repeat(90));
    expect(() => writeValue(writer, Buffer.alloc(20))).toThrow(EncodingLimitExceeded);
    expect(writer.buffer.length).toBeLessThanOrEqual(100);
  });

  it('rejects unknown tags and values that run past the end of their frame', () => {
    const writer = new ByteWriter();
    writer.u8(99);
    expect(() => new ByteReader(writer.buffer, 0, writer.offset).value()).toThrow(/unknown value tag 99/);
    const truncated = new ByteWriter();
    writeValue(truncated, new Float64Array([1, 2]));
    expect(() => new ByteReader(truncated.buffer, 0, truncated.offset - 1).value()).toThrow(/runs past the end of its frame/);
    const lying = new ByteWriter();
    writeValue(lying, [1, 2]);
    lying.buffer.writeUInt32LE(1_000_000_000, 1);
    expect(() => new ByteReader(lying.buffer, 0, lying.offset).value()).toThrow(/exceeds the bytes left/);
  });
});

describe('values that cannot be sent', () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  class Samples extends Float32Array {}
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = { back: cyclic };

  const REFUSED: [string, unknown, string, string][] = [
    ['a function', () => 1, '', 'a function cannot be sent'],
    ['a named function', { items: [0, 1, 2, { fn: function handler() {} }] }, '.items[3].fn', 'a function (handler) cannot be sent'],
    ['a symbol', [Symbol('s')], '[0]', 'a symbol cannot be sent'],
    ['a class instance', { at: new Point(1, 2) }, '.at', 'an instance of Point cannot be sent'],
    ['a typed array subclass', new Samples(2), '', 'a Samples (a subclass of a typed array) cannot be sent; send a Float32Array'],
    ['a Promise', { 'odd key': Promise.resolve(1) }, '["odd key"]', 'an instance of Promise cannot be sent'],
    ['a WeakMap', new Set([1, new WeakMap()]), ' element #1', 'an instance of WeakMap cannot be sent'],
    ['a RegExp as a Map key', new Map([[/x/, 1]]), ' key #0', 'an instance of RegExp cannot be sent'],
    ['a boxed string as a Map value', new Map([['k', new String('s')]]), '.get("k")', 'an instance of String cannot be sent'],
    ['a SharedArrayBuffer', [new SharedArrayBuffer(8)], '[0]', 'a SharedArrayBuffer cannot be sent'],
    ['an Error', new Error('boom'), '', 'an instance of Error cannot be sent'],
    ['a cycle', cyclic, '.self.back', 'it contains itself (a cycle)'],
    [
      'a getter that throws',
      Object.defineProperty({}, 'broken', {
        enumerable: true,
        get() {
          throw new Error('no value');
        },
      }),
      '.broken',
      'reading it threw: no value',
    ],
  ];

  it.each(REFUSED)('refuses %s, saying where it is and why', (_name, value, location, reason) => {
    let refusal: unknown;
    try {
      writeValue(new ByteWriter(), value);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(UnsendableValue);
    expect((refusal as UnsendableValue).location).toBe(location);
    expect((refusal as UnsendableValue).reason).toContain(reason);
  });
});
