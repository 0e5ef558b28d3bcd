import { etagMatches } from './etag.js';
import { applyMetaHeaders, applyRecordHeaders, type FastInfo, FastPath, type FastPathOptions } from './fast-path.js';
import { NOT_MODIFIED_HEADERS } from './fetch.js';

/**
 * What the fetch form of the fast path hands `createContext`: what tRPC's `fetchRequestHandler` hands it, `req`,
 * `resHeaders` (headers it sets are sent) and `info`.
 *
 * @example
 * ```ts
 * const createContext = withCacheHeaders(({ req }: FastPathFetchContextOptions) => ({ user: userFromToken(req.headers.get('authorization')) }));
 * ```
 */
export interface FastPathFetchContextOptions {
  req: Request;
  resHeaders: Headers;
  info: FastInfo;
}

/**
 * Options of `fastPathFetch`: the regular handler's router, `createContext` and `responseMeta`, and its `endpoint`.
 *
 * @example
 * ```ts
 * const options: FastPathFetchOptions<typeof appRouter> = { router: appRouter, endpoint: '/api/trpc', createContext, responseMeta: cacheResponseMeta() };
 * ```
 */
export interface FastPathFetchOptions<TRouter> extends FastPathOptions<TRouter, FastPathFetchContextOptions> {
  /** The `endpoint` given to `fetchRequestHandler` (e.g. `/api/trpc`); a request outside it is handed on. */
  readonly endpoint: string;
}

/**
 * The fast path for fetch runtimes (Hono, Next.js route handlers, `fetchRequestHandler` anywhere): resolves to the
 * `Response` tRPC's `fetchRequestHandler` would make for a GET whose calls are all cached hits (304 for a matching
 * `If-None-Match`), or to undefined, and the request then goes to the regular handler untouched.
 *
 * @example
 * ```ts
 * const fast = fastPathFetch({ router: appRouter, endpoint: '/api/trpc', createContext, responseMeta });
 * export const GET = async (req: Request) => (await fast(req)) ?? handler(req);
 * ```
 */
export function fastPathFetch<TRouter>(options: FastPathFetchOptions<TRouter>): (req: Request) => Promise<Response | undefined> {
  const core = new FastPath(options);
  const endpoint = trimSlashes(options.endpoint);
  const notModified = options.notModified ?? true;
  return async (req) => {
    if (req.method !== 'GET') return undefined;
    try {
      const url = new URL(req.url);
      const pathname = trimSlashes(url.pathname);
      if (endpoint !== '' && !(pathname === endpoint || pathname.startsWith(`${endpoint}/`))) return undefined;
      const resHeaders = new Headers();
      const found = await core.answer(
        { raw: req, url, path: trimSlashes(pathname.slice(endpoint.length)), header: (name) => req.headers.get(name) ?? undefined },
        {
          createContext: async (info) => (await options.createContext?.({ req, resHeaders, info })) ?? {},
          // fetchRequestHandler collects responseMeta's headers on resHeaders (with those createContext set) and
          // hands tRPC that Headers object, which tRPC appends.
          applyMeta: (meta, headers) => {
            if (meta?.headers instanceof Headers) for (const [key, value] of meta.headers.entries()) resHeaders.append(key, value);
            else if (meta?.headers !== undefined) applyRecordHeaders(meta.headers, resHeaders);
            return applyMetaHeaders({ headers: resHeaders, ...(meta?.status === undefined ? {} : { status: meta.status }) }, headers);
          },
        },
      );
      if (found === undefined) return undefined;
      if (notModified && found.status === 200 && etagMatches(req.headers.get('if-none-match'), found.headers.get('etag'))) {
        // What withNotModifiedFetch makes of tRPC's 200.
        const kept = new Headers();
        for (const name of NOT_MODIFIED_HEADERS) {
          const value = found.headers.get(name);
          if (value !== null) kept.set(name, value);
        }
        return new Response(null, { status: 304, headers: kept });
      }
      return new Response(found.body, { status: found.status, headers: found.headers });
    } catch {
      return undefined;
    }
  };
}

function trimSlashes(path: string): string {
  const start = path.startsWith('/') ? 1 : 0;
  return path.endsWith('/') ? path.slice(start, -1) : path.slice(start);
}
