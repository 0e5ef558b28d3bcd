import type { Moved } from '../protocol/index.js';

/**
 * What the cache did for one procedure call, in the terms response headers are made of. Never a user id, an input or
 * a value: only the scope's kind, the entry's TTL, tags and validator, and what a mutation moved as its caller may
 * learn it.
 */
export interface CallOutcome {
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
  /** The procedure's stale-while-revalidate window in ms; absent when it has none. */
  readonly staleWhileRevalidate?: number | undefined;
  /** Tags the query's entry depends on, once its key was derived (absent when the call bypassed the cache before). */
  readonly tags?: readonly string[] | undefined;
  /** The procedure's `meta.cache.sMaxAge` in ms (public queries only): the `s-maxage` its public responses carry. */
  readonly sMaxAge?: number | undefined;
  /**
   * A public MISS whose versions moved (or could not be read again) while its resolver ran: its answer may be from
   * before a mutation that has already purged the edge, so no shared cache may keep it. Absent otherwise.
   */
  readonly crossed?: true | undefined;
  /** What an invalidating mutation moved, as its caller may learn it (its own scope as `self`, never another's). */
  readonly moved?: Moved | undefined;
}

/** One call's outcome, with what tells the call apart from the other calls of its request. */
export interface CallReport {
  readonly outcome: CallOutcome;
  /**
   * The call's identity in its request: the function its framework reads the call's input with (tRPC's
   * `getRawInput`, one per call of a batch). An observer that knows the request's calls finds the position by it.
   */
  readonly call: unknown;
  /** The call's input, as the client sent it (undefined when it could not be read). */
  readonly input: unknown;
  /** A query whose key could not be derived: what it depends on is unknown. */
  readonly unkeyed?: boolean;
}

/**
 * An observer of one request's calls, carried by the request's context: the HTTP layer's cache log is one (it turns
 * the reports into `X-Cache`, `Cache-Control`, `ETag` and `X-Cache-Sync`). Called once per call that went through the
 * cache, when its outcome is known; it must not throw.
 */
export interface CallObserver {
  called(report: CallReport): void;
}

/**
 * Where a context carries its observer. A registered symbol, not a module-private one: in an app that loads
 * `trpc-caching` through `import` and `trpc-caching/http` through `require` (or the other way round), Node gives each
 * module system its own copy of this module, and the adapter that reports and the HTTP layer that observes must still
 * meet on the context. Within one module system every entry shares this module.
 */
const OBSERVER: unique symbol = Symbol.for('trpc-caching.call-observer');

/**
 * Makes `observer` hear every call made with `ctx` (in place; returns `ctx`). The property is enumerable: tRPC copies
 * a context by spreading it when a middleware extends it, and the copy must keep the observer.
 */
export function observeCalls<T extends object>(ctx: T, observer: CallObserver): T {
  Object.defineProperty(ctx, OBSERVER, { value: observer, enumerable: true, configurable: true, writable: true });
  return ctx;
}

/** The observer of a context made with {@link observeCalls}; undefined otherwise (nobody asked: nothing is reported). */
export function callObserverOf(ctx: unknown): CallObserver | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const observer = (ctx as { [OBSERVER]?: unknown })[OBSERVER];
  return typeof observer === 'object' && observer !== null && typeof (observer as CallObserver).called === 'function'
    ? (observer as CallObserver)
    : undefined;
}
