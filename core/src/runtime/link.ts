import { EventEmitter } from 'node:events';
import net from 'node:net';
import { describeError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { ChallengeAnswer } from './control-messages.js';
import {
  answerChallenge,
  CoalescingWriter,
  decodeControl,
  encodeControlFrame,
  FrameKind,
  FrameReader,
  MAX_FRAME_BYTES,
  newChallenge,
  verifyChallenge,
} from './wire/frames.js';

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
  private reader: FrameReader | undefined;

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

  /**
   * Closes once everything sent so far has been handed to the operating system, which delivers it
   * even after this process exits; destroys the connection after `timeoutMs` if the other side
   * takes nothing. A process about to exit must wait for this: frames still in the socket's own
   * buffer when it exits are lost, and a busy receiver can leave hundreds of milliseconds of them
   * there.
   */
  closeGracefully(timeoutMs: number): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.logger.warn('a connection did not take what was sent on it in time; closing it anyway', {
          remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`,
          pendingBytes: this.backlogBytes,
          timeoutMs,
        });
        this.socket.destroy();
      }, timeoutMs);
      this.socket.once('finish', done);
      this.socket.once('close', done);
      this.writer.flush();
      this.socket.end();
    });
  }

  /**
   * Starts reading frames. `isAuthenticated` decides whether data frames are accepted yet;
   * `maxFrameBytes` bounds each frame until {@link acceptFramesUpTo} changes it. A malformed frame
   * closes the connection and is reported to `onMalformed` (default: a warning).
   */
  startReading(isAuthenticated: () => boolean, options: { maxFrameBytes?: number; onMalformed?: (error: unknown) => void } = {}): void {
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
    }, options.maxFrameBytes ?? MAX_FRAME_BYTES);
    this.reader = reader;
    const onMalformed =
      options.onMalformed ??
      ((error: unknown) =>
        this.logger.warn('closing a connection that sent a malformed frame', {
          error,
          remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`,
        }));
    this.socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        this.socket.destroy();
        onMalformed(error);
      }
    });
  }

  /** Changes the largest frame this link accepts: handshake-sized until the peer has authenticated. */
  acceptFramesUpTo(maxFrameBytes: number): void {
    if (this.reader) this.reader.maxFrameBytes = maxFrameBytes;
  }
}

/**
 * Before the handshake completes only the challenge and its answer may arrive: a few hundred bytes.
 * Anything larger is refused as soon as its length prefix arrives, so an unauthenticated peer cannot
 * make this process buffer a large frame.
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;

/** Connections still authenticating that one listener holds at most; more are closed as they arrive. */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 64;

/**
 * Logs rejected connections without letting a flood of them flood the log: the first at once, then
 * at most one line per interval with how many followed, why, and one of their addresses.
 */
export class RejectionLog {
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private reasons: Record<string, number> = {};
  private sample: string | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  record(reason: string, remote: string | undefined): void {
    if (!this.timer) {
      this.logger.warn(`rejected a connection: ${reason}`, { remote });
      this.startWindow();
      return;
    }
    this.count++;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    this.sample ??= remote;
  }

  private startWindow(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.count === 0) return;
      this.logger.warn(`rejected ${this.count} more connection(s) in the last ${this.intervalMs / 1000} s`, {
        reasons: this.reasons,
        remote: this.sample,
      });
      this.count = 0;
      this.reasons = {};
      this.sample = undefined;
      this.startWindow();
    }, this.intervalMs);
    this.timer.unref();
  }
}

/**
 * Accepts connections on `server`, challenges each, and hands authenticated links to `onLink`.
 * Connections that answer wrongly, not within `timeoutMs`, with a frame larger than a handshake, or
 * beyond `maxUnauthenticated` connections still authenticating, are closed; the rejections are logged
 * through a {@link RejectionLog}.
 */
export function acceptAuthenticated(
  server: net.Server,
  options: {
    secret: string;
    topologyId: string;
    logger: Logger;
    timeoutMs?: number;
    maxUnauthenticated?: number;
    rejectionLogIntervalMs?: number;
  },
  onLink: (link: Link, answer: ChallengeAnswer) => void,
): void {
  const rejections = new RejectionLog(options.logger, options.rejectionLogIntervalMs);
  const maxUnauthenticated = options.maxUnauthenticated ?? MAX_UNAUTHENTICATED_CONNECTIONS;
  let unauthenticated = 0;
  server.on('connection', (socket) => {
    const remote = socket.remoteAddress;
    if (unauthenticated >= maxUnauthenticated) {
      socket.destroy();
      rejections.record(`${maxUnauthenticated} connections are authenticating already`, remote);
      return;
    }
    unauthenticated++;
    let authenticating = true;
    const settle = () => {
      if (authenticating) unauthenticated--;
      authenticating = false;
    };
    socket.once('close', settle);
    const link = new Link(socket, options.logger);
    const nonce = newChallenge();
    let authenticated = false;
    const timer = setTimeout(() => {
      if (!authenticated) {
        socket.destroy();
        rejections.record('it did not authenticate in time', remote);
      }
    }, options.timeoutMs ?? 5000);
    timer.unref();
    link.startReading(() => authenticated, {
      maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES,
      onMalformed: (error) => {
        if (authenticated) options.logger.warn('closing a connection that sent a malformed frame', { error, remote });
        else rejections.record(`it sent a malformed frame before authenticating (${describeError(error)})`, remote);
      },
    });
    link.once('control', (message) => {
      const answer = message as Partial<ChallengeAnswer>;
      if (answer.type !== 'answer' || answer.topologyId !== options.topologyId || !verifyChallenge(options.secret, nonce, answer.proof)) {
        socket.destroy();
        rejections.record('it failed authentication', remote);
        return;
      }
      authenticated = true;
      settle();
      clearTimeout(timer);
      link.acceptFramesUpTo(MAX_FRAME_BYTES);
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
    // The server is trusted once it has challenged us; until then it gets no more room than a peer.
    link.startReading(() => true, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES });
    link.once('control', (message) => {
      link.acceptFramesUpTo(MAX_FRAME_BYTES);
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
