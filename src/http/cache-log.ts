/**
 * Per-request record of what the cache did, read by the HTTP layer to set
 * `X-Cache`, `Cache-Control` and `ETag`. tRPC copies the context object when a
 * middleware extends it, so the record travels as a property of the context
 * (copied by reference), not as the context's identity.
 */
export const cacheLogSlot: unique symbol = Symbol.for('trpc-caching.log');

/** One procedure call's outcome. */
export interface CacheLogEntry {
  readonly path: string;
  readonly type: 'query' | 'mutation';
  /** HIT: served from the cache; MISS: resolver ran and the result was stored; BYPASS: the cache was not used. NONE: a mutation. */
  readonly status: 'HIT' | 'MISS' | 'BYPASS' | 'NONE';
  readonly scope: 'user' | 'anon' | 'public';
  /** Entry lifetime in ms (0 for mutations). */
  readonly ttl: number;
  /** Strong validator of the entry's payload, on HIT and MISS. */
  readonly etag?: string | undefined;
}

/** Adds a fresh cache log to a context object (in place) and returns it. */
export function attachCacheLog<T extends object>(ctx: T): T {
  Object.defineProperty(ctx, cacheLogSlot, { value: [], enumerable: true, configurable: true, writable: true });
  return ctx;
}

/** The log of a context made with {@link attachCacheLog}; undefined otherwise. */
export function cacheLogOf(ctx: unknown): CacheLogEntry[] | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const log = (ctx as { [cacheLogSlot]?: unknown })[cacheLogSlot];
  return Array.isArray(log) ? (log as CacheLogEntry[]) : undefined;
}

export function recordCacheStatus(ctx: unknown, entry: CacheLogEntry): void {
  cacheLogOf(ctx)?.push(entry);
}
