import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  parseByteCount,
  parseContainerCount,
  parseContainerId,
  parseTimeoutSeconds,
  parseWatchSeconds,
  parseWindowMs,
} from './arguments.js';

describe('option value parsers', () => {
  it('accept the forms they document', () => {
    expect(parseWindowMs('2000')).toBe(2000);
    expect(parseWatchSeconds('0.5')).toBe(0.5);
    expect(parseWatchSeconds('2')).toBe(2);
    expect(parseTimeoutSeconds('120')).toBe(120_000);
    expect(parseTimeoutSeconds('0.0001')).toBe(1);
    expect(parseByteCount('65536')).toBe(65536);
    expect(parseContainerId('0')).toBe(0);
    expect(parseContainerCount('3')).toBe(3);
  });

  it.each([
    [parseWindowMs, ['abc', '-5', '0', '1.5', '', '1e3']],
    [parseWatchSeconds, ['x', '0', '-1', '', 'Infinity']],
    [parseTimeoutSeconds, ['0', '-5', 'soon', '']],
    [parseByteCount, ['0', '-1', '1k']],
    [parseContainerId, ['abc', '-1', '1.5', '']],
    [parseContainerCount, ['0', 'two']],
  ] as const)('%o rejects bad values as usage errors saying what is expected', (parse, values) => {
    for (const value of values) {
      expect(() => parse(value), value).toThrow(InvalidArgumentError);
      expect(() => parse(value), value).toThrow(/^expected /);
    }
  });
});
