/**
 * What the engine needs from a store, declared here so that the engine depends on no concrete store: `stores/`
 * implements it (the store guard in stores/guard.ts, the capabilities a store factory offers in stores/capabilities.ts).
 */

/**
 * The store as the engine calls it: a Keyv behind a guard that bounds each call in time, counts failures
 * and skips the store while its breaker is open. No call rejects: a failed, slow or skipped one resolves to
 * `undefined` (reads) or `false` (writes), and the guard reports it.
 */
export interface CacheStore {
  /** False while the breaker is open: callers skip the cache entirely. */
  readonly available: boolean;
  /** Reads keys in one call (one MGET on Redis), in order; undefined when the call failed, was slow or was skipped. */
  getMany(keys: string[], path: string | undefined): Promise<unknown[] | undefined>;
  /** Writes one key; true only when the write is known to have succeeded. */
  set(key: string, value: string, ttl: number, path: string | undefined): Promise<boolean>;
  /**
   * Writes entries in one call; true only when the write is known to have succeeded. An `unguarded` write is tried
   * even while the breaker is open, within its own timeout (version moves must reach the store whatever reads did);
   * a `quiet` one is counted but not reported again.
   */
  setMany(
    entries: Array<{ key: string; value: string; ttl: number }>,
    operation: 'write' | 'invalidate',
    path: string | undefined,
    unguarded?: { readonly timeout: number; readonly quiet?: boolean },
  ): Promise<boolean>;
}

/**
 * Leases: short locks in the store, taken with a token so that only their
 * holder gives them back. On Redis, `SET key token NX PX ttl`; a holder that
 * dies frees its lease when the TTL runs out. Every call may reject (the store
 * is down); callers treat that as "no lease" and go on without one.
 */
export interface Leases {
  /** Takes `key` for `ttl` ms unless someone holds it; resolves to whether it was taken. */
  acquire(key: string, token: string, ttl: number): Promise<boolean>;
  /** Sets the lease's TTL again, if `token` still holds it; resolves to whether it does. */
  extend(key: string, token: string, ttl: number): Promise<boolean>;
  /** Gives the lease back, if `token` still holds it. */
  release(key: string, token: string): Promise<void>;
}

/**
 * Publish/subscribe on the store's server, for the live invalidation stream across processes
 * (`caching.invalidationStream`). On Redis: `PUBLISH` on the store's connection, `SUBSCRIBE` on a dedicated one;
 * `redisPubSub(client)` in src/stores/redis/pubsub.ts builds one from a `@redis/client` client.
 */
export interface PubSub {
  /** Sends a message on a channel; rejects when the server cannot be reached. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Listens on a channel until the returned function is called. `onGap` is told whenever messages may have been
   * missed (the subscriber's connection was lost and came back).
   */
  subscribe(channel: string, onMessage: (message: string) => void, onGap: () => void): Promise<() => Promise<void>>;
}

/**
 * One node of a store made of several (a Redis Cluster's primaries), as `caching.stats().storeNodes` lists it.
 *
 * @example
 * ```ts
 * for (const { node, breaker } of caching.stats().storeNodes ?? []) if (breaker !== 'closed') console.warn(`${node} is skipped`);
 * ```
 */
export interface NodeHealthState {
  /** `host:port`. */
  readonly node: string;
  /** `open`: calls for keys this node holds are skipped (they bypass the cache); `half-open`: one trial call goes through. */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /** Failed calls in a row. */
  readonly failures: number;
  /** The last failure's message, while the node is failing. */
  readonly lastError?: string;
}

/**
 * A store whose data may roll back (a Redis replica promoted in a failover may lack its primary's last writes, version
 * moves among them). The engine names the keys that must change after a rollback (its global version); the store
 * writes fresh random values to them after each rollback it sees, and serves no read of the data concerned before.
 */
export interface RollbackGuard {
  /** Protects `keys` (values written with a TTL of `ttl` ms) until the returned function is called. */
  protect(keys: readonly string[], ttl: number): () => void;
}

/** What a store offers beyond Keyv's contract. Each member is optional: a plain Keyv offers none. */
export interface StoreCapabilities {
  /** Cross-process publish/subscribe, for the live invalidation stream. */
  readonly pubsub?: PubSub;
  /** Cross-process leases, for stampede protection (`lock`). */
  readonly leases?: Leases;
  /**
   * `hash-tags`: the store is a Redis Cluster that reads a key's entry and the versions it shares a
   * slot with in one command, so the engine lays its keys out in hash-tagged groups (see KeyFormat).
   */
  readonly keyLayout?: 'hash-tags';
  /**
   * The store's calls reject (or answer `false`) when they fail, and its `error` events are only news about its
   * connections: the guard then judges each call by its own outcome, not by events emitted while it was in flight.
   */
  readonly failsByRejecting?: true;
  /** The health of each node, for a store made of several (a Redis Cluster). */
  readonly nodes?: () => readonly NodeHealthState[];
  /** Rollbacks (failovers) the store detects, after which it moves the keys the engine names. */
  readonly rollbacks?: RollbackGuard;
}
