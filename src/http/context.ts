import { attachCacheLog, cacheLogOf } from './cache-log.js';
import { refuseBufferedSubscription } from './lambda.js';

/** The credential headers: a request that sends either may be answered with data meant for its sender. */
const CREDENTIALS = ['authorization', 'cookie'];

/** Which of `names` (lower case) a request's `headers` carries: a fetch `Headers` or a record (Node, Fastify, Lambda). */
function carriesHeader(headers: unknown, names: readonly string[]): boolean | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') return names.some((name) => Boolean(get.call(headers, name)));
  // Node lower-cases header names; other sources (Lambda events) may not.
  for (const [name, value] of Object.entries(headers)) {
    if (names.includes(name.toLowerCase()) && (Array.isArray(value) ? value.length > 0 : Boolean(value))) return true;
  }
  return false;
}

/** The request headers behind a `createContext` call, wherever the adapter put them; undefined when none are found. */
function requestHeadersOf(args: readonly unknown[]): unknown {
  const first = args[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const holder = first as {
    req?: { headers?: unknown };
    request?: { headers?: unknown };
    event?: { headers?: unknown };
    headers?: unknown;
  };
  for (const source of [holder.req, holder.request, holder.event, holder]) {
    const headers = source?.headers;
    if (typeof headers === 'object' && headers !== null) return headers;
  }
  return undefined;
}

/**
 * Whether the request behind a `createContext` call carried credentials. Adapters pass
 * `{ req }` (tRPC's Node and fetch adapters, trpc-to-openapi's handlers, Express, Fastify, Next.js)
 * or `{ event }` (Lambda). When no request headers are found the answer is yes: a public entry is
 * then sent `private`, which costs shared caching and never leaks.
 */
export function requestCarriesCredentials(args: readonly unknown[]): boolean {
  return carriesHeader(requestHeadersOf(args), CREDENTIALS) ?? true;
}

/** A look-up of the request's headers by name, for headers a response varies on; unknown headers count as present. */
export function requestHeaderLookup(args: readonly unknown[]): (name: string) => boolean {
  const headers = requestHeadersOf(args);
  return (name) => carriesHeader(headers, [name.toLowerCase()]) ?? true;
}

/** The calls of the request behind a `createContext` call, as tRPC's adapters pass them (`info.calls`). */
function requestCallsOf(args: readonly unknown[]): readonly { readonly getRawInput: unknown }[] | undefined {
  const calls = (args[0] as { info?: { calls?: unknown } } | undefined)?.info?.calls;
  // trpc-to-openapi passes an empty list (it calls the procedure through createCaller): one call, not listed.
  return Array.isArray(calls) && calls.length > 0 ? (calls as { getRawInput: unknown }[]) : undefined;
}

/**
 * Enables cache headers: wraps an app's `createContext` so that each request's
 * context carries a fresh cache log, which the cached procedures fill and
 * `cacheResponseMeta` turns into `X-Cache`, `Cache-Control`, `Vary` and `ETag`.
 * Without it, `cacheResponseMeta` has nothing to read and sends no cache headers
 * (it warns once). It also notes whether the request carried credentials
 * (`Authorization` or `Cookie`), so that a public entry sent to such a request
 * is marked `private`. Works with every tRPC and trpc-to-openapi adapter. On a Lambda handler wrapped by
 * `withNotModifiedLambda` it refuses subscriptions at once (they cannot stream there).
 *
 * @param createContext - Your `createContext`. Default: none, the context is `{}`.
 * @example
 * ```ts
 * const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: userFromToken(req.headers.authorization) }));
 * createHTTPHandler({ router: appRouter, createContext, responseMeta: cacheResponseMeta() });
 * ```
 */
export function withCacheHeaders(): (...args: unknown[]) => Promise<object>;
export function withCacheHeaders<TArgs extends unknown[], TCtx extends object>(
  createContext: (...args: TArgs) => TCtx | Promise<TCtx>,
): (...args: TArgs) => Promise<TCtx>;
export function withCacheHeaders<TArgs extends unknown[], TCtx extends object>(
  createContext?: (...args: TArgs) => TCtx | Promise<TCtx>,
): (...args: TArgs) => Promise<TCtx | object> {
  return async (...args: TArgs) => {
    // A subscription on a buffered Lambda handler would hold the invocation until its timeout: refused at once.
    refuseBufferedSubscription(args);
    const ctx: object = createContext === undefined ? {} : await createContext(...args);
    // A context object reused across requests (or frozen) gets a per-request copy, so logs never mix.
    const fresh =
      Object.isExtensible(ctx) && cacheLogOf(ctx) === undefined ? ctx : Object.assign(Object.create(Object.getPrototypeOf(ctx)), ctx);
    return attachCacheLog(fresh, requestCarriesCredentials(args), requestHeaderLookup(args), requestCallsOf(args));
  };
}
