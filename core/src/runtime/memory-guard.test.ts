import { describe, expect, it } from 'vitest';
import { memoryCulprit, ramTrigger } from './memory-guard.js';

const MiB = 1024 * 1024;
const main = { usedBytes: 40 * MiB, plannedBytes: 1024 * MiB };

describe('the container memory guard', () => {
  it('acts a little before the container reaches its RAM', () => {
    expect(ramTrigger(4096 * MiB)).toBe(4096 * MiB * 0.95);
    expect(ramTrigger(256 * MiB)).toBe(224 * MiB);
  });

  it('restarts the instance furthest over its own share', () => {
    const instances = [
      { id: 'a', usedBytes: 900 * MiB, plannedBytes: 1024 * MiB, silent: false },
      { id: 'b', usedBytes: 700 * MiB, plannedBytes: 256 * MiB, silent: false },
    ];
    expect(memoryCulprit(2400 * MiB, main, instances)).toBe('b');
  });

  it('charges memory no report explains to an instance stuck in one call, whose report is stale', () => {
    const instances = [
      { id: 'busy', usedBytes: 30 * MiB, plannedBytes: 256 * MiB, silent: true },
      { id: 'calm', usedBytes: 200 * MiB, plannedBytes: 256 * MiB, silent: false },
    ];
    expect(memoryCulprit(2200 * MiB, main, instances)).toBe('busy');
    // Without a silent instance the same RSS is nobody's in particular: the one nearest its share goes.
    expect(
      memoryCulprit(
        2200 * MiB,
        main,
        instances.map((i) => ({ ...i, silent: false })),
      ),
    ).toBe('calm');
  });

  it('blames the stream manager itself when it is over its padding by more than any instance', () => {
    const instances = [{ id: 'a', usedBytes: 100 * MiB, plannedBytes: 256 * MiB, silent: false }];
    expect(memoryCulprit(1500 * MiB, { usedBytes: 1300 * MiB, plannedBytes: 1024 * MiB }, instances)).toBe('main');
    expect(memoryCulprit(1500 * MiB, main, [])).toBe('main');
  });
});
