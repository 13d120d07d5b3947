import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from '../logging/index.js';
import type { ChallengeAnswer } from './control-messages.js';
import { answerChallenge, CoalescingWriter, decodeControl, encodeControlFrame, FrameKind, FrameReader, newChallenge, verifyChallenge } from './wire/frames.js';

/**
 * One authenticated connection carrying frames. A malformed frame, a failed handshake or a data frame
 * before authentication closes this connection only; the process and its other links carry on.
 */
export class Link extends EventEmitter<{
  control: [message: { type?: unknown }];
  data: [frame: Buffer];
  close: [];
}> {
  private readonly writer: CoalescingWriter;
  private closed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly logger: Logger,
  ) {
    super();
    socket.setNoDelay(true);
    this.writer = new CoalescingWriter(socket);
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
    socket.on('error', (error) => logger.debug('connection error', { error, remote: `${socket.remoteAddress}:${socket.remotePort}` }));
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Bytes accepted for sending but not yet written to the kernel. */
  get backlogBytes(): number {
    return this.writer.backlogBytes;
  }

  sendControl(message: object): void {
    if (!this.isClosed) this.writer.write(encodeControlFrame(message));
  }

  sendFrame(frame: Uint8Array): void {
    if (!this.isClosed) this.writer.write(frame);
  }

  close(): void {
    this.writer.flush();
    this.socket.end();
    this.socket.destroySoon?.();
  }

  /** Starts reading frames; `authenticated` decides whether data frames are accepted yet. */
  startReading(isAuthenticated: () => boolean): void {
    const reader = new FrameReader((kind, frame) => {
      if (kind === FrameKind.Control) {
        const message = decodeControl(frame);
        if (typeof message !== 'object' || message === null) throw new Error('control message is not an object');
        this.emit('control', message as { type?: unknown });
      } else if (!isAuthenticated()) {
        throw new Error('data frame before authentication');
      } else {
        this.emit('data', frame);
      }
    });
    this.socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        this.logger.warn('closing a connection that sent a malformed frame', { error, remote: `${this.socket.remoteAddress}:${this.socket.remotePort}` });
        this.socket.destroy();
      }
    });
  }
}

/**
 * Accepts connections on `server`, challenges each, and hands authenticated links to `onLink`.
 * Connections that answer wrongly, or not within `timeoutMs`, are closed.
 */
export function acceptAuthenticated(
  server: net.Server,
  options: { secret: string; topologyId: string; logger: Logger; timeoutMs?: number },
  onLink: (link: Link, answer: ChallengeAnswer) => void,
): void {
  server.on('connection', (socket) => {
    const link = new Link(socket, options.logger);
    const nonce = newChallenge();
    let authenticated = false;
    const timer = setTimeout(() => {
      if (!authenticated) {
        options.logger.warn('closing a connection that did not authenticate in time', { remote: socket.remoteAddress });
        socket.destroy();
      }
    }, options.timeoutMs ?? 5000);
    timer.unref();
    link.startReading(() => authenticated);
    link.once('control', (message) => {
      const answer = message as Partial<ChallengeAnswer>;
      if (answer.type !== 'answer' || answer.topologyId !== options.topologyId || !verifyChallenge(options.secret, nonce, answer.proof)) {
        options.logger.warn('rejecting a connection that failed authentication', { remote: socket.remoteAddress });
        socket.destroy();
        return;
      }
      authenticated = true;
      clearTimeout(timer);
      onLink(link, answer as ChallengeAnswer);
    });
    link.sendControl({ type: 'challenge', nonce });
  });
}

/** Connects, answers the challenge, and resolves once the link may carry frames. */
export function connectAuthenticated(options: {
  host: string;
  port: number;
  secret: string;
  identity: Omit<ChallengeAnswer, 'type' | 'proof'>;
  logger: Logger;
  timeoutMs?: number;
}): Promise<Link> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: options.host, port: options.port });
    const link = new Link(socket, options.logger);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${options.host}:${options.port} within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    link.startReading(() => true);
    link.once('control', (message) => {
      const challenge = message as { type?: unknown; nonce?: unknown };
      if (challenge.type !== 'challenge' || typeof challenge.nonce !== 'string') {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`${options.host}:${options.port} did not start with a challenge`));
        return;
      }
      link.sendControl({ type: 'answer', ...options.identity, proof: answerChallenge(options.secret, challenge.nonce) });
      clearTimeout(timer);
      resolve(link);
    });
  });
}

export function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
