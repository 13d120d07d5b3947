import net from 'node:net';
import type { Logger } from '../../logging/index.js';
import type { StreamManagerLocation } from '../../model/runtime-state.js';
import type { AvoidTasksMessage, BackpressureMessage, FenceMessage, KeyGroupsMessage } from '../control-messages.js';
import { acceptAuthenticated, connectAuthenticated, type Link, listen } from '../link.js';
import { DataFrameHeader, encodeControlFrame, FrameKind } from '../wire/frames.js';

/** What the peers of this stream manager tell it. */
export interface PeerMeshEvents {
  /** A data frame from a peer, for a task it routes here. */
  data(frame: Buffer): void;
  fence(message: FenceMessage): void;
  /** Effectively-once: key groups a rescale moved to a local task. */
  keyGroups(message: KeyGroupsMessage): void;
  avoidTasks(message: AvoidTasksMessage): void;
  backpressure(message: BackpressureMessage): void;
  /** A peer's connection to this stream manager closed: whatever it announced no longer holds. */
  peerClosed(containerId: number): void;
  /** What a peer this stream manager (re)connects to must hear before anything else. */
  greeting(): readonly (BackpressureMessage | AvoidTasksMessage)[];
}

export interface PeerMeshOptions {
  readonly containerId: number;
  readonly topologyId: string;
  readonly secret: string;
  /** Address to listen on. */
  readonly host: string;
  readonly logger: Logger;
  readonly events: PeerMeshEvents;
}

interface Peer {
  link: Link | undefined;
  readonly address: string;
  /** Frames for the peer while its connection is being (re)established. */
  queued: Uint8Array[];
}

const PEER_BACKLOG_POLL_MS = 2;

/**
 * The connections of one stream manager to every other: a server that peers connect to and send
 * data, fences and announcements over, and one outgoing connection per peer in the current plan,
 * reconnected whenever it drops, with frames queued meanwhile and sent in order once it is back.
 */
export class PeerMesh {
  private readonly server = net.createServer();
  private readonly inbound = new Set<Link>();
  private readonly peers = new Map<number, Peer>();
  private readonly watches = new Map<number, NodeJS.Timeout>();
  private closing = false;

  constructor(private readonly options: PeerMeshOptions) {}

  /** Starts accepting peers; resolves to the port. */
  listen(): Promise<number> {
    const { events } = this.options;
    acceptAuthenticated(
      this.server,
      { secret: this.options.secret, topologyId: this.options.topologyId, logger: this.options.logger },
      (link, answer) => {
        this.inbound.add(link);
        link.on('data', (frame) => events.data(frame));
        link.on('control', (message) => {
          if (message.type === 'fence') events.fence(message as unknown as FenceMessage);
          else if (message.type === 'key-groups') events.keyGroups(message as unknown as KeyGroupsMessage);
          else if (message.type === 'avoid-tasks') events.avoidTasks(message as unknown as AvoidTasksMessage);
          else if (message.type === 'bp-start' || message.type === 'bp-stop') events.backpressure(message as BackpressureMessage);
        });
        link.on('close', () => {
          this.inbound.delete(link);
          events.peerClosed(answer.containerId);
        });
      },
    );
    return listen(this.server, this.options.host);
  }

  /**
   * Connects to the stream managers of a plan that are new or have moved. Connections to
   * containers that left the plan stay open: a plan change still exchanges fences with them, and
   * they close when those containers stop.
   */
  connect(streamManagers: readonly StreamManagerLocation[]): void {
    for (const stmgr of streamManagers) {
      if (stmgr.containerId === this.options.containerId) continue;
      const address = `${stmgr.host}:${stmgr.dataPort}`;
      const existing = this.peers.get(stmgr.containerId);
      if (existing && existing.address === address) continue;
      existing?.link?.close();
      const peer: Peer = { link: undefined, address, queued: existing?.queued ?? [] };
      this.peers.set(stmgr.containerId, peer);
      void this.connectPeer(stmgr.containerId, stmgr.host, stmgr.dataPort, peer);
    }
  }

  /**
   * Sends a frame to a peer after everything sent to it before, or queues it while its connection
   * is being (re)established. Returns the connection's backlog in bytes (0 when queued), or
   * `undefined` when no plan named that peer.
   */
  send(containerId: number, frame: Uint8Array): number | undefined {
    const peer = this.peers.get(containerId);
    if (!peer) return undefined;
    const link = peer.link;
    if (link && !link.isClosed) {
      link.sendFrame(frame);
      return link.backlogBytes;
    }
    peer.queued.push(frame);
    return 0;
  }

