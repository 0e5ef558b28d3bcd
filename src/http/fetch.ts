import { etagMatches } from './etag.js';

/** Headers a 304 keeps (RFC 9110 §15.4.5), plus `X-Cache`. */
export const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'x-cache'];

/**
 * Wraps a fetch-style handler (tRPC's `fetchRequestHandler`, trpc-to-openapi's
 * `createOpenApiFetchHandler`, Hono, Next.js route handlers) so that a GET
 * answered with 200 and an `ETag` matching the request's `If-None-Match`
 * (weak comparison, lists and `*`) becomes `304 Not Modified` without a body.
 *
 * @param handler - The handler to wrap; extra arguments are passed through.
 * @example
 * ```ts
 * const handle = withNotModifiedFetch((req: Request) =>
 *   fetchRequestHandler({ endpoint: '/trpc', req, router, createContext: withCacheHeaders(createContext), responseMeta: cacheResponseMeta() }),
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
