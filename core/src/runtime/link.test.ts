import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SilentLogger, type LogFields, type Logger } from '../logging/index.js';
import { acceptAuthenticated, connectAuthenticated, Link, listen, RejectionLog } from './link.js';
import { DataFrameHeader, encodeControlFrame } from './wire/frames.js';

const logger = new SilentLogger();

/** The compiled link module, for the sender process in the graceful-close test (`npm test` builds first). */
const BUILT_LINK = fileURLToPath(new URL('../../dist/runtime/link.js', import.meta.url));
/** Sends 16 frames of 1 MiB, closes gracefully and exits at once: what is not handed to the OS by then is lost. */
const SENDER = `
const [port, secret, linkUrl] = process.argv.slice(1);
const { connectAuthenticated } = await import(linkUrl);
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };
const identity = { role: 'peer', containerId: 2, topologyId: 'topo-1' };
const link = await connectAuthenticated({ host: '127.0.0.1', port: Number(port), secret, identity, logger: silent });
const frame = Buffer.alloc(1024 * 1024);
frame.writeUInt32LE(frame.length - 4, 0);
frame[4] = 1;
for (let i = 0; i < 16; i++) link.sendFrame(frame);
await link.closeGracefully(10000);
process.exit(0);
`;
const SECRET = 'link-test-secret-0123456789';
let server: net.Server;

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function start(
  onLink: (link: Link) => void = () => undefined,
  options: { timeoutMs?: number; maxUnauthenticated?: number; logger?: Logger } = {},
): Promise<number> {
  server = net.createServer();
  acceptAuthenticated(
    server,
    {
      secret: SECRET,
      topologyId: 'topo-1',
      logger: options.logger ?? logger,
      timeoutMs: options.timeoutMs ?? 500,
      ...(options.maxUnauthenticated ? { maxUnauthenticated: options.maxUnauthenticated } : {}),
    },
    (link) => onLink(link),
  );
  return listen(server, '127.0.0.1');
}

/** Keeps warnings, so tests can see what was logged and how often. */
class WarningLog implements Logger {
  readonly lines: Array<{ message: string; fields: LogFields | undefined }> = [];
  debug(): void {}
  info(): void {}
  error(): void {}
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ message, fields });
  }
  child(): Logger {
    return this;
  }
}

function rawConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
    socket.resume();
  });
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('authenticated links', () => {
  it('accept a client that answers the challenge with the topology secret', async () => {
    const received: unknown[] = [];
    const port = await start((link) => link.on('control', (message) => received.push(message)));
    const link = await connectAuthenticated({
      host: '127.0.0.1',
      port,
      secret: SECRET,
      identity: { role: 'peer', containerId: 2, topologyId: 'topo-1' },
      logger,
    });
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
      const link = await connectAuthenticated({
        host: '127.0.0.1',
        port,
        secret,
        identity: { role: 'peer', containerId: 2, topologyId },
        logger,
      });
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
    for (const socket of await Promise.all([raw(dataFrame), raw(Buffer.from('GET / HTTP/1.1\r\n\r\n')), raw(undefined)]))
      await closed(socket);
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

  it('refuses a frame larger than a handshake from a peer that has not authenticated, as soon as its length arrives', async () => {
    const warnings = new WarningLog();
    const port = await start(undefined, { timeoutMs: 60_000, logger: warnings });
    const socket = await rawConnection(port);
    socket.on('error', () => undefined);
    const header = Buffer.alloc(DataFrameHeader.size);
    header.writeUInt32LE(60 * 1024 * 1024, 0);
    header[4] = 1;
    socket.write(header);
    await closed(socket);
    expect(warnings.lines).toEqual([
      {
        message:
          'rejected a connection: it sent a malformed frame before authenticating (frame length 62914560 is out of range (1 to 4096))',
        fields: { remote: '127.0.0.1' },
      },
    ]);
  });

  it('still carries large frames once the peer has authenticated', async () => {
    const received: number[] = [];
    const port = await start((link) => link.on('data', (frame) => received.push(frame.length)));
    const link = await connectAuthenticated({
      host: '127.0.0.1',
      port,
      secret: SECRET,
      identity: { role: 'peer', containerId: 2, topologyId: 'topo-1' },
      logger,
    });
    const frame = Buffer.alloc(8 * 1024 * 1024);
    frame.writeUInt32LE(frame.length - 4, 0);
    frame[4] = 1;
    link.sendFrame(frame);
    await vi.waitFor(() => expect(received).toEqual([frame.length]), { timeout: 10_000 });
    link.socket.destroy();
  });

  it('delivers everything sent before a graceful close, even when the sender exits at once and the receiver reads slowly', async () => {
    let receivedBytes = 0;
    let senderExit: Promise<number | null> | undefined;
    const ended = new Promise<void>((resolve) => {
      void start((link) => {
        // The receiver is busy: it reads nothing for a while, so what is sent waits in buffers.
        link.socket.pause();
        setTimeout(() => link.socket.resume(), 500);
        link.on('data', (frame) => (receivedBytes += frame.length));
        link.socket.once('end', () => resolve());
      }).then((port) => {
        // A separate process, so that its exit right after the close is a real one.
        const child = spawn(process.execPath, ['--input-type=module', '-e', SENDER, String(port), SECRET, pathToFileURL(BUILT_LINK).href], {
          stdio: 'inherit',
        });
        senderExit = new Promise((done) => child.once('exit', done));
      });
    });
    await ended;
    expect(await senderExit).toBe(0);
    expect(receivedBytes).toBe(16 * 1024 * 1024);
  });

  it('closes connections beyond the cap of those still authenticating, and accepts again once one is gone', async () => {
    const warnings = new WarningLog();
    const port = await start(undefined, { timeoutMs: 60_000, maxUnauthenticated: 2, logger: warnings });
    const silent = [await rawConnection(port), await rawConnection(port)];
    const extra = await rawConnection(port);
    await closed(extra);
    expect(warnings.lines.map((line) => line.message)).toEqual(['rejected a connection: 2 connections are authenticating already']);
    try {
      silent[0]!.destroy();
      const identity = { role: 'peer' as const, containerId: 1, topologyId: 'topo-1' };
      // Until the server has seen the close, a new connection may still be over the cap; a refused
      // one gets no challenge, so the connect gives up after its short timeout and is tried again.
      const link = await vi.waitFor(
        () => connectAuthenticated({ host: '127.0.0.1', port, secret: SECRET, identity, logger, timeoutMs: 300 }),
        { timeout: 10_000, interval: 50 },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(link.isClosed).toBe(false);
      link.socket.destroy();
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });
});

describe('the rejection log', () => {
  it('writes the first rejection at once, then one line per interval with the count, the reasons and a sample address', async () => {
    const warnings = new WarningLog();
    const log = new RejectionLog(warnings, 200);
    log.record('it failed authentication', '10.0.0.1');
    for (let i = 0; i < 30; i++)
      log.record(i % 3 === 0 ? 'it did not authenticate in time' : 'it failed authentication', `10.0.0.${i + 2}`);
    expect(warnings.lines).toHaveLength(1);
    await vi.waitFor(() => expect(warnings.lines).toHaveLength(2));
    expect(warnings.lines).toEqual([
      { message: 'rejected a connection: it failed authentication', fields: { remote: '10.0.0.1' } },
      {
        message: 'rejected 30 more connection(s) in the last 0.2 s',
        fields: { reasons: { 'it did not authenticate in time': 10, 'it failed authentication': 20 }, remote: '10.0.0.2' },
      },
    ]);
    // A quiet interval ends the window: the next rejection is written at once again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    log.record('it failed authentication', '10.0.0.99');
    expect(warnings.lines).toHaveLength(3);
  });
});
