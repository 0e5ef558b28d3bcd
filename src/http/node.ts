import type { IncomingMessage, ServerResponse } from 'node:http';
import { etagMatches } from './etag.js';

/**
 * Wraps a Node.js request handler (tRPC's `createHTTPHandler`, trpc-to-openapi's
 * `createOpenApiHttpHandler` or `createOpenApiNodeHttpHandler`, Express
 * middleware) so that a GET answered with 200 and an `ETag` matching the
 * request's `If-None-Match` (weak comparison, lists and `*`) goes out as
 * `304 Not Modified` without a body. The procedure still runs (a hit is
 * cheap); the response body is what is saved.
 *
 * @param handler - The handler to wrap; its signature is kept.
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
