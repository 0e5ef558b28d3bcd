import type { IncomingMessage, ServerResponse } from 'node:http';
import { md5 } from '../engine/keys.js';
import { attachCacheLog, type CacheLogEntry, cacheLogOf } from './cache-log.js';

/**
 * The part of a `responseMeta` call the cache headers depend on. tRPC's
 * adapters and trpc-to-openapi's handlers both pass an object of this shape.
 */
export interface ResponseMetaInput {
  /** The request's context, made by a `createContext` wrapped with {@link withCacheLog}. */
  readonly ctx?: unknown;
  /** Procedure paths of the calls, in request order (several for a tRPC batch). */
  readonly paths?: readonly string[] | undefined;
  readonly type: 'query' | 'mutation' | 'subscription' | 'unknown';
  readonly errors: readonly unknown[];
  readonly data?: readonly unknown[];
  /** tRPC: true when headers are sent before the results are known (streamed responses). */
  readonly eagerGeneration?: boolean;
}

/** Headers as tRPC and trpc-to-openapi accept them from `responseMeta`. */
export type ResponseHeaders = Record<string, string | string[]>;

/** What a `responseMeta` function returns. */
export interface ResponseMetaResult {
  status?: number;
  headers?: ResponseHeaders | Headers;
}

/** Options of {@link cacheResponseMeta}. */
export interface CacheHeadersOptions<TOpts extends ResponseMetaInput = ResponseMetaInput> {
  /**
   * `max-age` of a cached response, in seconds. Default: the entry's TTL in
   * whole seconds. `0` makes clients revalidate every time (cheap with the
   * ETag: a 304 without a body), which keeps read-your-writes in the browser.
   */
  maxAge?: number | ((entry: CacheLogEntry) => number);
  /**
   * Request headers a private (per-user) response varies on, added to `Vary`,
   * so that a browser shared by two users does not serve one's response to the
   * other. Default `['Authorization']`; add `'Cookie'` for cookie sessions.
   */
  vary?: readonly string[];
  /** Your own `responseMeta`: its status is kept and its headers win over ours. */
  responseMeta?: (opts: TOpts) => ResponseMetaResult | undefined;
}

/**
 * Wraps an app's `createContext` so that each request's context carries a
 * fresh cache log, which the cached procedures fill and {@link cacheResponseMeta}
 * reads. Works with every tRPC and trpc-to-openapi adapter.
 *
 * @example
 * ```ts
 * const createContext = withCacheLog(({ req }: { req: IncomingMessage }) => ({ user: userFromToken(req.headers.authorization) }));
 * createHTTPHandler({ router: appRouter, createContext, responseMeta: cacheResponseMeta() });
 * ```
 */
export function withCacheLog(): () => Promise<object>;
export function withCacheLog<TArgs extends unknown[], TCtx extends object>(
  createContext: (...args: TArgs) => TCtx | Promise<TCtx>,
): (...args: TArgs) => Promise<TCtx>;
export function withCacheLog<TArgs extends unknown[], TCtx extends object>(
  createContext?: (...args: TArgs) => TCtx | Promise<TCtx>,
): (...args: TArgs) => Promise<TCtx | object> {
  return async (...args: TArgs) => {
    const ctx: object = createContext === undefined ? {} : await createContext(...args);
    // A context object reused across requests (or frozen) gets a per-request copy, so logs never mix.
    const fresh =
      Object.isExtensible(ctx) && cacheLogOf(ctx) === undefined ? ctx : Object.assign(Object.create(Object.getPrototypeOf(ctx)), ctx);
    return attachCacheLog(fresh);
  };
}

/**
 * The HTTP cache headers of one response, from its calls' cache log. Returns
 * an empty object when no call went through the cache, so that the app's own
 * headers (or none) apply.
 *
 * - `X-Cache`: one token per call, in request order: `HIT`, `MISS` or `BYPASS`
 *   (the call did not use the cache), e.g. `HIT, MISS` for a batch of two.
 * - `Cache-Control`: `no-store` for mutations, errors, streamed responses and
 *   any call that bypassed the cache; otherwise `private` when any call is in
 *   a user (or anonymous) scope, else `public`, with the smallest `max-age`.
 * - `ETag`: strong, when every call was a HIT or MISS without error: the
 *   entry's digest for one call, a digest of the digests for a batch.
 *
 * @example
 * ```ts
 * responseMeta: (opts) => ({ headers: { ...cacheHeaders(opts), 'X-Request-Id': requestId(opts.ctx) } })
 * ```
 */
