import type { RedisClientOptions } from '@keyv/redis';
import { LRUCache } from 'lru-cache';
import type { ResolvedNearCacheOptions } from './near-cache-options.js';
import { TrackingConnection } from './tracking-connection.js';

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

/** A row of a read: the key's string, or undefined when the key is absent. */
export type NearRow = string | undefined;

/** One read in flight on the tracking connection. `stale` once anything it read may have changed since. */
interface Load {
  readonly keys: readonly string[];
  stale: boolean;
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
  /** The connection reads are loaded on, and its proof of liveness. */
  private readonly tracking: TrackingConnection;
  /** Reads in flight on the tracking connection, by key they read. */
  private readonly loading = new Map<string, Set<Load>>();
  /** How long a load may wait for the tracking connection before Redis is read on the store's connection. */
  private readonly rescueAfter: number;
  private readonly counts = { hits: 0, loads: 0, fallbacks: 0, invalidations: 0, evictions: 0, clears: 0 };

  /**
   * @param clientOptions the store's own client options (URL, credentials, TLS, socket); the tracking
   *   connection uses them with RESP3, client tracking and no offline queue.
   * @param fallback reads keys on the store's own connection, for reads the near cache cannot answer.
   */
  constructor(
    clientOptions: RedisClientOptions,
    private readonly fallback: (keys: string[]) => Promise<NearRow[]>,
    options: ResolvedNearCacheOptions,
  ) {
    this.held = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => 2 * (key.length + value.length) || 1,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.counts.evictions++;
      },
    });
    this.rescueAfter = Math.min(Math.floor(options.maxStaleness / 6), 50);
    this.tracking = new TrackingConnection(clientOptions, options.maxStaleness, {
      invalidated: (key) => this.invalidated(key),
      lost: () => this.dropAll(),
    });
  }

  /**
   * Rows of `keys`: from memory when every key is held and the connection has proven itself
   * within `maxStaleness`, else read from Redis (on the tracking connection, keeping what it reads,
   * or on the store's connection when the tracking one cannot be relied on).
   */
  getMany(keys: string[]): NearRow[] | Promise<NearRow[]> {
    if (this.tracking.live()) {
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
    this.tracking.heartbeat();
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
      live: this.tracking.live(),
    };
  }

  /** Stops the heartbeat, closes the tracking connection and drops every copy. */
  close(): void {
    this.tracking.close();
    this.dropAll();
  }

  private load(keys: string[]): Promise<NearRow[]> {
    const session = this.tracking.session;
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
          if (!load.stale && session === this.tracking.session && session.client.socketEpoch === epoch) this.keep(keys, rows);
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

  private invalidated(key: Buffer | null): void {
    this.counts.invalidations++;
    // A null key is Redis's way of saying that every key changed (FLUSHALL, FLUSHDB).
    if (key === null) this.dropAll();
    else this.forget([key.toString()]);
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
