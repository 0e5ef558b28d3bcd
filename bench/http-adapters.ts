/**
 * The adapter rows of `npm run bench:http`: the same cached procedure served as docs/adapters.md serves it
 * (withCacheHeaders, cacheResponseMeta, the adapter's 304 helper) by tRPC's standalone, Express, Fastify and fetch
 * (Hono on @hono/node-server) adapters, beside a bare node:http server writing the bytes of the same hit. Each
 * server runs in a child process of its own, so that none changes another's globals (@hono/node-server replaces
 * `Request` and `Response` by default, as it does for its users).
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { TRPCError } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { type FetchCreateContextFnOptions, fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import express from 'express';
import { fastify } from 'fastify';
import { Hono } from 'hono';
import {
  cacheResponseMeta,
  fastifyNotModified,
  fastPath,
  fastPathFetch,
  withCacheHeaders,
  withNotModified,
  withNotModifiedFetch,
} from '../src/http/index.js';
import { createCaching } from '../src/index.js';
import { authed, type BenchCtx, createT, listInput, makeList } from './fixtures.js';

/** The servers of the adapter table, the baseline first. */
export const ADAPTERS = [
  ['bare', 'bare node:http, the same bytes (the limit)'],
  ['constant', "tRPC's standalone adapter, a procedure returning a constant"],
  ['standalone', "tRPC's standalone adapter"],
  ['express', 'Express 5'],
  ['fastify', "Fastify 5 (tRPC's Fastify adapter)"],
  ['hono', 'fetch adapter on Hono (@hono/node-server)'],
  ['fast', 'fast path (fastPath) in front of the standalone adapter'],
  ['fastHono', 'fast path (fastPathFetch) on Hono'],
] as const;
export type AdapterName = (typeof ADAPTERS)[number][0];

/** Rows measured on the servers above with other requests: a 304, and a request that always falls back. */
export const EXTRA_ROWS = [
  ['fast304', 'fast', '304 (If-None-Match matches) through the fast path'],
  ['standalone304', 'standalone', '304 through the standalone adapter (withNotModified)'],
  ['fallbackFast', 'fast', 'fallback through the fast path (a cached query that fails: never a hit)'],
  ['fallbackRegular', 'standalone', 'the same request on the standalone adapter alone'],
] as const;

/** The headers of a hit that the bare server repeats. */
export const REPEATED_HEADERS = ['content-type', 'cache-control', 'vary', 'x-cache', 'etag'];

/** A hit as the bare server writes it: the standalone adapter's bytes and headers. */
export interface Hit {
  readonly body: string;
  readonly headers: Record<string, string>;
}

const CONSTANT = makeList(1);

function router(constant = false) {
  const t = createT();
  // See bench/http.ts: under this load a reply can be late; the row should measure hits, not bypasses.
  const caching = createCaching<BenchCtx>({ user: (ctx) => ctx.user?.id, timeout: 2_000 });
  const appRouter = t.router({
    cached: constant
      ? authed(t)
          .input(listInput)
          .query(() => CONSTANT)
      : caching
          .cachedQuery(authed(t))
          .input(listInput)
          .query(({ input }) => makeList(input.page)),
    failing: caching
      .cachedQuery(authed(t))
      .input(listInput)
      .query((): string => {
        throw new TRPCError({ code: 'NOT_FOUND' });
      }),
  });
  caching.validateRouter(appRouter);
  return appRouter;
}

const userOf = (authorization: string | null | undefined): BenchCtx => {
  const id = /^Bearer (\w+)$/.exec(authorization ?? '')?.[1];
  return { user: id ? { id } : null };
};
const nodeContext = withCacheHeaders(({ req }: { req: { headers: IncomingHttpHeaders } }) => userOf(req.headers.authorization));
const fetchContext = withCacheHeaders(({ req }: FetchCreateContextFnOptions) => userOf(req.headers.get('authorization')));

/** Starts one adapter's server on a free loopback port and resolves to the port; `hit` is the bare server's reply. */
export async function serveAdapter(name: AdapterName, hit?: Hit): Promise<number> {
  const responseMeta = cacheResponseMeta();
  const listenNode = (server: ReturnType<typeof createServer>) =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      }),
    );
  switch (name) {
    case 'bare': {
      if (hit === undefined) throw new Error('the bare server needs the bytes of a hit');
      const headers: OutgoingHttpHeaders = { ...hit.headers, 'content-length': Buffer.byteLength(hit.body) };
      return listenNode(createServer((_req, res) => res.writeHead(200, headers).end(hit.body)));
    }
    case 'constant':
    case 'standalone': {
      const handler = withNotModified(
        createHTTPHandler({ router: router(name === 'constant'), basePath: '/trpc/', createContext: nodeContext, responseMeta }),
      );
      return listenNode(createServer((req, res) => void handler(req, res)));
    }
    case 'fast': {
      const appRouter = router();
      const handler = withNotModified(
        createHTTPHandler({ router: appRouter, basePath: '/trpc/', createContext: nodeContext, responseMeta }),
      );
      const fast = fastPath({ router: appRouter, basePath: '/trpc/', createContext: nodeContext, responseMeta });
      return listenNode(createServer((req, res) => fast(req, res, () => void handler(req, res))));
    }
    case 'fastHono': {
      const appRouter = router();
      const trpc = withNotModifiedFetch((req: Request) =>
        fetchRequestHandler({ endpoint: '/trpc', req, router: appRouter, createContext: fetchContext, responseMeta }),
      );
      const fast = fastPathFetch({ router: appRouter, endpoint: '/trpc', createContext: fetchContext, responseMeta });
      const app = new Hono();
      app.all('/trpc/*', async (c) => (await fast(c.req.raw)) ?? trpc(c.req.raw));
      return listenNode(createAdaptorServer({ fetch: app.fetch }) as ReturnType<typeof createServer>);
    }
    case 'express': {
      const app = express();
      app.use('/trpc', withNotModified(createExpressMiddleware({ router: router(), createContext: nodeContext, responseMeta })));
      return listenNode(createServer(app));
    }
    case 'fastify': {
      const app = fastify();
      app.addHook('onRequest', fastifyNotModified);
      await app.register(fastifyTRPCPlugin, {
        prefix: '/trpc',
        trpcOptions: { router: router(), createContext: nodeContext, responseMeta },
      });
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      return Number(new URL(url).port);
    }
    case 'hono': {
      const appRouter = router();
      const trpc = withNotModifiedFetch((req: Request) =>
        fetchRequestHandler({ endpoint: '/trpc', req, router: appRouter, createContext: fetchContext, responseMeta }),
      );
      const app = new Hono();
      app.all('/trpc/*', (c) => trpc(c.req.raw));
      return listenNode(createAdaptorServer({ fetch: app.fetch }) as ReturnType<typeof createServer>);
    }
  }
}
