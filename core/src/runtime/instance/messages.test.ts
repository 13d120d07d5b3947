import { describe, expect, it } from 'vitest';
import { BACKLOG_ARRIVALS, EMITTED, idleCounters, readBacklog } from './messages.js';

describe('readBacklog', () => {
  it('is undefined for a spout that reports no backlog', () => {
    expect(readBacklog(idleCounters(1))).toBeUndefined();
  });

  it('takes what the spout emitted since the sample off the sampled backlog, so emitted + backlog stays its arrivals', () => {
    const counters = idleCounters(1);
    counters[EMITTED] = 1000;
    // Sampled then: 1,000 emitted and 500 waiting at the source.
    counters[BACKLOG_ARRIVALS] = 1500;
    expect(readBacklog(counters)).toBe(500);
    // 300 emitted since, before the next sample.
    counters[EMITTED] = 1300;
    expect(readBacklog(counters)).toBe(200);
    expect(counters[EMITTED]! + readBacklog(counters)!).toBe(1500);
  });

  it('takes the emitted count the caller read, so a count the worker raised between two reads does not skew the sum', () => {
    const counters = idleCounters(1);
    counters[BACKLOG_ARRIVALS] = 1500;
    const emitted = 1000;
    // The worker emits 40 more after the caller read the count, before it reads the backlog.
    counters[EMITTED] = 1040;
    expect(emitted + readBacklog(counters, emitted)!).toBe(1500);
  });

  it('is never negative when the spout emitted more since the sample than it then held', () => {
    const counters = idleCounters(1);
    counters[BACKLOG_ARRIVALS] = 100;
    counters[EMITTED] = 250;
    expect(readBacklog(counters)).toBe(0);
  });
});
