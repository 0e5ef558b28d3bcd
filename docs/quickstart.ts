// Shown in README.md (Quickstart); test/docs/quickstart.test.ts runs it.
import { initTRPC, TRPCError } from '@trpc/server';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { z } from 'zod';

type Post = { id: number; ownerId: string; title: string };
const posts = new Map<number, Post>([[1, { id: 1, ownerId: 'alice', title: 'Hello' }]]);

type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();

// Your own auth: it runs before any cache read.
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});

export const caching = createCaching<Ctx>({
  user: (ctx) => ctx.user?.id, // entries are scoped per user; null = anonymous
  ttl: 5 * 60_000, // ms; per procedure: meta.cache.ttl
});
const cachedQuery = caching.cachedQuery(authed);
const invalidatingMutation = caching.invalidatingMutation(authed);

export const appRouter = t.router({
  post: t.router({
    list: cachedQuery
      .input(z.object({ page: z.number().int().min(1).default(1) }))
      .query(({ ctx }) => [...posts.values()].filter((p) => p.ownerId === ctx.user.id)),
    byId: cachedQuery
      .meta({ cache: { ttl: 60_000, tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number() }))
      .query(({ input }) => posts.get(input.id) ?? null),
    rename: invalidatingMutation
      // The acting user's entries are invalidated by default; tags reach every user's byId, and the public
      // feed, which lists titles: a mutation moves every cached query that shows what it changed.
      .meta({ invalidate: { tags: ({ input }) => [`post:${String(input.id)}`, 'feed'] } })
      .input(z.object({ id: z.number(), title: z.string().min(1) }))
      .mutation(({ input, ctx }) => {
        const post = posts.get(input.id);
        if (post?.ownerId !== ctx.user.id) throw new TRPCError({ code: 'FORBIDDEN' });
        post.title = input.title;
        return post;
      }),
  }),
  feed: caching
    .cachedQuery(t.procedure)
    .meta({ cache: { scope: 'public', tags: ['feed'] } })
    .query(() => [...posts.values()].map((p) => p.title)),
});
export type AppRouter = typeof appRouter;

caching.validateRouter(appRouter); // bad meta.cache / meta.invalidate fails here, at startup
export const createCaller = t.createCallerFactory(appRouter);
