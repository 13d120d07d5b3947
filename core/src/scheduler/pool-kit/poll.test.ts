import { describe, expect, it } from 'vitest';
import { pollUntilDone } from './poll.js';

describe('pollUntilDone', () => {
  it('asks again until nothing is pending', async () => {
    const answers = [['a', 'b'], ['b'], []];
    let asked = 0;
    await pollUntilDone(async () => answers[asked++]!, { timeoutMs: 10_000, intervalMs: 1, timedOut: () => new Error('late') });
    expect(asked).toBe(3);
  });

  it('throws what timedOut makes of the last answer once time is up', async () => {
    const wait = pollUntilDone(async () => ['pod-1'], {
      timeoutMs: 0,
      intervalMs: 1,
      timedOut: (left) => new Error(`still there: ${left.join(', ')}`),
    });
    await expect(wait).rejects.toThrow('still there: pod-1');
  });

  it('ends at once when asking fails', async () => {
    let asked = 0;
    const wait = pollUntilDone(
      async () => {
        asked++;
        throw new Error('403');
      },
      { timeoutMs: 10_000, intervalMs: 1, timedOut: () => new Error('late') },
    );
    await expect(wait).rejects.toThrow('403');
    expect(asked).toBe(1);
  });
});
