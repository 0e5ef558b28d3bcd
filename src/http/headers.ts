import { md5 } from '../engine/hash.js';
import { errorMessage } from '../errors.js';
import { type CacheLog, type CacheLogEntry, cacheLogOf } from './cache-log.js';
import { type SurrogateHeader, surrogateHeaderValue, surrogateKeysOf } from './edge/keys.js';
import { syncHeaders } from './sync.js';

/**
 * What the headers need of an edge (`createEdge` from this module): which header carries surrogate keys, and the
 * namespace the keys are put in.
 *
 * @example
 * ```ts
 * const edge: EdgeHeaders = { header: 'xkey', namespace: '' };
 * ```
 */
export interface EdgeHeaders {
  readonly header: SurrogateHeader;
  readonly namespace: string;
}

/**
 * A procedure as `caching.describe(router)` tells it: what `s-maxage` is read from.
 *
 * @example
 * ```ts
 * const procedures: ReadonlyMap<string, ProcedureEdgeInfo> = caching.describe(appRouter);
 * ```
 */
export interface ProcedureEdgeInfo {
  readonly kind: string;
  readonly cache?: { readonly sMaxAge?: number | undefined };
}

/**
 * The part of a `responseMeta` call the cache headers depend on. tRPC's
 * adapters and trpc-to-openapi's handlers both pass an object of this shape.
 *
 * @example
 * ```ts
 * const responseMeta = (opts: ResponseMetaInput) => ({ headers: { 'X-Calls': String(opts.paths?.length ?? 0) } });
 * ```
 */
export interface ResponseMetaInput {
  /** The request's context, made by a `createContext` wrapped with `withCacheHeaders`. */
  readonly ctx?: unknown;
  /** Procedure paths of the calls, in request order (several for a tRPC batch). */
  readonly paths?: readonly string[] | undefined;
  readonly type: 'query' | 'mutation' | 'subscription' | 'unknown';
  readonly errors: readonly unknown[];
  readonly data?: readonly unknown[];
  /** tRPC: true when headers are sent before the results are known (streamed responses). */
  readonly eagerGeneration?: boolean;
}

/**
 * Headers as tRPC and trpc-to-openapi accept them from `responseMeta`.
 *
 * @example
 * ```ts
 * const headers: ResponseHeaders = { 'X-Request-Id': '42', Vary: ['Authorization', 'Cookie'] };
 * ```
 */
export type ResponseHeaders = Record<string, string | string[]>;

/**
 * What a `responseMeta` function returns.
 *
 * @example
 * ```ts
 * const own = (): ResponseMetaResult => ({ headers: { 'X-Request-Id': '42' } });
 * ```
 */
export interface ResponseMetaResult {
  status?: number;
  headers?: ResponseHeaders | Headers;
}

/**
 * Options of `cacheResponseMeta`.
 *
 * @example
 * ```ts
 * const options: CacheHeadersOptions = { maxAge: (entry) => (entry.scope === 'public' ? entry.ttl / 1000 : 0), vary: ['Authorization', 'Cookie'] };
 * ```
 */
export interface CacheHeadersOptions<TOpts extends ResponseMetaInput = ResponseMetaInput> {
  /**
   * `max-age` of a cached response, in seconds (the smallest of a batch's calls).
   * `0` makes the browser revalidate every time, which keeps read-your-writes: a
   * user who just changed something sees it at once, and a current `ETag`
   * costs a 304 without a body. A longer `max-age` on a private response lets
   * the browser show its own copy, from before the user's write, for that long.
   *
   * @default 0 for a private response and for a STALE call; the entry's TTL in whole seconds for a public one
   */
  maxAge?: number | ((entry: CacheLogEntry) => number);
  /**
   * Request headers a private response varies on, sent in `Vary`, so that a
   * browser shared by two users does not serve one's response to the other.
   * Add `'Cookie'` for cookie sessions.
   *
   * @default ['Authorization']
   */
  vary?: readonly string[];
  /**
   * Send `X-Cache-Sync`: per call of a response, a cached query's scope kind and tags, or what an invalidating
   * mutation moved for its caller (its own scope as `self`, paths, tags, `all`; never another user's id or scope).
   * `invalidationLink` from `trpc-caching/client` reads it to invalidate exactly the affected client-side queries.
   * Off by default: it tells clients the tag names of your queries. Cross-origin clients also need
   * `Access-Control-Expose-Headers: X-Cache-Sync`. See docs/client.md for the format.
   *
   * @default false
   * @example
   * ```ts
   * cacheResponseMeta({ sync: true });
   * ```
   */
  sync?: boolean;
  /**
   * The edge in front of the API (`createEdge`, the same object given to createCaching's `edge`): public responses
   * then carry their surrogate keys in its header (`Surrogate-Key`, `Cache-Tag` or `xkey`): for each call `all`, its
   * path and router prefixes, its tags; the union over a batch. Private responses never carry keys. A response
   * whose keys do not fit in 16 KiB goes out `private`, since no purge could reach it.
   *
   * @default none (no surrogate keys)
   */
  edge?: EdgeHeaders;
  /**
   * The router's procedures, `caching.describe(appRouter)`. Not needed: each call reports its `meta.cache.sMaxAge`,
   * sent as `s-maxage` on public responses when `edge` is given (a batch: the smallest, a call without one counting as
   * its `max-age`); without an edge no purge reaches a shared cache, so no `s-maxage` is sent.
   * When given, a procedure's `sMaxAge` here wins over the one its call reported.
   *
   * @default none (each call's own `sMaxAge`)
   */
  procedures?: ReadonlyMap<string, ProcedureEdgeInfo>;
  /**
   * Your own `responseMeta`, the one way to add headers or a status of yours:
   * its status is kept, and its headers win over ours whatever their case
   * (your `cache-control` replaces our `Cache-Control` instead of going out beside it).
   *
   * @default none
   */
  responseMeta?: (opts: TOpts) => ResponseMetaResult | undefined;
}

