import type { IncomingMessage } from 'node:http';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import type { CachingMeta } from 'trpc-caching';
import { cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { createOpenApiHttpHandler, type OpenApiMeta } from 'trpc-to-openapi';
import { afterEach } from 'vitest';
import { z } from 'zod';
import type { StoreKind } from '../stores.js';
import { bearer, type HarnessCtx, harness, type Listening, listen } from './harness.js';
import { Db } from './posts.js';

/** Context of the REST app: a signed-in user record, or null. */
export type RestCtx = HarnessCtx<{ id: string }>;

const postSchema = z.object({ id: z.number(), ownerId: z.string(), title: z.string(), sharedWith: z.array(z.string()) });

/** `Authorization: Bearer <user id>`; the request is a Node message (tRPC) or a fetch Request (trpc-to-openapi standalone). */
export function userOf(req: IncomingMessage | Request | undefined): RestCtx['user'] {
  const id = bearer(req, /\w+/);
  return id === null ? null : { id };
}

/**
 * A router served over tRPC and REST at once: user-scoped queries with and
 * without tags, a public feed, an uncached query, and mutations that
 * invalidate tags, linked users and paths.
 */
export function createRestApp(store: Keyv | undefined) {
  const db = new Db().seed();
  const { t, authed, caching, errors } = harness<RestCtx, OpenApiMeta & CachingMeta>(store, {
    // Client and server share one event loop here, on a machine running other suites: the default 100 ms
    // bound can be overrun (the first Redis call also opens the connection), which would make X-Cache
    // BYPASS. These tests are about headers and invalidation; the time bound has its own tests.
    timeout: 2_000,
  });
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);

  const router = t.router({
    post: t.router({
      list: cachedQuery
        .meta({ openapi: { method: 'GET', path: '/posts' }, cache: { ttl: 60_000 } })
        .input(z.object({ page: z.number().int().min(1).optional() }))
        .output(z.array(postSchema))
        .query(({ ctx }) => {
          db.count('post.list');
          return db.visibleTo(ctx.user.id);
        }),
      byId: cachedQuery
        .meta({
          openapi: { method: 'GET', path: '/posts/{id}' },
          cache: { ttl: 30_000, tags: ({ input }) => [`post:${String(input.id)}`] },
        })
        .input(z.object({ id: z.number() }))
        .output(postSchema)
        .query(({ input, ctx }) => {
          db.count('post.byId');
          const post = db.posts.get(input.id);
          if (!post || !db.visibleTo(ctx.user.id).includes(post)) throw new TRPCError({ code: 'NOT_FOUND' });
          return post;
        }),
      update: invalidatingMutation
        .meta({
          openapi: { method: 'PATCH', path: '/posts/{id}' },
          invalidate: { tags: ({ input }) => [`post:${String(input.id)}`], users: ({ result }) => result.sharedWith as string[] },
        })
        .input(z.object({ id: z.number(), title: z.string().min(1) }))
        .output(postSchema)
        .mutation(({ input, ctx }) => db.rename(ctx.user.id, input.id, input.title)),
      reset: invalidatingMutation
        .meta({ openapi: { method: 'POST', path: '/posts/reset' }, invalidate: { self: false, paths: ['post'] } })
        .input(z.object({}))
        .output(z.object({ ok: z.boolean() }))
        .mutation(() => ({ ok: true })),
    }),
    feed: caching
      .cachedQuery(t.procedure)
      .meta({ openapi: { method: 'GET', path: '/feed' }, cache: { scope: 'public', ttl: 120_000, tags: ['feed'] } })
      .input(z.object({}))
      .output(z.array(z.string()))
      .query(() => {
        db.count('feed');
        return [...db.posts.values()].map((p) => p.title);
      }),
    clock: caching
      .cachedQuery(authed)
      .meta({ openapi: { method: 'GET', path: '/clock' }, cache: { enabled: false } })
      .input(z.object({}))
      .output(z.number())
      .query(() => 42),
    ping: t.procedure
      .meta({ openapi: { method: 'GET', path: '/ping' } })
      .input(z.object({}))
      .output(z.string())
      .query(() => 'pong'),
  });
  caching.validateRouter(router);
  return { router, caching, calls: db.calls, errors, posts: db.posts, t };
}

export type RestRouter = ReturnType<typeof createRestApp>['router'];

/** Serves the app's router on a free loopback port: tRPC at `/trpc`, REST at `/api`, both wrapped for 304. */
export async function serveRestApp(app: ReturnType<typeof createRestApp>): Promise<Listening> {
  const responseMeta = cacheResponseMeta();
  const trpc = withNotModified(
    createHTTPHandler({
      router: app.router,
      basePath: '/trpc/',
      createContext: withCacheHeaders(({ req }: { req: IncomingMessage }): RestCtx => ({ user: userOf(req) })),
      responseMeta,
    }),
  );
  const rest = withNotModified(
    createOpenApiHttpHandler({
      router: app.router,
      createContext: withCacheHeaders(({ req }: { req: IncomingMessage | Request }): RestCtx => ({ user: userOf(req) })),
      responseMeta,
    }),
  );
  return listen((req, res) => {
    if (req.url?.startsWith('/trpc/')) return void trpc(req, res);
    if (req.url?.startsWith('/api/')) {
      req.url = req.url.slice('/api'.length);
      return void rest(req, res);
    }
    res.statusCode = 404;
    res.end();
  });
}

/**
 * For a test file's describe block: `start()` serves a fresh app on the store kind, and the
 * server is closed after each test.
 */
export function restAppStarter(kind: StoreKind): () => Promise<{ app: ReturnType<typeof createRestApp>; url: string }> {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  return async () => {
    const app = createRestApp(await kind.fresh());
    const served = await serveRestApp(app);
    close = served.close;
    return { app, url: served.url };
  };
}
