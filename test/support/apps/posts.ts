import { TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { z } from 'zod';
import type { CachingOptions } from '../../../src/index.js';
import { type HarnessCtx, harness } from './harness.js';

/** Context of the posts app: a signed-in user record, or null. */
export type TestCtx = HarnessCtx<{ id: string | number }>;

/** A post: its owner may rename it; the users it is shared with may read it. */
export interface Post {
  id: number;
  ownerId: string;
  title: string;
  sharedWith: string[];
}

/** A tiny in-memory database whose reads are counted, so tests see when a resolver ran. */
export class Db {
  posts = new Map<number, Post>();
  calls: Record<string, number> = {};
  count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  /** Alice's post 1, shared with Bob, and Bob's post 2. */
  seed(): this {
    this.posts.set(1, { id: 1, ownerId: 'alice', title: 'Alice one', sharedWith: ['bob'] });
    this.posts.set(2, { id: 2, ownerId: 'bob', title: 'Bob one', sharedWith: [] });
    return this;
  }
  /** The posts a user owns or was shared. */
  visibleTo(userId: string): Post[] {
    return [...this.posts.values()].filter((p) => p.ownerId === userId || p.sharedWith.includes(userId));
  }
  /** Renames a post of `userId`; anyone else's post (or none) is FORBIDDEN. */
  rename(userId: string, id: number, title: string): Post {
    const post = this.posts.get(id);
    if (!post || post.ownerId !== userId) throw new TRPCError({ code: 'FORBIDDEN' });
    post.title = title;
    return post;
  }
}

/**
 * The app most tests drive: an auth middleware on the base procedure, cached
 * queries in user and public scope with tags, and invalidating mutations with
 * each kind of target.
 */
export function createTestApp(store: Keyv | undefined, options: Partial<CachingOptions<TestCtx>> = {}) {
  const db = new Db().seed();
  const { t, authed, caching, errors } = harness<TestCtx>(store, options);
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const publicQuery = caching.cachedQuery(t.procedure);

  const router = t.router({
    post: t.router({
      list: cachedQuery.input(z.object({ page: z.number().int().min(1) }).optional()).query(({ ctx }) => {
        db.count('post.list');
        return db.visibleTo(String(ctx.user.id));
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
        .mutation(({ input, ctx }) => db.rename(String(ctx.user.id), input.id, input.title)),
    }),
    feed: publicQuery.meta({ cache: { scope: 'public', tags: ['feed'] } }).query(() => {
      db.count('feed');
      return [...db.posts.values()].map((p) => p.title);
    }),
  });
  const caller = (user: TestCtx['user']) => t.createCallerFactory(router)({ user });
  return { db, errors, caching, router, caller, t };
}