/**
 * The `max-age` of an entry under the `maxAge` option, in whole seconds (NaN and negatives: 0), for a
 * private or a public response. By default a STALE call gets 0: its entry's TTL has already passed.
 * `documentCaching` uses it too, so that the document says what is sent. Throws what a `maxAge` callback throws.
 */
export function maxAgeOf(entry: CacheLogEntry, option: CacheHeadersOptions['maxAge'], isPrivate: boolean): number {
  const seconds =
    option === undefined
      ? isPrivate || entry.status === 'STALE'
        ? 0
        : entry.ttl / 1000
      : typeof option === 'function'
        ? option(entry)
        : option;
  return Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
}

/**
 * The calls of a response with their log entries, in request order; undefined for a call the log has no entry for.
 * Entries are paired by the call's position; only when a position could not be told (an adapter that does not list
 * its calls) are they paired by path, in the order they finished.
 */
function callsOf(log: CacheLog, paths: readonly string[]): (CacheLogEntry | undefined)[] {
  if (!log.unplaced) return paths.map((_, i) => log.slots.get(i)?.entry);
  const unmatched = [...log.entries];
  return paths.map((path) => {
    const at = unmatched.findIndex((entry) => entry.path === path);
    return at === -1 ? undefined : unmatched.splice(at, 1)[0];
  });
}

/**
 * The HTTP cache headers of one response, from its request's cache log. Empty
 * when no call went through the cache, so that the app's own headers (or none) apply.
 *
 * - `X-Cache`: one token per call, in request order: `HIT`, `MISS`, `STALE` or `BYPASS`.
 * - `Cache-Control`: `no-store` for mutations, errors, streamed responses, any
 *   call that bypassed the cache and any public miss computed across a mutation; `private` when any call is per user (or anonymous)
 *   or the request carried credentials (or `setsCookie`), else `public`; the smallest `max-age`; on a
 *   public response whose every call has a stale-while-revalidate window, the smallest
 *   as `stale-while-revalidate` (see {@link staleWhileRevalidateOf}).
 * - `Vary` on private responses; a strong `ETag` when every call was a HIT or MISS.
 *
 * `setsCookie` (default false): the app's own headers set a cookie, so no shared cache may keep the response.
 *
 * Throws what a `maxAge` callback throws.
 */
