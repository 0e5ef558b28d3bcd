import { initTRPC, TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { z } from 'zod';
import { type CachingError, type CachingMeta, type CachingOptions, createCaching } from '../../src/index.js';

export interface TestCtx {
  user: { id: string | number } | null;
}

/** A tiny in-memory database whose reads are counted, so tests see when a resolver ran. */
export class Db {
  posts = new Map<number, { id: number; ownerId: string; title: string; sharedWith: string[] }>();
  calls: Record<string, number> = {};
  count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  seed(): this {
    this.posts.set(1, { id: 1, ownerId: 'alice', title: 'Alice one', sharedWith: ['bob'] });
    this.posts.set(2, { id: 2, ownerId: 'bob', title: 'Bob one', sharedWith: [] });
    return this;
  }
}

/**
 * The app most tests drive: an auth middleware on the base procedure, cached
 * queries in user and public scope with tags, and invalidating mutations with
 * each kind of target.
 */
export function createTestApp(store: Keyv | undefined, options: Partial<CachingOptions<TestCtx>> = {}) {
  const db = new Db().seed();
  const errors: CachingError[] = [];
  const t = initTRPC.context<TestCtx>().meta<CachingMeta>().create({ transformer: superjson });
  const authed = t.procedure.use(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.user } });
  });
  const caching = createCaching<TestCtx>({
    user: (ctx) => ctx.user?.id,
    onError: (error) => errors.push(error),
    ...(store ? { store } : {}),
    ...options,
  });
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const publicQuery = caching.cachedQuery(t.procedure);

  const router = t.router({
    post: t.router({
      list: cachedQuery.input(z.object({ page: z.number().int().min(1) }).optional()).query(({ ctx }) => {
        db.count('post.list');
        return [...db.posts.values()].filter((p) => p.ownerId === String(ctx.user.id) || p.sharedWith.includes(String(ctx.user.id)));
      }),
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(z.object({ id: z.number() }))
        .query(({ input }) => {
          db.count('post.byId');
          const post = db.posts.get(input.id);
          if (!post) throw new TRPCError({ code: 'NOT_FOUND' });
          return { ...post, readAt: new Date(0) };
        }),
      update: invalidatingMutation
        .meta({
          invalidate: {
            tags: ({ input }) => [`post:${String(input.id)}`],
            users: ({ result }) => result.sharedWith as string[],
          },
        })
        .input(z.object({ id: z.number(), title: z.string().min(1) }))
        .mutation(({ input, ctx }) => {
          const post = db.posts.get(input.id);
          if (!post || post.ownerId !== String(ctx.user.id)) throw new TRPCError({ code: 'FORBIDDEN' });
          post.title = input.title;
          return post;
        }),
    }),
    feed: publicQuery.meta({ cache: { scope: 'public', tags: ['feed'] } }).query(() => {
      db.count('feed');
      return [...db.posts.values()].map((p) => p.title);
    }),
  });
  const caller = (user: TestCtx['user']) => t.createCallerFactory(router)({ user });
  return { db, errors, caching, router, caller, t };
}
