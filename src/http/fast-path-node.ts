import type { IncomingMessage, ServerResponse } from 'node:http';
import { etagMatches } from './etag.js';
import { applyMetaHeaders, type FastAnswer, type FastInfo, FastPath, type FastPathOptions } from './fast-path.js';

/**
 * What the Node form of the fast path hands `createContext`: what tRPC's Node adapters (standalone, Express, Next.js
 * pages) hand it, `req`, `res` and `info`.
 *
 * @example
 * ```ts
 * const createContext = withCacheHeaders(({ req }: FastPathNodeContextOptions) => ({ user: userFromToken(req.headers.authorization) }));
 * ```
 */
export interface FastPathNodeContextOptions<TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse> {
  req: TReq;
  res: TRes;
  info: FastInfo;
}

/**
 * Options of `fastPath`: the regular handler's router, `createContext` and `responseMeta`, and where it is mounted.
 *
 * @example
 * ```ts
 * const options: FastPathNodeOptions<typeof appRouter> = { router: appRouter, createContext, responseMeta: cacheResponseMeta(), basePath: '/trpc' };
 * ```
 */
export interface FastPathNodeOptions<TRouter, TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse>
  extends FastPathOptions<TRouter, FastPathNodeContextOptions<TReq, TRes>> {
  /**
   * The path the router is served at, cut from the start of each request's path, as tRPC's standalone adapter's
   * `basePath`. A request outside it (a REST route of trpc-to-openapi, say) is handed on. `'/'` under Express, where
   * the mount path is already cut.
   *
   * @default '/'
   */
  readonly basePath?: string;
}

/**
 * A Node.js request handler in front of tRPC's: `(req, res, next)`. It answers by itself a GET whose calls are all
 * cached hits (one call or a batch), with what the regular handler would send, and a conditional GET whose `ETag`
 * matches with 304; it calls `next()` for every other request, which then reaches the regular handler untouched.
 * `answer(req, res)` is the same without `next`: it resolves to whether it answered (for Fastify's hooks).
 *
 * @example
 * ```ts
 * const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: userFromToken(req.headers.authorization) }));
 * const responseMeta = cacheResponseMeta();
 * const trpc = withNotModified(createHTTPHandler({ router: appRouter, createContext, responseMeta, basePath: '/trpc/' }));
 * const fast = fastPath({ router: appRouter, createContext, responseMeta, basePath: '/trpc/' });
 * http.createServer((req, res) => fast(req, res, () => trpc(req, res))).listen(3000);
 * ```
 */
export function fastPath<TRouter, TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse>(
  options: FastPathNodeOptions<TRouter, TReq, TRes>,
): FastPathNode<TReq, TRes> {
  const core = new FastPath(options);
  const base = trimSlashes(options.basePath ?? '/');
  const notModified = options.notModified ?? true;

  const answer = async (req: TReq, res: TRes): Promise<boolean> => {
    if (req.method !== 'GET' || req.url === undefined) return false;
    let url: URL;
    try {
      url = new URL(req.url, `${isEncrypted(req) ? 'https:' : 'http:'}//${req.headers.host ?? 'localhost'}`);
    } catch {
      return false;
    }
    const pathname = trimSlashes(url.pathname);
    if (base !== '' && !(pathname === base || pathname.startsWith(`${base}/`))) return false;
    const path = trimSlashes(pathname.slice(base.length));
    const found = await core.answer(
      { raw: req, url, path, header: (name) => headerOf(req, name) },
      {
        createContext: async (info) => (await options.createContext?.({ req, res, info })) ?? {},
        applyMeta: applyMetaHeaders,
      },
    );
    if (found === undefined || res.headersSent || res.writableEnded) return false;
    write(req, res, found, notModified);
    return true;
  };

  const handler = ((req: TReq, res: TRes, next: (error?: unknown) => void) => {
    answer(req, res).then(
      (answered) => {
        if (!answered) next();
      },
      // The fast path never answers with an error of its own: whatever went wrong, tRPC answers.
      () => next(),
    );
  }) as FastPathNode<TReq, TRes>;
  handler.answer = answer;
  return handler;
}

/**
 * The Node form of the fast path: a `(req, res, next)` middleware, and `answer(req, res)` resolving to whether it
 * answered.
 *
 * @example
 * ```ts
 * app.use('/trpc', fastPath({ router: appRouter, createContext, responseMeta }), createExpressMiddleware({ router: appRouter, createContext, responseMeta }));
 * ```
 */
export interface FastPathNode<TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse> {
  (req: TReq, res: TRes, next: (error?: unknown) => void): void;
  answer(req: TReq, res: TRes): Promise<boolean>;
}

/** Writes the answer as tRPC's `writeResponse` does (headers one by one, the body as one chunk), or withNotModified's 304. */
function write(req: IncomingMessage, res: ServerResponse, answer: FastAnswer, notModified: boolean): void {
  const ifNoneMatch = req.headers['if-none-match'];
  const etag = answer.headers.get('etag');
  const unchanged = notModified && answer.status === 200 && typeof ifNoneMatch === 'string' && etagMatches(ifNoneMatch, etag);
  if (res.statusCode === 200) res.statusCode = unchanged ? 304 : answer.status;
  for (const [key, value] of answer.headers) {
    if (key === 'set-cookie' || (unchanged && key === 'content-type')) continue;
    res.setHeader(key, value);
  }
  const cookies = answer.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (unchanged) {
    res.end();
    return;
  }
  // One write, then end: tRPC streams its Response body, so its answers go out chunked, without Content-Length.
  // Corked, so that headers, the chunk and the last chunk leave in one write to the socket.
  res.cork();
  res.write(answer.body);
  res.end();
  res.uncork();
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function isEncrypted(req: IncomingMessage): boolean {
  return req.headers[':scheme'] === 'https' || (req.socket !== undefined && 'encrypted' in req.socket && Boolean(req.socket.encrypted));
}

function trimSlashes(path: string): string {
  const start = path.startsWith('/') ? 1 : 0;
  return path.endsWith('/') ? path.slice(start, -1) : path.slice(start);
}