export function cacheHeaders(
  opts: ResponseMetaInput,
  options: Pick<CacheHeadersOptions, 'maxAge' | 'vary' | 'sync' | 'edge' | 'procedures'> = {},
  setsCookie = false,
): ResponseHeaders {
  const log = cacheLogOf(opts.ctx);
  if (log === undefined || opts.type === 'subscription') return {};
  const paths = opts.paths ?? [];
  // tRPC streams (httpBatchStreamLink) send headers before any call has finished: nothing is known of the calls.
  const eager = opts.eagerGeneration === true && (opts.data?.length ?? 0) === 0;
  const sync = syncHeaders(options.sync, { paths, type: opts.type, eager }, log);
  if (opts.type === 'mutation' || log.entries.some((entry) => entry.type === 'mutation')) return { 'Cache-Control': 'no-store', ...sync };
  if (eager) return log.entries.length > 0 ? { 'Cache-Control': 'no-store', ...sync } : sync;
  const calls = callsOf(log, paths);
  if (calls.every((call) => call === undefined)) return sync;

  const served = calls.filter(
    (call): call is CacheLogEntry => call !== undefined && (call.status === 'HIT' || call.status === 'MISS' || call.status === 'STALE'),
  );
  const headers: ResponseHeaders = {
    'X-Cache': calls.map((call) => (call === undefined || call.status === 'NONE' ? 'BYPASS' : call.status)).join(', '),
    ...sync,
  };
  const failed = opts.errors.some((error) => Boolean(error));
  // A public miss computed across a mutation may hold data from before it and reach the edge after its purge: no
  // cache may keep it (docs/edge.md, "What is guaranteed"). The caller still gets it: it was right when asked.
  const crossed = served.some((call) => call.crossed === true);
  if (failed || crossed || served.length !== calls.length) {
    headers['Cache-Control'] = 'no-store';
    return headers;
  }
  // A public entry answering a request with credentials goes out private too: `public` would license a
  // shared cache to store it (RFC 9111 §3.5) and hand it to callers the procedure's auth turns away.
  // So does one answering a request that carried a header the app says responses vary on (an API key, say).
  const varies = options.vary ?? ['Authorization'];
  // And so does one that sets a cookie (an anonymous session id from responseMeta): a shared cache that kept it would
  // hand that caller's cookie to everyone after them.
  let isPrivate =
    setsCookie || log.credentialed || served.some((call) => call.scope !== 'public') || varies.some((name) => log.hasHeader(name));
  const maxAges = served.map((call) => maxAgeOf(call, options.maxAge, isPrivate));
  if (!isPrivate && options.edge !== undefined) {
    const keys = served.flatMap((call) => surrogateKeysOf(call.path, call.tags, options.edge?.namespace ?? ''));
    const value = surrogateHeaderValue(options.edge.header, keys);
    // Keys that do not fit would reach the edge cut short: a purge could then miss the copy, so no shared cache gets it.
    if (value === undefined) isPrivate = true;
    else headers[options.edge.header] = value;
  }
  const maxAge = isPrivate ? Math.min(...served.map((call) => maxAgeOf(call, options.maxAge, true))) : Math.min(...maxAges);
  const swr = isPrivate ? 0 : staleWhileRevalidateOf(served);
  // Only behind an edge that is purged: a shared cache nobody purges would keep the copy for s-maxage after a mutation.
  const sMaxAge = isPrivate || options.edge === undefined ? undefined : sharedMaxAgeOf(served, maxAges, options.procedures);
  headers['Cache-Control'] =
    `${isPrivate ? 'private' : 'public'}, max-age=${maxAge}${sMaxAge === undefined ? '' : `, s-maxage=${sMaxAge}`}${swr > 0 ? `, stale-while-revalidate=${swr}` : ''}`;
  if (isPrivate) {
    if (varies.length > 0) headers.Vary = [...varies];
  }
  const etags = served.map((call) => call.etag);
  if (etags.every((etag): etag is string => typeof etag === 'string')) {
    headers.ETag = `"${etags.length === 1 ? etags[0] : md5(etags.join(','))}"`;
  }
  return headers;
}

/**
 * The `s-maxage` of a public response, in whole seconds: the smallest over its calls of `meta.cache.sMaxAge` (from
 * `procedures` when given, else as the call reported it), a call without one counting as its `max-age` (which is
 * what a shared cache keeps it for); undefined when no call has one. `documentCaching` uses it too.
 */
export function sharedMaxAgeOf(
  calls: readonly Pick<CacheLogEntry, 'path' | 'sMaxAge'>[],
  maxAges: readonly number[],
  procedures: ReadonlyMap<string, ProcedureEdgeInfo> | undefined,
): number | undefined {
  let least = Number.POSITIVE_INFINITY;
  let declared = false;
  calls.forEach((call, i) => {
    const ms = procedures?.get(call.path)?.cache?.sMaxAge ?? call.sMaxAge;
    if (ms !== undefined) declared = true;
    least = Math.min(least, ms === undefined ? (maxAges[i] ?? 0) : Math.floor(ms / 1000));
  });
  return declared && Number.isFinite(least) ? least : undefined;
}

/**
 * The `stale-while-revalidate` of a public response, in whole seconds: the smallest window of its calls, or 0
 * when any call has none. Private responses never carry it: a browser would then show a user its copy from
 * before their own write while it revalidates, which `max-age=0` exists to prevent (the server itself never
 * serves an invalidated entry stale). `documentCaching` uses it too.
 */
export function staleWhileRevalidateOf(calls: readonly Pick<CacheLogEntry, 'staleWhileRevalidate'>[]): number {
  let least = Number.POSITIVE_INFINITY;
  for (const call of calls) least = Math.min(least, call.staleWhileRevalidate ?? 0);
  return Number.isFinite(least) ? Math.floor(least / 1000) : 0;
}

