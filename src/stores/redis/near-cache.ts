import { createClient, type RedisClientOptions } from '@keyv/redis';
import { LRUCache } from 'lru-cache';
import { monotonicNow } from '../../engine/clock.js';
import { CachingConfigError } from '../../errors.js';
import { describe, positiveInteger } from '../../options.js';

/**
 * The near cache of `createRedisStore`: copies of Redis keys in this process,
 * kept exact by Redis itself (client tracking) and served only while that can be proven.
 *
 * @example
 * ```ts
 * import { createRedisStore } from 'trpc-caching/redis';
 * const store = createRedisStore({ url: process.env.REDIS_URL, nearCache: { maxStaleness: 250, maxEntries: 50_000 } });
 * ```
 */
export interface NearCacheOptions {
  /**
   * The longest, in ms, that another process's write may stay invisible here after it returned.
   * The tracking connection is pinged every third of it; copies are served only while a ping sent
   * less than `maxStaleness` ago has been answered, and Redis is read otherwise.
   * @default 250
   */
  maxStaleness?: number;
  /**
   * Most keys held (entries and version keys together); the least recently used go first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Most bytes of key and value text held, counted at 2 bytes a character (an upper bound of what
   * V8 keeps for them); the least recently used go first, and a value larger than this is never held.
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
}

/**
 * What a near cache did since it started: read with `nearCacheStats(store)`.
 *
 * @example
 * ```ts
 * const stats = nearCacheStats(store);
 * if (stats) console.log(`near hits ${stats.hits}, fallbacks ${stats.fallbacks}, held ${stats.entries}`);
 * ```
 */
export interface NearCacheStats {
  /** Reads answered from this process's memory, without a network round trip. */
  readonly hits: number;
  /** Reads that missed here and read Redis on the tracking connection, keeping what they read. */
  readonly loads: number;
  /** Reads sent to Redis on the store's own connection because the near cache could not vouch for its copies (not proven alive within `maxStaleness`, not connected, or too slow to answer). */
  readonly fallbacks: number;
  /** Keys Redis told this process were changed (a write, delete, expiry or eviction anywhere); a flush counts one. */
  readonly invalidations: number;
  /** Keys dropped to stay within `maxEntries` or `maxBytes`. */
  readonly evictions: number;
  /** Times everything held was dropped: the tracking connection was lost or stalled, or Redis was flushed. */
  readonly clears: number;
  /** Keys held now. */
  readonly entries: number;
  /** Bytes held now, counted as for `maxBytes`. */
  readonly bytes: number;
  /** Whether a read now would be answered from memory when its keys are held. */
  readonly live: boolean;
}

/** Near cache options with their defaults applied. */
export interface ResolvedNearCacheOptions {
  readonly maxStaleness: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** A row of a read: the key's string, or undefined when the key is absent. */
export type NearRow = string | undefined;

const DEFAULTS: ResolvedNearCacheOptions = { maxStaleness: 250, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };

/** Below this a heartbeat every third of the bound would flood Redis with PINGs and lose to timer jitter. */
const MIN_STALENESS = 30;

/**
 * Checks `nearCache` (`true` or options) and applies defaults; throws a `CachingConfigError` naming the option.
 *
 * @example
 * ```ts
 * resolveNearCacheOptions({ maxStaleness: 100 }); // { maxStaleness: 100, maxEntries: 10_000, maxBytes: 67_108_864 }
 * ```
 */
export function resolveNearCacheOptions(options: NearCacheOptions | true): ResolvedNearCacheOptions {
  if (options === true) return DEFAULTS;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CachingConfigError('nearCache', `expected true or an object of options, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!(name in DEFAULTS))
      throw new CachingConfigError(`nearCache.${name}`, 'unknown option: expected maxStaleness, maxEntries or maxBytes');
  }
  const maxStaleness = positiveInteger('nearCache.maxStaleness', options.maxStaleness ?? DEFAULTS.maxStaleness);
  if (maxStaleness < MIN_STALENESS) {
    throw new CachingConfigError(
      'nearCache.maxStaleness',
      `expected at least ${MIN_STALENESS} ms (a ping every third of it), got ${maxStaleness}`,
    );
  }
  return {
    maxStaleness,
    maxEntries: positiveInteger('nearCache.maxEntries', options.maxEntries ?? DEFAULTS.maxEntries),
    maxBytes: positiveInteger('nearCache.maxBytes', options.maxBytes ?? DEFAULTS.maxBytes),
  };
}

/** The calls the near cache makes on its tracking client (`@redis/client` 5, RESP3, `emitInvalidate`). */
interface TrackingClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly socketEpoch: number;
  connect(): Promise<unknown>;
  destroy(): void;
  sendCommand(args: string[]): Promise<unknown>;
  on(event: 'invalidate', listener: (key: Buffer | null) => void): unknown;
  on(event: 'error' | 'end' | 'reconnecting' | 'connect' | 'ready', listener: () => void): unknown;
}

/** One read in flight on the tracking connection. `stale` once anything it read may have changed since. */
interface Load {
  readonly keys: readonly string[];
  stale: boolean;
}

/** One tracking connection, from its creation to its loss; a stalled one is destroyed and replaced. */
interface Session {
  readonly client: TrackingClient;
  /** Since when its handshake has been under way (undefined while ready, or while not connected at all). */
  handshakeSince: number | undefined;
  /** When the PING in flight was sent (undefined when none is). */
  pingSentAt: number | undefined;
}

/**
 * Copies of Redis keys in this process, served without a network round trip
 * while Redis can be shown to have told this process of every change.
 *
 * - **Exact invalidation from Redis.** Copies come only from reads on a connection
 *   of its own with RESP3 client tracking on (`CLIENT TRACKING ON`): Redis then
 *   remembers every key that connection read and pushes an `invalidate` message
 *   on it when the key changes (write, delete, expiry, eviction), once. Redis
 *   writes a reply and later pushes to a connection in order, so a read's reply
 *   comes before the invalidation of any write after it.
 * - **Bounded staleness.** Every third of `maxStaleness` the connection is pinged.
 *   A PONG comes after every invalidation Redis queued on the connection before
 *   it ran the PING, and the PING ran after it was sent: so once the PONG is
 *   handled, every write that returned before the PING was sent has been applied
 *   here. Copies are served only while that send time is less than `maxStaleness`
 *   ago; otherwise reads go to Redis on the store's connection (`fallback`). A
 *   connection that stops delivering without closing (a vanished peer, a frozen
 *   proxy) therefore costs at most `maxStaleness` of staleness, never more.
 * - **Own writes exact.** {@link write} drops the copies of the keys written, and
 *   marks reads in flight of them as stale, before the write is sent and again once
 *   it settled: a read started after a write returned never sees a copy from before it.
 * - Lost connection, flush: everything is dropped. Bounded by entries and bytes, LRU.
 */
export class NearCache {
  private readonly held: LRUCache<string, string>;
  private readonly options: ResolvedNearCacheOptions;
  /** Send time of the latest answered PING: every write that returned before it has been applied here. */
  private provenAt = Number.NEGATIVE_INFINITY;
  private session: Session | undefined;
  /** Reads in flight on the tracking connection, by key they read. */
  private readonly loading = new Map<string, Set<Load>>();
  private readonly timer: ReturnType<typeof setInterval>;
  /** How long a load may wait for the tracking connection before Redis is read on the store's connection. */
  private readonly rescueAfter: number;
  /** How long the tracking connection may stay unready, or leave a PING unanswered, before it is replaced. */
  private readonly stallAfter: number;
  private closed = false;
  private readonly counts = { hits: 0, loads: 0, fallbacks: 0, invalidations: 0, evictions: 0, clears: 0 };

  /**
   * @param clientOptions the store's own client options (URL, credentials, TLS, socket); the tracking
   *   connection uses them with RESP3, client tracking and no offline queue.
   * @param fallback reads keys on the store's own connection, for reads the near cache cannot answer.
   */
  constructor(
    private readonly clientOptions: RedisClientOptions,
    private readonly fallback: (keys: string[]) => Promise<NearRow[]>,
    options: ResolvedNearCacheOptions,
  ) {
    this.options = options;
    this.held = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => 2 * (key.length + value.length) || 1,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.counts.evictions++;
      },
    });
    const interval = Math.floor(options.maxStaleness / 3);
    this.rescueAfter = Math.min(Math.floor(options.maxStaleness / 6), 50);
    this.stallAfter = Math.max(1_000, 4 * options.maxStaleness);
    this.timer = setInterval(() => this.tick(), interval);
    // The heartbeat must not keep a process alive that has nothing else to do.
    this.timer.unref();
    this.open();
  }

  /**
   * Rows of `keys`: from memory when every key is held and the connection has proven itself
   * within `maxStaleness`, else read from Redis (on the tracking connection, keeping what it reads,
   * or on the store's connection when the tracking one cannot be relied on).
   */
  getMany(keys: string[]): NearRow[] | Promise<NearRow[]> {
    if (monotonicNow() - this.provenAt < this.options.maxStaleness) {
      const rows: NearRow[] = new Array(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const value = this.held.get(keys[i] as string);
        if (value === undefined) return this.load(keys);
        rows[i] = value;
      }
      this.counts.hits++;
      return rows;
    }
    this.counts.fallbacks++;
    // Prove the connection again now rather than at the next tick: a stalled event loop, not Redis, may be why.
    this.heartbeat();
    return this.fallback(keys);
  }

  /** Sends a write of `keys` (or their deletion), keeping this process's next reads of them exact. */
  async write<T>(keys: readonly string[], send: () => Promise<T>): Promise<T> {
    this.forget(keys);
    try {
      return await send();
    } finally {
      // A read on the tracking connection may have run before the write on the server and still be in flight, or just kept.
      this.forget(keys);
    }
  }

  /** Drops every copy (the store was cleared). */
  clear(): void {
    this.dropAll();
  }

  /** What it did so far. */
  stats(): NearCacheStats {
    return {
      ...this.counts,
      entries: this.held.size,
      bytes: this.held.calculatedSize,
      live: monotonicNow() - this.provenAt < this.options.maxStaleness,
    };
  }

  /** Stops the heartbeat, closes the tracking connection and drops every copy. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.abandon();
    this.dropAll();
  }

  private load(keys: string[]): Promise<NearRow[]> {
    const session = this.session;
    if (session === undefined || !session.client.isReady) {
      this.counts.fallbacks++;
      return this.fallback(keys);
    }
    this.counts.loads++;
    const load: Load = { keys, stale: false };
    for (const key of keys) {
      const loads = this.loading.get(key);
      if (loads === undefined) this.loading.set(key, new Set([load]));
      else loads.add(load);
    }
    const epoch = session.client.socketEpoch;
    return new Promise<NearRow[]>((resolve) => {
      let answered = false;
      const viaStore = () => {
        if (answered) return;
        answered = true;
        clearTimeout(rescue);
        this.counts.fallbacks++;
        resolve(this.fallback(keys));
      };
      // A connection that went silent would hold this read until the store's own timeout: read Redis the other way first.
      const rescue = setTimeout(viaStore, this.rescueAfter);
      session.client.sendCommand(['MGET', ...keys]).then(
        (reply) => {
          this.settle(load);
          const rows = asRows(reply, keys.length);
          if (rows === undefined) return viaStore();
          // Kept even when rescued: Redis tracks what it read, and replies and invalidations arrive in order.
          if (!load.stale && session === this.session && session.client.socketEpoch === epoch) this.keep(keys, rows);
          if (answered) return;
          answered = true;
          clearTimeout(rescue);
          resolve(rows);
        },
        () => {
          this.settle(load);
          viaStore();
        },
      );
    });
  }

  private settle(load: Load): void {
    for (const key of load.keys) {
      const loads = this.loading.get(key);
      if (loads === undefined) continue;
      loads.delete(load);
      if (loads.size === 0) this.loading.delete(key);
    }
  }

  private keep(keys: readonly string[], rows: readonly NearRow[]): void {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const row = rows[i];
      if (row === undefined) this.held.delete(key);
      else this.held.set(key, row);
    }
  }

  /** Drops the copies of keys and marks reads of them in flight as stale. */
  private forget(keys: readonly string[]): void {
    for (const key of keys) {
      this.held.delete(key);
      const loads = this.loading.get(key);
      if (loads !== undefined) for (const load of loads) load.stale = true;
    }
  }

  private dropAll(): void {
    if (this.held.size > 0) this.counts.clears++;
    this.held.clear();
    for (const loads of this.loading.values()) for (const load of loads) load.stale = true;
  }

  private invalidated(session: Session, key: Buffer | null): void {
    if (session !== this.session) return;
    this.counts.invalidations++;
    // A null key is Redis's way of saying that every key changed (FLUSHALL, FLUSHDB).
    if (key === null) this.dropAll();
    else this.forget([key.toString()]);
  }

  /** The tracking connection was lost: nothing held can be vouched for any more. */
  private lost(session: Session): void {
    if (session !== this.session) return;
    this.provenAt = Number.NEGATIVE_INFINITY;
    session.pingSentAt = undefined;
    session.handshakeSince = undefined;
    this.dropAll();
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
    this.session = session;
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
      if (session !== this.session) return;
      session.handshakeSince = undefined;
      this.heartbeat();
    });
    client.connect().catch(() => this.lost(session));
  }

  /** Destroys the tracking connection, if any; its late replies and events are ignored. */
  private abandon(): void {
    const session = this.session;
    if (session === undefined) return;
    this.lost(session);
    this.session = undefined;
    try {
      session.client.destroy();
    } catch {
      // Already closed.
    }
  }

  private tick(): void {
    const session = this.session;
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

  /** Sends a PING unless one is in flight; its answer proves every write before its send time applied here. */
  private heartbeat(): void {
    const session = this.session;
    if (session === undefined || session.pingSentAt !== undefined || !session.client.isReady) return;
    const sentAt = monotonicNow();
    const epoch = session.client.socketEpoch;
    session.pingSentAt = sentAt;
    session.client.sendCommand(['PING']).then(
      () => {
        if (session.pingSentAt !== sentAt) return;
        session.pingSentAt = undefined;
        if (session === this.session && session.client.socketEpoch === epoch && sentAt > this.provenAt) this.provenAt = sentAt;
      },
      () => {
        if (session.pingSentAt === sentAt) session.pingSentAt = undefined;
      },
    );
  }
}

/** An MGET reply as rows, or undefined when it is not one. */
function asRows(reply: unknown, length: number): NearRow[] | undefined {
  if (!Array.isArray(reply) || reply.length !== length) return undefined;
  const rows: NearRow[] = new Array(length);
  for (let i = 0; i < length; i++) {
    const row: unknown = reply[i];
    if (row === null || row === undefined) rows[i] = undefined;
    else if (typeof row === 'string') rows[i] = row;
    else if (Buffer.isBuffer(row)) rows[i] = row.toString();
    else return undefined;
  }
  return rows;
}

/** Near caches by the Keyv (or adapter) they serve: read through {@link nearCacheStats}, never a member of a public type. */
const registry = new WeakMap<object, NearCache>();

/** Links a store to its near cache, for {@link nearCacheStats}. */
export function attachNearCache(store: object, near: NearCache): void {
  registry.set(store, near);
}

/**
 * The near cache's counters of a store made by `createRedisStore({ nearCache })`, or undefined for any
 * other store. For dashboards: a falling share of `hits` with rising `fallbacks` says the tracking
 * connection is slow or lost.
 *
 * @example
 * ```ts
 * import { createRedisStore, nearCacheStats } from 'trpc-caching/redis';
 * const store = createRedisStore({ url: process.env.REDIS_URL, nearCache: { maxStaleness: 250 } });
 * setInterval(() => console.log(nearCacheStats(store)), 60_000).unref();
 * ```
 */
export function nearCacheStats(store: object): NearCacheStats | undefined {
  return registry.get(store)?.stats();
}
