// Shown in docs/http.md (HTTP headers, 304 and OpenAPI); test/openapi/readme-server.test.ts runs it.
import { createServer, type IncomingMessage } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { documentCaching } from 'trpc-caching/openapi';
import { createOpenApiHttpHandler, generateOpenApiDocument, type OpenApiMeta } from 'trpc-to-openapi';
import { z } from 'zod';

type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<OpenApiMeta & CachingMeta>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });

export const appRouter = t.router({
  profile: caching
    .cachedQuery(authed)
    .meta({ openapi: { method: 'GET', path: '/profile' }, cache: { ttl: 60_000 } })
    .input(z.void())
    .output(z.object({ id: z.string() }))
    .query(({ ctx }) => ({ id: ctx.user.id })),
});

// withCacheHeaders gives each request a cache log; cacheResponseMeta turns it into X-Cache, Cache-Control, Vary, ETag.
// tRPC passes a Node request to createContext, trpc-to-openapi's createOpenApiHttpHandler a fetch Request.
const createContext = withCacheHeaders(({ req }: { req: IncomingMessage | Request }): Ctx => {
  const auth = req.headers instanceof Headers ? req.headers.get('authorization') : req.headers.authorization;
  const id = /^Bearer (\w+)$/.exec(auth ?? '')?.[1]; // look the token up in your session store instead
  return { user: id ? { id } : null };
});
const responseMeta = cacheResponseMeta(); // options: maxAge (seconds), vary (default ['Authorization'])
// withNotModified: a GET whose If-None-Match matches the ETag gets 304 without a body.
const trpc = withNotModified(createHTTPHandler({ router: appRouter, basePath: '/trpc/', createContext, responseMeta }));
const rest = withNotModified(createOpenApiHttpHandler({ router: appRouter, createContext, responseMeta }));
// x-cache and x-cache-invalidates, the cache headers and the 304 answer on every cached operation.
const openApiDocument = documentCaching(generateOpenApiDocument(appRouter, { title: 'My API', version: '1.0.0', baseUrl: '/api' }), {
  router: appRouter,
  caching,
});

export const server = createServer((req, res) => {
  if (req.url?.startsWith('/trpc/')) return void trpc(req, res);
  if (req.url?.startsWith('/api/')) {
    req.url = req.url.slice('/api'.length); // trpc-to-openapi matches paths from the root
    return void rest(req, res);
  }
  if (req.url === '/openapi.json') return void res.setHeader('content-type', 'application/json').end(JSON.stringify(openApiDocument));
  res.statusCode = 404;
  res.end();
});
// server.listen(3000);
