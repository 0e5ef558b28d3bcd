import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { createOpenApiHttpHandler, type OpenApiMeta } from 'trpc-to-openapi';
import { afterEach } from 'vitest';
import { z } from 'zod';
import { type CachingError, type CachingMeta, cacheResponseMeta, createCaching, withCacheLog, withNotModified } from '../../src/index.js';
import type { StoreKind } from '../support/stores.js';

export interface RestCtx {
  user: { id: string } | null;
}

interface Post {
  id: number;
  ownerId: string;
  title: string;
  sharedWith: string[];
}

const postSchema = z.object({ id: z.number(), ownerId: z.string(), title: z.string(), sharedWith: z.array(z.string()) });

/** `Authorization: Bearer <user id>`; the request is a Node message (tRPC) or a fetch Request (trpc-to-openapi standalone). */
export function userOf(req: IncomingMessage | Request | undefined): RestCtx['user'] {
  const value =
    req === undefined ? undefined : req.headers instanceof Headers ? req.headers.get('authorization') : req.headers.authorization;
  const match = /^Bearer (\w+)$/.exec(value ?? '');
  return match?.[1] ? { id: match[1] } : null;
}

/**
 * A router served over tRPC and REST at once: user-scoped queries with and
 * without tags, a public feed, an uncached query, and mutations that
 * invalidate tags, linked users and paths.
 */
export function createRestApp(store: Keyv | undefined) {
  const posts = new Map<number, Post>([
    [1, { id: 1, ownerId: 'alice', title: 'Alice one', sharedWith: ['bob'] }],
    [2, { id: 2, ownerId: 'bob', title: 'Bob one', sharedWith: [] }],
  ]);
  const calls: Record<string, number> = {};
  const count = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const errors: CachingError[] = [];
  const t = initTRPC.context<RestCtx>().meta<OpenApiMeta & CachingMeta>().create({ transformer: superjson });
  const authed = t.procedure.use(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.user } });
  });
  const caching = createCaching<RestCtx>({
    user: (ctx) => ctx.user?.id,
    onError: (error) => errors.push(error),
    // Client and server share one event loop here, on a machine running other suites: the default 100 ms
    // bound can be overrun (the first Redis call also opens the connection), which would make X-Cache
    // BYPASS. These tests are about headers and invalidation; the time bound has its own tests.
    timeout: 2_000,
    ...(store ? { store } : {}),
  });
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const visible = (userId: string) => [...posts.values()].filter((p) => p.ownerId === userId || p.sharedWith.includes(userId));

  const router = t.router({
    post: t.router({
      list: cachedQuery
        .meta({ openapi: { method: 'GET', path: '/posts' }, cache: { ttl: 60_000 } })
        .input(z.object({ page: z.number().int().min(1).optional() }))
        .output(z.array(postSchema))
        .query(({ ctx }) => {
          count('post.list');
          return visible(ctx.user.id);
        }),
      byId: cachedQuery
        .meta({
          openapi: { method: 'GET', path: '/posts/{id}' },
          cache: { ttl: 30_000, tags: ({ input }) => [`post:${String(input.id)}`] },
        })
        .input(z.object({ id: z.number() }))
        .output(postSchema)
        .query(({ input, ctx }) => {
          count('post.byId');
          const post = posts.get(input.id);
          if (!post || !visible(ctx.user.id).includes(post)) throw new TRPCError({ code: 'NOT_FOUND' });
          return post;
        }),
      update: invalidatingMutation
        .meta({
          openapi: { method: 'PATCH', path: '/posts/{id}' },
          invalidate: { tags: ({ input }) => [`post:${String(input.id)}`], users: ({ result }) => result.sharedWith as string[] },
        })
        .input(z.object({ id: z.number(), title: z.string().min(1) }))
        .output(postSchema)
        .mutation(({ input, ctx }) => {
          const post = posts.get(input.id);
          if (!post || post.ownerId !== ctx.user.id) throw new TRPCError({ code: 'FORBIDDEN' });
          post.title = input.title;
          return post;
        }),
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
        count('feed');
        return [...posts.values()].map((p) => p.title);
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
  return { router, caching, calls, errors, posts, t };
}

export type RestRouter = ReturnType<typeof createRestApp>['router'];

/** Serves the app's router on a free loopback port: tRPC at `/trpc`, REST at `/api`, both wrapped for 304. */
export async function serveRestApp(
  app: ReturnType<typeof createRestApp>,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const responseMeta = cacheResponseMeta();
  const trpc = withNotModified(
    createHTTPHandler({
      router: app.router,
      basePath: '/trpc/',
      createContext: withCacheLog(({ req }: { req: IncomingMessage }): RestCtx => ({ user: userOf(req) })),
      responseMeta,
    }),
  );
  const rest = withNotModified(
    createOpenApiHttpHandler({
      router: app.router,
      createContext: withCacheLog(({ req }: { req: IncomingMessage | Request }): RestCtx => ({ user: userOf(req) })),
      responseMeta,
    }),
  );
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/trpc/')) return void trpc(req, res);
    if (req.url?.startsWith('/api/')) {
      req.url = req.url.slice('/api'.length);
      return void rest(req, res);
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
