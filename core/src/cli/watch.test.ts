import { describe, expect, it } from 'vitest';
import { ArdeaError } from '../errors/index.js';
import type { CliIo } from './cli-io.js';
import { topologyGone, watch } from './watch.js';

/** An io whose Ctrl-C the test presses, recording what is written. */
function fakeIo(tty: boolean) {
  const out: string[] = [];
  let err = '';
  let interrupt: (() => void) | undefined;
  let disposed = false;
  const io: CliIo = {
    stdout: { write: (chunk: string) => out.push(chunk), isTTY: tty },
    stderr: { write: (chunk: string) => (err += chunk) },
    env: {},
    cwd: '/',
    onInterrupt: (listener) => {
      interrupt = listener;
      return () => {
        disposed = true;
      };
    },
  };
  return { io, out, err: () => err, press: () => interrupt!(), disposed: () => disposed };
}

describe('watch', () => {
  it('off a terminal, prints rounds separated by a blank line until interrupted, and hands Ctrl-C back', async () => {
    const fake = fakeIo(false);
    let rounds = 0;
    await watch(fake.io, {
      intervalSeconds: 0.001,
      title: 't',
      render: async () => {
        if (++rounds === 3) setImmediate(fake.press);
        return `round ${rounds}\n`;
      },
      isFinal: async () => false,
    });
    expect(fake.out.join('')).toBe('round 1\n\nround 2\n\nround 3\n');
    expect(fake.disposed()).toBe(true);
  });

  it('on a terminal, clears the screen and shows the time above each round', async () => {
    const fake = fakeIo(true);
    let rounds = 0;
    await watch(fake.io, {
      intervalSeconds: 0.5,
      title: 'ardea status local wc',
      now: () => new Date(Date.UTC(2030, 0, 1)),
      render: async () => {
        if (++rounds === 2) setImmediate(fake.press);
        return 'table\n';
      },
      isFinal: async () => false,
    });
    const screen = '\x1b[2J\x1b[HEvery 0.5 s: ardea status local wc    2030-01-01T00:00:00.000Z\n\ntable\n';
    expect(fake.out.join('')).toBe(screen.repeat(2));
  });

  it('shows a failed round and goes on; a final failure ends the watch', async () => {
    const fake = fakeIo(false);
    let rounds = 0;
    const gone = new ArdeaError("no topology 'wc'", { code: 'topology.not-found' });
    const watching = watch(fake.io, {
      intervalSeconds: 0.001,
      title: 't',
      render: async () => {
        rounds++;
        if (rounds === 2) throw new Error('the topology master is restarting');
        if (rounds === 4) throw gone;
        return `round ${rounds}\n`;
      },
      isFinal: topologyGone(async () => rounds < 4),
    });
    await expect(watching).rejects.toBe(gone);
    expect(fake.out.join('')).toBe('round 1\n\n\nround 3\n');
    expect(fake.err()).toBe('ardea: the topology master is restarting (still watching)\n');
    expect(fake.disposed()).toBe(true);
  });

  it('a failure is final when the topology is gone, whatever the error says', async () => {
    let exists = true;
    const isFinal = topologyGone(async () => exists);
    expect(await isFinal(new Error('connection refused'))).toBe(false);
    exists = false;
    expect(await isFinal(new Error('connection refused'))).toBe(true);
    const broken = topologyGone(() => Promise.reject(new Error('state manager down')));
    expect(await broken(new Error('x'))).toBe(false);
  });
});
