import type { Moved } from '../protocol/index.js';

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

/**
 * A call's entry at its position in the request, with the input it was called with (for `X-Cache-Sync`).
 *
 * @example
 * ```ts
 * const slot = cacheLogOf(ctx)?.slots.get(0); // the first call's entry, whenever it finished
 * ```
 */
export interface CallSlot {
  readonly entry: CacheLogEntry;
  readonly input: unknown;
  /** A query whose key could not be derived: what it depends on is unknown (its scope kind is still known). */
  readonly unkeyed?: boolean;
}

/** The log of one request. */
export interface CacheLog {
  /** The calls that went through the cache, in the order they finished. */
  readonly entries: CacheLogEntry[];
  /**
   * The request's calls, as tRPC's `info.calls` lists them (each call's `getRawInput` is the one its middlewares
   * get, which tells a call's position); undefined when the adapter did not say (one call a request: REST).
   */
  readonly calls: readonly { readonly getRawInput: unknown }[] | undefined;
  /** Entries by the call's position in the request. */
  readonly slots: Map<number, CallSlot>;
  /** The calls' inputs by position, as they become known (a call that never reached the cache has one too). */
  readonly inputs: Map<number, unknown>;
  /** Set when a call's position could not be told: the calls without an entry may be any of them. */
  unplaced: boolean;
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
  calls?: readonly { readonly getRawInput: unknown }[],
): T {
  const log: CacheLog = { entries: [], credentialed, hasHeader, calls, slots: new Map(), inputs: new Map(), unplaced: false };
  calls?.forEach((call, at) => {
    // Read now (tRPC memoizes it), so that the sync header can name every call's input, even one refused early.
    if (typeof call.getRawInput !== 'function') return;
    Promise.resolve()
      .then(() => (call.getRawInput as () => unknown)())
      .then(
        (input) => log.inputs.set(at, input),
        () => {},
      );
  });
  Object.defineProperty(ctx, cacheLogSlot, { value: log, enumerable: true, configurable: true, writable: true });
  return ctx;
}

/** The log of a context made with {@link attachCacheLog}; undefined otherwise. */
export function cacheLogOf(ctx: unknown): CacheLog | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const log = (ctx as { [cacheLogSlot]?: Partial<CacheLog> | null })[cacheLogSlot];
  return typeof log === 'object' && log !== null && Array.isArray(log.entries) ? (log as CacheLog) : undefined;
}

/**
 * The call a log entry belongs to: its `getRawInput` (which tells its position) and its input.
 *
 * @example
 * ```ts
 * const call: CallRef = { getRawInput: opts.getRawInput, input: await opts.getRawInput() };
 * ```
 */
export interface CallRef {
  readonly getRawInput: unknown;
  readonly input: unknown;
  /** A query whose key could not be derived. @default false */
  readonly unkeyed?: boolean;
}

/**
 * Notes a call's outcome in a request's log, at the call's position: the index in `log.calls` of the call whose
 * `getRawInput` is this one's, or, when the adapter did not list the calls, 0 for the first entry of the request.
 * A call whose position cannot be told marks the log `unplaced`: the headers then say "unknown" where unsure.
 *
 * @example
 * ```ts
 * noteCall(log, { path, type: 'query', status: 'HIT', scope: 'user', ttl: 60_000 }, { getRawInput: opts.getRawInput, input });
 * ```
 */
export function noteCall(log: CacheLog, entry: CacheLogEntry, call: CallRef): void {
  log.entries.push(entry);
  const at = log.calls === undefined ? (log.entries.length === 1 ? 0 : -1) : log.calls.findIndex((c) => c.getRawInput === call.getRawInput);
  if (at === -1 || log.slots.has(at)) {
    log.unplaced = true;
    return;
  }
  log.slots.set(at, call.unkeyed === true ? { entry, input: call.input, unkeyed: true } : { entry, input: call.input });
}

/** Notes a call's outcome in its request's log; does nothing when the context has none (no HTTP headers asked for). */
export function recordCacheStatus(ctx: unknown, entry: CacheLogEntry, call?: CallRef): void {
  const log = cacheLogOf(ctx);
  if (log === undefined) return;
  if (call === undefined) {
    log.entries.push(entry);
    log.unplaced = true;
  } else noteCall(log, entry, call);
}
