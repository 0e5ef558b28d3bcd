import { createClient, type RedisClientOptions } from '@keyv/redis';
import { monotonicNow } from '../../engine/clock.js';

/** The calls the near cache makes on its tracking client (`@redis/client` 5, RESP3, `emitInvalidate`). */
export interface TrackingClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly socketEpoch: number;
  connect(): Promise<unknown>;
  destroy(): void;
  sendCommand(args: string[]): Promise<unknown>;
  on(event: 'invalidate', listener: (key: Buffer | null) => void): unknown;
  on(event: 'error' | 'end' | 'reconnecting' | 'connect' | 'ready', listener: () => void): unknown;
}

/** One tracking connection, from its creation to its loss; a stalled one is destroyed and replaced. */
export interface Session {
  readonly client: TrackingClient;
  /** Since when its handshake has been under way (undefined while ready, or while not connected at all). */
  handshakeSince: number | undefined;
  /** When the PING in flight was sent (undefined when none is). */
  pingSentAt: number | undefined;
}

/** What the current tracking connection tells the near cache; events of a replaced connection are dropped before. */
export interface TrackingEvents {
  /** Redis says `key` changed; a null key is Redis's way of saying that every key changed (FLUSHALL, FLUSHDB). */
  invalidated(key: Buffer | null): void;
  /** The connection was lost: nothing read on it can be vouched for any more. */
  lost(): void;
}

/**
 * The near cache's connection to Redis with RESP3 client tracking on, and the proof that it is
 * still delivering: every third of `maxStaleness` it is pinged, and since a PONG comes after every
 * invalidation Redis queued on the connection before it ran the PING, an answered PING proves that
 * every write that returned before it was sent has been applied by the near cache ({@link live}).
 * A connection that stays unready, or leaves a PING unanswered, for too long is destroyed and replaced.
 */
export class TrackingConnection {
  /** Send time of the latest answered PING: every write that returned before it has been applied here. */
  private provenAt = Number.NEGATIVE_INFINITY;
  private current: Session | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  /** How long the tracking connection may stay unready, or leave a PING unanswered, before it is replaced. */
  private readonly stallAfter: number;
  private closed = false;

  /**
   * @param clientOptions the store's own client options (URL, credentials, TLS, socket); the tracking
   *   connection uses them with RESP3, client tracking and no offline queue.
   */
  constructor(
    private readonly clientOptions: RedisClientOptions,
    private readonly maxStaleness: number,
    private readonly events: TrackingEvents,
  ) {
    const interval = Math.floor(maxStaleness / 3);
    this.stallAfter = Math.max(1_000, 4 * maxStaleness);
    this.timer = setInterval(() => this.tick(), interval);
    // The heartbeat must not keep a process alive that has nothing else to do.
    this.timer.unref();
    this.open();
  }

  /** The current connection: a read on it is kept only if it is still current (and on the same socket) when answered. */
  get session(): Session | undefined {
    return this.current;
  }

  /** Whether a PING sent less than `maxStaleness` ago has been answered: copies may be served. */
  live(): boolean {
    return monotonicNow() - this.provenAt < this.maxStaleness;
  }

  /** Sends a PING unless one is in flight; its answer proves every write before its send time applied here. */
  heartbeat(): void {
    const session = this.current;
    if (session === undefined || session.pingSentAt !== undefined || !session.client.isReady) return;
    const sentAt = monotonicNow();
    const epoch = session.client.socketEpoch;
    session.pingSentAt = sentAt;
    session.client.sendCommand(['PING']).then(
      () => {
        if (session.pingSentAt !== sentAt) return;
        session.pingSentAt = undefined;
        if (session === this.current && session.client.socketEpoch === epoch && sentAt > this.provenAt) this.provenAt = sentAt;
      },
      () => {
        if (session.pingSentAt === sentAt) session.pingSentAt = undefined;
      },
    );
  }

  /** Stops the heartbeat and closes the connection (reported as lost). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.abandon();
  }

  private invalidated(session: Session, key: Buffer | null): void {
    if (session !== this.current) return;
    this.events.invalidated(key);
  }

  private lost(session: Session): void {
    if (session !== this.current) return;
    this.provenAt = Number.NEGATIVE_INFINITY;
    session.pingSentAt = undefined;
    session.handshakeSince = undefined;
    this.events.lost();
  }

  private open(): void {
    if (this.closed) return;
    // Its own heartbeat and no client-side cache of the client's: the near cache is both.
    const { clientSideCache: _cache, pingInterval: _ping, ...clientOptions } = this.clientOptions;
    const client = createClient({
      ...clientOptions,
      RESP: 3,
      // The client sends CLIENT TRACKING ON in every handshake, before any command, and emits each invalidated key.
      emitInvalidate: true,
      // Fail at once while disconnected: a read then goes to the store's connection instead of waiting here.
      disableOfflineQueue: true,
    }) as unknown as TrackingClient;
    const session: Session = { client, handshakeSince: undefined, pingSentAt: undefined };
    this.current = session;
    client.on('invalidate', (key) => this.invalidated(session, key));
    // Connection errors are the near cache's own business: reads fall back, nothing is reported to the store.
    client.on('error', () => this.lost(session));
    client.on('reconnecting', () => this.lost(session));
    client.on('end', () => this.lost(session));
    // Connected but not ready: a handshake that never ends (the client's connect timeout covers only TCP) counts as a stall.
    client.on('connect', () => {
      session.handshakeSince = monotonicNow();
    });
    client.on('ready', () => {
      if (session !== this.current) return;
      session.handshakeSince = undefined;
      this.heartbeat();
    });
    client.connect().catch(() => this.lost(session));
  }

  /** Destroys the tracking connection, if any; its late replies and events are ignored. */
  private abandon(): void {
    const session = this.current;
    if (session === undefined) return;
    this.lost(session);
    this.current = undefined;
    try {
      session.client.destroy();
    } catch {
      // Already closed.
    }
  }

  private tick(): void {
    const session = this.current;
    if (session === undefined) {
      this.open();
      return;
    }
    const now = monotonicNow();
    const since = session.handshakeSince ?? session.pingSentAt;
    // A client that gave up, or a connection silent for too long (a peer gone without FIN or RST, a frozen proxy):
    // start over on a new connection. A client that is reconnecting by itself (Redis down) is left to it.
    if (!session.client.isOpen || (since !== undefined && now - since > this.stallAfter)) {
      this.abandon();
      this.open();
      return;
    }
    this.heartbeat();
  }
}