/** Whether the app's own `responseMeta` headers set a cookie. */
function setsCookieIn(own: ResponseHeaders | Headers): boolean {
  if (own instanceof Headers) return own.has('set-cookie');
  for (const [name, value] of Object.entries(own)) if (value !== undefined && name.toLowerCase() === 'set-cookie') return true;
  return false;
}

/** Replaces ours by the user's headers, comparing names without regard to case. */
function mergeOwnHeaders(headers: ResponseHeaders, own: ResponseHeaders | Headers): void {
  const ownEntries = own instanceof Headers ? [...own.entries()] : Object.entries(own);
  for (const [name, value] of ownEntries) {
    for (const ours of Object.keys(headers)) if (ours.toLowerCase() === name.toLowerCase()) delete headers[ours];
    if (value !== undefined) headers[name] = value;
  }
}

/**
 * A `responseMeta` for tRPC's adapters and trpc-to-openapi's handlers that
 * sets `X-Cache`, `Cache-Control`, `Vary` and `ETag`:
 *
 * - `X-Cache`: one token per call, in request order: `HIT`, `MISS`, `STALE` (an
 *   expired entry served while it is refreshed in the background) or `BYPASS` (the
 *   call did not use the cache), e.g. `HIT, MISS` for a batch of two.
 * - `Cache-Control`: `no-store` for mutations, errors, streamed responses and
 *   any call that bypassed the cache. Otherwise `private, max-age=0` when any call
 *   is per user (or anonymous), the request carried credentials (`Authorization`
 *   or `Cookie`) or your `responseMeta` sets a cookie, else `public, max-age=<TTL>`; see the `maxAge` option. A public
 *   response of procedures with `meta.cache.staleWhileRevalidate` adds
 *   `stale-while-revalidate=<window in seconds>`; a STALE call has `max-age=0`.
 * - `Vary` (the `vary` option) on private responses.
 * - `ETag`: strong, when every call was a HIT or MISS without error: the
 *   entry's digest for one call, a digest of the digests for a batch.
 *
 * Needs a `createContext` wrapped with `withCacheHeaders`, and warns once (per
 * `cacheResponseMeta()`) when a context has no cache log. A `maxAge` callback
 * that throws makes the response `no-store` (and is reported once) rather than
 * failing it. It never sets status 304: wrap the handler with `withNotModified`
 * (Node) or `withNotModifiedFetch` (fetch) for that.
 *
 * @param options - `maxAge`, `vary` and your own `responseMeta`. Default: none.
 * @example
 * ```ts
 * const responseMeta = cacheResponseMeta({ vary: ['Authorization', 'Cookie'], responseMeta: () => ({ headers: { 'X-Served-By': 'api-1' } }) });
 * createHTTPHandler({ router, createContext: withCacheHeaders(createContext), responseMeta });
 * createOpenApiHttpHandler({ router, createContext: withCacheHeaders(createContext), responseMeta });
 * ```
 */
export function cacheResponseMeta<TOpts extends ResponseMetaInput>(
  options: CacheHeadersOptions<TOpts> = {},
): (opts: TOpts) => { status?: number; headers: ResponseHeaders } {
  // Once per instance: enough to be seen at startup, never a line per request.
  let warnedNoLog = false;
  let warnedMaxAge = false;
  const headersOf = (opts: TOpts, setsCookie: boolean): ResponseHeaders => {
    if (!warnedNoLog && typeof opts.ctx === 'object' && opts.ctx !== null && cacheLogOf(opts.ctx) === undefined) {
      warnedNoLog = true;
      console.warn(
        "trpc-caching: cacheResponseMeta() got a context without a cache log, so it sends no cache headers. Wrap your createContext with withCacheHeaders() from 'trpc-caching/http'.",
      );
    }
    try {
      return cacheHeaders(opts, options, setsCookie);
    } catch (thrown) {
      if (!warnedMaxAge) {
        warnedMaxAge = true;
        console.warn(
          `trpc-caching: the maxAge option of cacheResponseMeta() threw (${errorMessage(thrown)}); such responses are sent no-store.`,
        );
      }
      // Unsure how long the response may be kept: not at all. X-Cache still says what the cache did.
      const { 'X-Cache': xCache, 'X-Cache-Sync': sync } = cacheHeaders(opts, { ...options, maxAge: 0 }, setsCookie);
      return {
        ...(xCache === undefined ? {} : { 'X-Cache': xCache }),
        'Cache-Control': 'no-store',
        ...(sync === undefined ? {} : { 'X-Cache-Sync': sync }),
      };
    }
  };
  return (opts) => {
    const own = options.responseMeta?.(opts);
    const headers = headersOf(opts, own?.headers !== undefined && setsCookieIn(own.headers));
    if (own?.headers !== undefined) mergeOwnHeaders(headers, own.headers);
    return own?.status === undefined ? { headers } : { status: own.status, headers };
  };
}
