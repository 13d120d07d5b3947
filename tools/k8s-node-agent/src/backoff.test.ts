import { describe, expect, it } from 'vitest';
import { KUBERNETES_BACKOFF, nextBackoff } from './backoff.js';

describe('nextBackoff (CrashLoopBackOff schedule)', () => {
  it('starts at 10 s and doubles per crash in a row up to 5 min', () => {
    const delays: number[] = [];
    let previous: number | undefined;
    for (let crash = 0; crash < 8; crash++) {
      previous = nextBackoff(KUBERNETES_BACKOFF, previous, 1000);
      delays.push(previous);
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('forgets earlier crashes after a run of 10 minutes', () => {
    expect(nextBackoff(KUBERNETES_BACKOFF, 300_000, 600_000)).toBe(10_000);
    expect(nextBackoff(KUBERNETES_BACKOFF, 300_000, 599_999)).toBe(300_000);
  });

  it('follows a configured base and cap', () => {
    const short = { baseMs: 200, maxMs: 500, resetAfterMs: 1000 };
    expect([nextBackoff(short, undefined, 0), nextBackoff(short, 200, 0), nextBackoff(short, 400, 0)]).toEqual([200, 400, 500]);
  });
});
