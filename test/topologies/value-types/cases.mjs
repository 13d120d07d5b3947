// One value of every type a tuple may carry. Built afresh by the spout and by the sink, which compares
// what it received with what was sent.

/** A view at a non-zero offset into a larger buffer whose other bytes are not part of the value. */
function viewInside(make) {
  const buffer = new ArrayBuffer(64);
  new Uint8Array(buffer).fill(0xab);
  const view = make(buffer, 8);
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i + 1;
  return view;
}

export function cases() {
  const nullPrototype = Object.create(null);
  nullPrototype.a = 1;
  return [
    ['null', null],
    ['undefined', undefined],
    ['booleans', [true, false]],
    ['negative zero', -0],
    ['numbers', [0, 1, -1, 2147483647, -2147483648, 2147483648, 2 ** 53 + 2, 1.5, Number.MIN_VALUE, Number.MAX_VALUE]],
    ['NaN', Number.NaN],
    ['infinities', [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]],
    ['short ascii', 'word'],
    ['long ascii', 'x'.repeat(300)],
    ['unicode', 'héron 鷺 🐦 \u0000'],
    ['lone surrogates', ['\ud800', 'a\udc00b', '\udbff'.repeat(300)]],
    ['bigints', [0n, 5n, -5n, 2n ** 64n, -(2n ** 300n) + 7n]],
    ['Buffer', Buffer.from([0, 1, 2, 255])],
    ['Buffer view', Buffer.from('a longer buffer of which only a part is sent').subarray(9, 15)],
    ['Uint8Array', new Uint8Array([1, 2, 3])],
    ['Int8Array', viewInside((b, o) => new Int8Array(b, o, 5))],
    ['Uint8ClampedArray', viewInside((b, o) => new Uint8ClampedArray(b, o, 5))],
    ['Int16Array', viewInside((b, o) => new Int16Array(b, o, 5))],
    ['Uint16Array', viewInside((b, o) => new Uint16Array(b, o, 5))],
    ['Int32Array', viewInside((b, o) => new Int32Array(b, o, 3))],
    ['Uint32Array', viewInside((b, o) => new Uint32Array(b, o, 3))],
    ['Float32Array', viewInside((b, o) => new Float32Array(b, o, 3))],
    ['Float64Array', viewInside((b, o) => new Float64Array(b, o, 2))],
    ['BigInt64Array', viewInside((b, o) => new BigInt64Array(b, o, 2))],
    ['BigUint64Array', viewInside((b, o) => new BigUint64Array(b, o, 2))],
    ['DataView', viewInside((b, o) => new DataView(b, o, 7))],
    ['ArrayBuffer', Uint8Array.from([9, 8, 7]).buffer],
    ['Date', new Date('2026-12-05T10:11:12.345Z')],
    [
      'Map',
      new Map([
        [{ id: 1 }, 'object key'],
        [1, 'number key'],
        ['1', 'string key'],
        [null, new Map([[2n, [true]]])],
      ]),
    ],
    ['Set', new Set([1, '1', { a: 1 }, [1], null, undefined])],
    ['nested object', { a: 1, 'not an identifier': 'x', nested: { deeper: { deepest: [1, { e: 'é', u: undefined }] } } }],
    ['null-prototype object', nullPrototype],
    ['own __proto__ property', JSON.parse('{"__proto__": {"polluted": true}, "x": 1}')],
    ['arrays', [[], [1, 'two', [3, [4]]], [undefined, null]]],
    [
      'everything nested',
      { items: [Buffer.from('b'), new Float32Array([0.5]), new Date(0), 10n ** 30n, new Set([new Map([['k', new Uint16Array([7])]])])] },
    ],
  ];
}
