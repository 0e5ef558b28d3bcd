import type { Moved } from '../client/protocol.js';

/**
 * Per-request record of what the cache did, read by the HTTP layer to set
 * `X-Cache`, `Cache-Control` and `ETag`. tRPC copies the context object when a
 * middleware extends it, so the record travels as a property of the context
 * (copied by reference, hence enumerable), not as the context's identity.
 *
 * The key is a `Symbol.for` symbol, not a module-private one or a WeakMap: the
 * CommonJS builds of `trpc-caching` (which records) and `trpc-caching/http`
 * (which attaches and reads) are separate bundles, each with its own copy of
 * this module, and both must reach the same slot.
 */
export const cacheLogSlot: unique symbol = Symbol.for('trpc-caching.log');

/**
 * One procedure call's outcome, as a `maxAge` callback of `cacheResponseMeta` sees it.
 *
 * @example
 * ```ts
 * const maxAge = (entry: CacheLogEntry) => (entry.scope === 'public' ? entry.ttl / 1000 : 0);
 * ```
 */
export interface CacheLogEntry {
  readonly path: string;
  readonly type: 'query' | 'mutation';
  /**
   * HIT: served from the cache; MISS: resolver ran and the result was stored; BYPASS: the cache was not used;
   * STALE: an expired entry served within the procedure's stale-while-revalidate window while it is refreshed in
   * the background (never one that was invalidated). NONE: a mutation.
   */
  readonly status: 'HIT' | 'MISS' | 'BYPASS' | 'STALE' | 'NONE';
  readonly scope: 'user' | 'anon' | 'public';
  /** Entry lifetime in ms (0 for mutations). */
  readonly ttl: number;
  /** Strong validator of the entry's payload, on HIT, MISS and STALE. */
  readonly etag?: string | undefined;
  /** The procedure's stale-while-revalidate window in ms (`meta.cache.staleWhileRevalidate`); absent when it has none. */
  readonly staleWhileRevalidate?: number | undefined;
  /** Tags the query's entry depends on, once its key was derived (absent when the call bypassed the cache before). */
  readonly tags?: readonly string[] | undefined;
  /** What an invalidating mutation moved, as its caller may learn it (its own scope as `self`, never another's). */
  readonly moved?: Moved | undefined;
}

/** The log of one request. */
export interface CacheLog {
  /** The calls that went through the cache, in the order they finished. */
  readonly entries: CacheLogEntry[];
  /**
   * Whether the request carried credentials (an `Authorization` or `Cookie` header), or could not be
   * told not to: a response to it must not be offered to shared caches, even for a public entry.
   */
  readonly credentialed: boolean;
  /** Whether the request carried a header (by name, any case): a public entry varies on none of the `vary` headers. */
  readonly hasHeader: (name: string) => boolean;
}

/** Adds a fresh cache log to a context object (in place) and returns it. */
export function attachCacheLog<T extends object>(
  ctx: T,
  credentialed: boolean,
  hasHeader: (name: string) => boolean = () => credentialed,
): T {
  const log: CacheLog = { entries: [], credentialed, hasHeader };
  Object.defineProperty(ctx, cacheLogSlot, { value: log, enumerable: true, configurable: true, writable: true });
  return ctx;
}

/** The log of a context made with {@link attachCacheLog}; undefined otherwise. */
export function cacheLogOf(ctx: unknown): CacheLog | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const log = (ctx as { [cacheLogSlot]?: Partial<CacheLog> | null })[cacheLogSlot];
  return typeof log === 'object' && log !== null && Array.isArray(log.entries) ? (log as CacheLog) : undefined;
}

/** Notes a call's outcome in its request's log; does nothing when the context has none (no HTTP headers asked for). */
export function recordCacheStatus(ctx: unknown, entry: CacheLogEntry): void {
  cacheLogOf(ctx)?.entries.push(entry);
}