export function cacheHeaders(opts: ResponseMetaInput, options: Pick<CacheHeadersOptions, 'maxAge' | 'vary'> = {}): ResponseHeaders {
  const log = cacheLogOf(opts.ctx);
  if (log === undefined || opts.type === 'subscription') return {};
  if (opts.type === 'mutation' || log.some((entry) => entry.type === 'mutation')) return { 'Cache-Control': 'no-store' };
  // tRPC streams (httpBatchStreamLink) send headers before any call has finished.
  if (opts.eagerGeneration === true && (opts.data?.length ?? 0) === 0) return log.length > 0 ? { 'Cache-Control': 'no-store' } : {};
  const paths = opts.paths ?? [];
  const unmatched = [...log];
  const calls = paths.map((path) => {
    const at = unmatched.findIndex((entry) => entry.path === path);
    return at === -1 ? undefined : unmatched.splice(at, 1)[0];
  });
  if (calls.every((call) => call === undefined)) return {};

  const served = calls.filter((call): call is CacheLogEntry => call !== undefined && (call.status === 'HIT' || call.status === 'MISS'));
  const headers: ResponseHeaders = {
    'X-Cache': calls.map((call) => (call === undefined || call.status === 'NONE' ? 'BYPASS' : call.status)).join(', '),
  };
  const failed = opts.errors.some((error) => Boolean(error));
  if (failed || served.length !== calls.length) {
    headers['Cache-Control'] = 'no-store';
    return headers;
  }
  const isPrivate = served.some((call) => call.scope !== 'public');
  const maxAge = Math.min(...served.map((call) => maxAgeOf(call, options.maxAge)));
  headers['Cache-Control'] = `${isPrivate ? 'private' : 'public'}, max-age=${maxAge}`;
  if (isPrivate) {
    const vary = options.vary ?? ['Authorization'];
    if (vary.length > 0) headers.Vary = [...vary];
  }
  const etags = served.map((call) => call.etag);
  if (etags.every((etag): etag is string => typeof etag === 'string')) {
    headers.ETag = `"${etags.length === 1 ? etags[0] : md5(etags.join(','))}"`;
  }
  return headers;
}

/** @internal The `max-age` of an entry under the `maxAge` option, in whole seconds (also used to document it). */
export function maxAgeOf(entry: CacheLogEntry, option: CacheHeadersOptions['maxAge']): number {
  const seconds = option === undefined ? entry.ttl / 1000 : typeof option === 'function' ? option(entry) : option;
  return Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
}

/**
 * A `responseMeta` for tRPC's adapters and trpc-to-openapi's handlers that
 * sets `X-Cache`, `Cache-Control`, `Vary` and `ETag` (see {@link cacheHeaders}).
 * Needs a `createContext` wrapped with {@link withCacheLog}. It never sets
 * status 304: wrap the handler with {@link withNotModified} (Node) or
 * {@link withNotModifiedFetch} (fetch) for that.
 *
 * @example
 * ```ts
 * const responseMeta = cacheResponseMeta({ maxAge: 0, vary: ['Authorization', 'Cookie'] });
 * createHTTPHandler({ router, createContext: withCacheLog(createContext), responseMeta });
 * createOpenApiHttpHandler({ router, createContext: withCacheLog(createContext), responseMeta });
 * ```
 */
export function cacheResponseMeta<TOpts extends ResponseMetaInput>(
  options: CacheHeadersOptions<TOpts> = {},
): (opts: TOpts) => { status?: number; headers: ResponseHeaders } {
  return (opts) => {
    const own = options.responseMeta?.(opts);
    const headers = cacheHeaders(opts, options);
    if (own?.headers !== undefined) {
      const ownEntries = own.headers instanceof Headers ? [...own.headers.entries()] : Object.entries(own.headers);
      for (const [name, value] of ownEntries) {
        for (const ours of Object.keys(headers)) if (ours.toLowerCase() === name.toLowerCase()) delete headers[ours];
        if (value !== undefined) headers[name] = value;
      }
    }
    return own?.status === undefined ? { headers } : { status: own.status, headers };
  };
}