  /** A control message to one peer, after everything sent to it before. */
  sendControl(containerId: number, message: KeyGroupsMessage): boolean {
    return this.send(containerId, encodeControlFrame(message)) !== undefined;
  }

  /** A control message to every connected peer. */
  broadcast(message: BackpressureMessage | AvoidTasksMessage): void {
    for (const peer of this.peers.values()) peer.link?.sendControl(message);
  }

  /**
   * Reports a peer connection's backlog every few milliseconds (0 while it is not connected) until
   * `onLevel` returns false. Polling rather than waiting for 'drain': a socket whose last write fit
   * its buffer never emits one. One watch per peer at a time.
   */
  watchBacklog(containerId: number, onLevel: (containerId: number, backlogBytes: number) => boolean): void {
    if (this.watches.has(containerId)) return;
    const timer = setInterval(() => {
      const link = this.peers.get(containerId)?.link;
      if (onLevel(containerId, link && !link.isClosed ? link.backlogBytes : 0)) return;
      clearInterval(timer);
      this.watches.delete(containerId);
    }, PEER_BACKLOG_POLL_MS);
    this.watches.set(containerId, timer);
  }

  /**
   * Stops connecting to a peer whose container left the plan and stopped: it would otherwise be
   * retried every second for as long as this process runs, and a container given its id later by a
   * scale-up would be sent frames meant for the one that left. Data frames still queued for it go to
   * `undeliverable`.
   */
  forget(containerId: number, undeliverable: (frame: Uint8Array, reason: string) => void): void {
    const peer = this.peers.get(containerId);
    if (!peer) return;
    this.peers.delete(containerId);
    clearInterval(this.watches.get(containerId));
    this.watches.delete(containerId);
    peer.link?.close();
    for (const frame of peer.queued)
      if (frame[DataFrameHeader.kindOffset] === FrameKind.Data)
        undeliverable(frame, `its container ${containerId} left the plan and stopped`);
    peer.queued = [];
  }

  /** Connections that drop from now on stay down: the stream manager is stopping. */
  stopReconnecting(): void {
    this.closing = true;
  }

  /**
   * Closes every connection and the server. Outgoing connections close only once the OS has taken
   * what was sent on them (or after `drainTimeoutMs`); data frames still queued for a peer that is
   * not connected cannot be delivered and go to `undeliverable`.
   */
  async close(drainTimeoutMs: number, undeliverable: (frame: Uint8Array, reason: string) => void): Promise<void> {
    this.closing = true;
    for (const timer of this.watches.values()) clearInterval(timer);
    this.watches.clear();
    await Promise.all(
      [...this.peers.values()].map((peer) => {
        for (const frame of peer.queued)
          if (frame[DataFrameHeader.kindOffset] === FrameKind.Data)
            undeliverable(frame, `its peer stream manager at ${peer.address} is not connected`);
        peer.queued = [];
        return peer.link?.closeGracefully(drainTimeoutMs);
      }),
    );
    for (const link of this.inbound) link.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async connectPeer(containerId: number, host: string, port: number, peer: Peer): Promise<void> {
    const { containerId: me, logger } = this.options;
    for (let attempt = 0; !this.closing && this.peers.get(containerId) === peer; attempt++) {
      try {
        const link = await connectAuthenticated({
          host,
          port,
          secret: this.options.secret,
          identity: { role: 'peer', containerId: me, topologyId: this.options.topologyId },
          logger,
        });
        if (this.peers.get(containerId) !== peer) {
          link.close();
          return;
        }
        peer.link = link;
        for (const message of this.options.events.greeting()) link.sendControl(message);
        for (const frame of peer.queued) link.sendFrame(frame);
        peer.queued = [];
        link.on('close', () => {
          if (this.peers.get(containerId) === peer && !this.closing) {
            peer.link = undefined;
            void this.connectPeer(containerId, host, port, peer);
          }
        });
        return;
      } catch (error) {
        const delay = Math.min(1000, 20 * 2 ** attempt);
        logger.debug('peer not reachable yet', { peer: containerId, error, retryInMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
