// docs/edge.md, "Setting it up".
import { createServer } from 'node:http';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { cacheResponseMeta, createEdge, varnishPurger, withCacheHeaders } from 'trpc-caching/http';
import { z } from 'zod';

type Ctx = { user: string | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const titles = new Map<number, string>();

// One edge object for both sides: the purges and the surrogate-key header use the same keys.
const edge = createEdge({ header: 'xkey', purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }) });
const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, edge });

const appRouter = t.router({
  post: t.router({
    byId: caching
      .cachedQuery(t.procedure)
      // Public: one answer for everyone, kept by the edge for a day, purged by any mutation of `post:<id>`.
      .meta({ cache: { scope: 'public', ttl: 60_000, sMaxAge: 24 * 60 * 60_000, tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number() }))
      .query(({ input }) => ({ id: input.id, title: titles.get(input.id) ?? '' })),
    rename: caching
      .invalidatingMutation(t.procedure)
      // Returns once the versions are written and Varnish has dropped every answer tagged `post:<id>`.
      .meta({ invalidate: { tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number(), title: z.string() }))
      .mutation(({ input }) => void titles.set(input.id, input.title)),
  }),
});
caching.validateRouter(appRouter);

const handler = createHTTPHandler({
  router: appRouter,
  createContext: withCacheHeaders(({ req }) => ({ user: req.headers.authorization ?? null })),
  // `xkey: all p:post p:post.byId t:post%3A1` and `s-maxage=86400` on public answers.
  responseMeta: cacheResponseMeta({ edge }),
});
export const server = createServer(handler);
// server.listen(3000); varnishd -a :6081 -f example-app/edge/varnish.vcl in front of it.