/**
 * Whether an `If-None-Match` value matches an ETag, by weak comparison (RFC 9110 §13.1.2).
 *
 * @example
 * ```ts
 * etagMatches('W/"a", "b"', '"b"'); // true
 * ```
 */
export function etagMatches(ifNoneMatch: string | null | undefined, etag: string | null | undefined): boolean {
  if (!ifNoneMatch || !etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  const wanted = opaque(etag.trim());
  return (ifNoneMatch.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => opaque(tag) === wanted);
}

/**
 * Wraps a Node.js request handler (tRPC's `createHTTPHandler`, trpc-to-openapi's
 * `createOpenApiHttpHandler` or `createOpenApiNodeHttpHandler`, Express
 * middleware) so that a GET answered with 200 and an `ETag` matching the
 * request's `If-None-Match` goes out as `304 Not Modified` without a body.
 * The procedure still runs (a hit is cheap); the response body is what is saved.
 *
 * @example
 * ```ts
 * const trpc = withNotModified(createHTTPHandler({ router, createContext, responseMeta }));
 * http.createServer((req, res) => trpc(req, res)).listen(3000);
 * ```
 */
export function withNotModified<TReq extends IncomingMessage, TRes extends ServerResponse, TRest extends unknown[], TResult>(
  handler: (req: TReq, res: TRes, ...rest: TRest) => TResult,
): (req: TReq, res: TRes, ...rest: TRest) => TResult {
  return (req, res, ...rest) => {
    const ifNoneMatch = req.headers['if-none-match'];
    if (req.method === 'GET' && typeof ifNoneMatch === 'string') {
      const writeHead = res.writeHead;
      // Node calls writeHead itself (implicitly) before the first body byte, whoever wrote the headers;
      // a 304 status set here makes Node drop the body.
      res.writeHead = function writeHeadOrNotModified(this: ServerResponse, statusCode: number, ...args: unknown[]) {
        const explicit = args.find((arg): arg is Record<string, unknown> => typeof arg === 'object' && arg !== null && !Array.isArray(arg));
        const etag = explicit?.ETag ?? explicit?.etag ?? this.getHeader('etag');
        if (statusCode === 200 && typeof etag === 'string' && etagMatches(ifNoneMatch, etag)) {
          statusCode = 304;
          this.statusCode = 304;
          this.removeHeader('content-length');
          this.removeHeader('content-type');
        }
        return (writeHead as (this: ServerResponse, code: number, ...rest: unknown[]) => ServerResponse).call(this, statusCode, ...args);
      } as typeof res.writeHead;
    }
    return handler(req, res, ...rest);
  };
}

/** Headers a 304 keeps (RFC 9110 §15.4.5), plus `X-Cache`. */
const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'x-cache'];

/**
 * Wraps a fetch-style handler (tRPC's `fetchRequestHandler`, trpc-to-openapi's
 * `createOpenApiFetchHandler`, Hono, Next.js route handlers) so that a GET
 * answered with 200 and an `ETag` matching the request's `If-None-Match`
 * becomes `304 Not Modified` without a body.
 *
 * @example
 * ```ts
 * const handle = withNotModifiedFetch((req: Request) =>
 *   fetchRequestHandler({ endpoint: '/trpc', req, router, createContext: withCacheLog(createContext), responseMeta: cacheResponseMeta() }),
 * );
 * ```
 */
export function withNotModifiedFetch<TRest extends unknown[]>(
  handler: (req: Request, ...rest: TRest) => Response | Promise<Response>,
): (req: Request, ...rest: TRest) => Promise<Response> {
  return async (req, ...rest) => {
    const response = await handler(req, ...rest);
    if (req.method !== 'GET' || response.status !== 200) return response;
    if (!etagMatches(req.headers.get('if-none-match'), response.headers.get('etag'))) return response;
    await response.body?.cancel();
    const headers = new Headers();
    for (const name of NOT_MODIFIED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    return new Response(null, { status: 304, headers });
  };
}
