import { type CallObserver, type CallOutcome, type CallReport, callObserverOf, observeCalls } from '../engine/calls.js';

/**
 * One procedure call's outcome, as a `maxAge` callback of `cacheResponseMeta` sees it: HIT, MISS, BYPASS, STALE (an
 * expired entry served within its stale-while-revalidate window) or NONE (a mutation), the scope's kind, the TTL in
 * ms, the payload's ETag, the tags, and what a mutation moved.
 *
 * @example
 * ```ts
 * const maxAge = (entry: CacheLogEntry) => (entry.scope === 'public' ? entry.ttl / 1000 : 0);
 * ```
 */
export type CacheLogEntry = CallOutcome;

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

/**
 * The log of one request: what the cache did for each of its calls, by the call's position in the request, read by
 * the HTTP layer to set `X-Cache`, `Cache-Control`, `ETag` and `X-Cache-Sync`. It observes the calls (the tRPC adapter
 * reports each one on the context), so the adapter knows nothing of headers. tRPC copies the context object when a
 * middleware extends it; the log travels as a property of the context (see `observeCalls`), not as its identity.
 */
export class CacheLog implements CallObserver {
  /** The calls that went through the cache, in the order they finished. */
  readonly entries: CacheLogEntry[] = [];
  /** Entries by the call's position in the request. */
  readonly slots = new Map<number, CallSlot>();
  /** The calls' inputs by position, as they become known (a call that never reached the cache has one too). */
  readonly inputs = new Map<number, unknown>();
  /** Set when a call's position could not be told: the calls without an entry may be any of them. */
  unplaced = false;

  /**
   * @param credentialed Whether the request carried credentials (an `Authorization` or `Cookie` header), or could
   *   not be told not to: a response to it must not be offered to shared caches, even for a public entry.
   * @param hasHeader Whether the request carried a header (by name, any case): a public entry varies on none of the
   *   `vary` headers.
   * @param calls The request's calls, as tRPC's `info.calls` lists them (each call's `getRawInput` is the one its
   *   middlewares get, which tells a call's position); undefined when the adapter did not say (one call: REST).
   */
  constructor(
    readonly credentialed: boolean,
    readonly hasHeader: (name: string) => boolean,
    readonly calls: readonly { readonly getRawInput: unknown }[] | undefined,
  ) {
    calls?.forEach((call, at) => {
      // Read now (tRPC memoizes it), so that the sync header can name every call's input, even one refused early.
      if (typeof call.getRawInput !== 'function') return;
      Promise.resolve()
        .then(() => (call.getRawInput as () => unknown)())
        .then(
          (input) => this.inputs.set(at, input),
          () => {},
        );
    });
  }

  /**
   * Notes a call's outcome at its position: the index in `calls` of the call whose input accessor is this one's, or,
   * when the adapter did not list the calls, 0 for the first entry of the request. A call whose position cannot be
   * told marks the log `unplaced`: the headers then say "unknown" where unsure.
   */
  called(report: CallReport): void {
    const { outcome: entry, call, input } = report;
    this.entries.push(entry);
    const at = this.calls === undefined ? (this.entries.length === 1 ? 0 : -1) : this.calls.findIndex((c) => c.getRawInput === call);
    if (at === -1 || this.slots.has(at)) {
      this.unplaced = true;
      return;
    }
    this.slots.set(at, report.unkeyed === true ? { entry, input, unkeyed: true } : { entry, input });
  }
}

/** Adds a fresh cache log to a context object (in place) and returns it. */
export function attachCacheLog<T extends object>(
  ctx: T,
  credentialed: boolean,
  hasHeader: (name: string) => boolean = () => credentialed,
  calls?: readonly { readonly getRawInput: unknown }[],
): T {
  return observeCalls(ctx, new CacheLog(credentialed, hasHeader, calls));
}

/** The log of a context made with {@link attachCacheLog}; undefined otherwise. */
export function cacheLogOf(ctx: unknown): CacheLog | undefined {
  const observer = callObserverOf(ctx);
  return observer instanceof CacheLog ? observer : undefined;
}
