import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SilentLogger } from '../logging/index.js';
import { acceptAuthenticated, connectAuthenticated, Link, listen } from './link.js';
import { encodeControlFrame } from './wire/frames.js';

const logger = new SilentLogger();
const SECRET = 'link-test-secret-0123456789';
let server: net.Server;

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function start(onLink: (link: Link) => void = () => undefined): Promise<number> {
  server = net.createServer();
  acceptAuthenticated(server, { secret: SECRET, topologyId: 'topo-1', logger, timeoutMs: 500 }, (link) => onLink(link));
  return listen(server, '127.0.0.1');
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('authenticated links', () => {
  it('accept a client that answers the challenge with the topology secret', async () => {
    const received: unknown[] = [];
    const port = await start((link) => link.on('control', (message) => received.push(message)));
    const link = await connectAuthenticated({ host: '127.0.0.1', port, secret: SECRET, identity: { role: 'peer', containerId: 2, topologyId: 'topo-1' }, logger });
    link.sendControl({ type: 'bp-start', containerId: 2 });
    await vi.waitFor(() => expect(received).toEqual([{ type: 'bp-start', containerId: 2 }]));
    link.socket.destroy();
  });

  it('close a client with the wrong secret or the wrong topology', async () => {
    const port = await start();
    for (const [secret, topologyId] of [
      ['not-the-secret-0123456789', 'topo-1'],
      [SECRET, 'topo-2'],
    ] as const) {
      const link = await connectAuthenticated({ host: '127.0.0.1', port, secret, identity: { role: 'peer', containerId: 2, topologyId }, logger });
      await closed(link.socket);
      expect(link.isClosed).toBe(true);
    }
  });

  it('close a client that sends data before authenticating, or garbage, or nothing', async () => {
    const port = await start();
    const raw = (bytes: Buffer | undefined) =>
      new Promise<net.Socket>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => {
          if (bytes) socket.write(bytes);
          resolve(socket);
        });
        socket.on('error', () => undefined);
        // Reading is what lets the client see the server's close.
        socket.resume();
      });
    const dataFrame = Buffer.alloc(17);
    dataFrame.writeUInt32LE(13, 0);
    dataFrame[4] = 1;
    for (const socket of await Promise.all([raw(dataFrame), raw(Buffer.from('GET / HTTP/1.1\r\n\r\n')), raw(undefined)])) await closed(socket);
  });

  it('close only the connection that sent a malformed frame', async () => {
    const received: unknown[] = [];
    const port = await start((link) => link.on('control', (message) => received.push(message)));
    const identity = { role: 'peer' as const, containerId: 1, topologyId: 'topo-1' };
    const good = await connectAuthenticated({ host: '127.0.0.1', port, secret: SECRET, identity, logger });
    const bad = await connectAuthenticated({ host: '127.0.0.1', port, secret: SECRET, identity, logger });
    await vi.waitFor(() => expect(received).toHaveLength(0));
    const corrupt = encodeControlFrame({ type: 'bp-stop' });
    corrupt[4] = 77;
    bad.socket.write(corrupt);
    await closed(bad.socket);
    good.sendControl({ type: 'bp-stop', containerId: 1 });
    await vi.waitFor(() => expect(received).toEqual([{ type: 'bp-stop', containerId: 1 }]));
    expect(good.isClosed).toBe(false);
    good.socket.destroy();
  });
});
