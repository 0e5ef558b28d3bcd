// docs/adapters.md, "The app": one router and one caching instance, which every adapter recipe serves.
import { initTRPC, TRPCError } from '@trpc/server';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { createRedisStore } from 'trpc-caching/redis';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { z } from 'zod';

export interface Context {
  user: { id: string } | null;
}

/** Your session check goes here; the recipes read `Authorization: Bearer <user id>`. */
export function userFrom(authorization: string | null | undefined): Context['user'] {
  const id = /^Bearer (\w+)$/.exec(authorization ?? '')?.[1];
  return id === undefined ? null : { id };
}

// Serverless functions and several instances need Redis: the default in-memory store is per process
// (per Lambda container), so another process would keep serving what a mutation here invalidated.
const store = process.env.REDIS_URL ? createRedisStore({ url: process.env.REDIS_URL }) : undefined;
export const caching = createCaching<Context>({ user: (ctx) => ctx.user?.id, ...(store ? { store } : {}) });

const t = initTRPC.context<Context>().meta<CachingMeta & OpenApiMeta>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (ctx.user === null) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});

// Your database: alice's post 1, shared with bob, and her post 2.
const posts = new Map([
  [1, { id: 1, owner: 'alice', sharedWith: ['bob'], title: 'one' }],
  [2, { id: 2, owner: 'alice', sharedWith: [] as string[], title: 'two' }],
]);
const visible = (id: number, user: string) => {
  const post = posts.get(id);
  if (post === undefined || (post.owner !== user && !post.sharedWith.includes(user))) throw new TRPCError({ code: 'NOT_FOUND' });
  return post;
};
const post = z.object({ id: z.number(), title: z.string() });

export const appRouter = t.router({
  post: t.router({
    byId: caching
      .cachedQuery(authed)
      .meta({ openapi: { method: 'GET', path: '/posts/{id}' }, cache: { tags: ({ input }) => [`post:${input.id}`] } })
      .input(z.object({ id: z.coerce.number() }))
      .output(post)
      .query(({ ctx, input }) => {
        const { id, title } = visible(input.id, ctx.user.id);
        return { id, title };
      }),
    rename: caching
      .invalidatingMutation(authed)
      .meta({ openapi: { method: 'PATCH', path: '/posts/{id}' }, invalidate: { tags: ({ input }) => [`post:${input.id}`] } })
      .input(post)
      .output(post)
      .mutation(({ ctx, input }) => {
        visible(input.id, ctx.user.id).title = input.title;
        return input;
      }),
  }),
  feed: caching
    .cachedQuery(t.procedure)
    .meta({ openapi: { method: 'GET', path: '/feed' }, cache: { scope: 'public', ttl: 60_000, tags: ['feed'] } })
    .input(z.void())
    .output(z.array(z.string()))
    .query(() => [...posts.values()].map((p) => p.title)),
  // Moves that affect the connected user, for invalidationLink({ live }) on the client.
  invalidations: caching.invalidationStream(authed),
});
caching.validateRouter(appRouter);

export type AppRouter = typeof appRouter;
/** Server components and server actions call procedures in-process, through the same caching instance. */
export const createCaller = t.createCallerFactory(appRouter);
