// The app the client and live tests drive: posts owned by a user and shared with others, a public feed, a
// counter under its own path, a plain (uncached) procedure, and the live stream; served over HTTP with
// `X-Cache-Sync`, counting each call that reaches it by user and path.
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCLink,
} from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { cacheResponseMeta, withCacheHeaders } from 'trpc-caching/http';
import { z } from 'zod';
import { type InvalidationLinkOptions, invalidationLink } from '../../src/client/index.js';
import { TestEventSource } from '../live/event-source.js';
import { bearer, type HarnessCtx, harness, type Listening } from '../support/apps/harness.js';

export interface Post {
  id: number;
  owner: string;
  title: string;
  sharedWith: string[];
}

/** The app's data: alice's post 1 shared with bob, her post 2, bob's post 3, carol's post 4. */
export function seedPosts(): Map<number, Post> {
  return new Map<number, Post>([
    [1, { id: 1, owner: 'alice', title: 'one', sharedWith: ['bob'] }],
    [2, { id: 2, owner: 'alice', title: 'two', sharedWith: [] }],
    [3, { id: 3, owner: 'bob', title: 'three', sharedWith: [] }],
    [4, { id: 4, owner: 'carol', title: 'four', sharedWith: [] }],
  ]);
}

/**
 * Builds the app on a store (default: memory), with its own data or `posts` (a database that several instances,
 * standing for processes, share).
 */
export function clientApp(store?: Keyv, options: { prefix?: string; bufferSize?: number; posts?: Map<number, Post> } = {}) {
  const { t, authed, caching, errors } = harness<HarnessCtx<string>>(store, {
    timeout: 2_000,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
  });
  const posts = options.posts ?? seedPosts();
  let counter = 0;
  const visible = (post: Post, user: string) => post.owner === user || post.sharedWith.includes(user);
  const cachedQuery = caching.cachedQuery(authed);
  const publicQuery = caching.cachedQuery(t.procedure);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const postId = z.object({ id: z.number() });

  const router = t.router({
    post: t.router({
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(postId)
        .query(({ ctx, input }) => {
          const post = posts.get(input.id);
          return post !== undefined && visible(post, ctx.user) ? post.title : null;
        }),
      list: cachedQuery.query(({ ctx }) => [...posts.values()].filter((post) => visible(post, ctx.user)).map((post) => post.title)),
      /** A title change: every participant's scope (users), and the post's tag for everyone; not the caller's other data. */
      rename: invalidatingMutation
        .meta({
          invalidate: {
            self: false,
            users: ({ result }) => [result.owner, ...(Array.isArray(result.sharedWith) ? result.sharedWith : [])],
            tags: ({ input }) => [`post:${String(input.id)}`],
          },
        })
        .input(postId.extend({ title: z.string() }))
        .mutation(({ input }) => {
          const post = posts.get(input.id);
          if (post === undefined) throw new Error('no such post');
          post.title = input.title;
          return post;
        }),
      /** Only a tag: no scope. */
      retitle: invalidatingMutation
        .meta({ invalidate: { self: false, tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(postId.extend({ title: z.string() }))
        .mutation(({ input }) => {
          const post = posts.get(input.id);
          if (post !== undefined) post.title = input.title;
          return input.id;
        }),
      /** The caller's own scope only (the default). */
      touch: invalidatingMutation.mutation(() => 'ok'),
    }),
    counter: t.router({ value: cachedQuery.query(() => counter) }),
    bump: invalidatingMutation.meta({ invalidate: { self: false, paths: ['counter'] } }).mutation(() => ++counter),
    feed: publicQuery.meta({ cache: { scope: 'public', tags: ['feed'] } }).query(() => [...posts.values()].map((post) => post.title)),
    publish: invalidatingMutation.meta({ invalidate: { self: false, tags: ['feed'] } }).mutation(() => 'published'),
    everything: invalidatingMutation.meta({ invalidate: { self: false, all: true } }).mutation(() => 'all'),
    plain: t.procedure.query(() => counter),
    invalidations: caching.invalidationStream(t.procedure, options.bufferSize === undefined ? {} : { bufferSize: options.bufferSize }),
  });
  caching.validateRouter(router);
  return { router, caching, errors, posts };
}

export type ClientRouter = ReturnType<typeof clientApp>['router'];

/** A served app: its URL, the calls that reached it by `user path`, and how to stop it. */
export interface ServedApp {
  readonly url: string;
  /** Calls received, by `user path` (`anon` for anonymous callers); subscriptions are not counted. */
  readonly calls: Map<string, number>;
  /** Calls received of `path` by `user` since the last `resetCalls()`. */
  count(user: string | null, path: string): number;
  resetCalls(): void;
  /** Drops open connections (live streams too) without stopping the server. */
  dropConnections(): void;
  close(): Promise<void>;
}

/** Serves an app's router with tRPC's standalone adapter and the cache headers, `X-Cache-Sync` on; on `port` when given. */
export async function serve(app: ReturnType<typeof clientApp>, port = 0): Promise<ServedApp> {
  const calls = new Map<string, number>();
  const handler = createHTTPHandler({
    router: app.router,
    basePath: '/trpc/',
    createContext: withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: bearer(req) })),
    responseMeta: cacheResponseMeta({ sync: true }),
  });
  const listening = await listenOn(port, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/trpc/') && url.pathname !== '/trpc/invalidations') {
      const user = bearer(req) ?? 'anon';
      for (const path of url.pathname.slice('/trpc/'.length).split(',')) {
        const key = `${user} ${path}`;
        calls.set(key, (calls.get(key) ?? 0) + 1);
      }
    }
    void handler(req, res);
  });
  return {
    url: listening.url,
    calls,
    count: (user, path) => calls.get(`${user ?? 'anon'} ${path}`) ?? 0,
    resetCalls: () => calls.clear(),
    dropConnections: () => listening.server.closeAllConnections(),
    close: listening.close,
  };
}

/** Serves a listener on a loopback port (0: a free one), so that a restarted app can take its predecessor's port. */
async function listenOn(port: number, handler: RequestListener): Promise<Listening> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** How a test client reaches the server for queries and mutations. */
export type Transport = 'httpBatchLink' | 'httpLink' | 'httpBatchStreamLink';

/**
 * A typed client for `user` (null: anonymous) with `invalidationLink` in front; `live: true` subscribes to the
 * app's stream over SSE (with `onConnect` told of each connection attempt and the last event id it sends).
 */
export function clientFor(
  url: string,
  user: string | null,
  link: Omit<InvalidationLinkOptions, 'live'> & {
    live?: boolean;
    transport?: Transport;
    /** Told of each connection attempt of the live stream, with the last event id it sends. */
    onConnect?: (lastEventId: string | undefined) => void;
    /** Told of every value the live stream delivers, before the link reads it. */
    onLive?: (value: unknown) => void;
  },
) {
  const headers: Record<string, string> = user === null ? {} : { authorization: `Bearer ${user}` };
  const options = { url: `${url}/trpc`, transformer: superjson, headers };
  const transport = link.transport ?? 'httpBatchLink';
  const terminal: TRPCLink<ClientRouter> =
    transport === 'httpLink'
      ? httpLink(options)
      : transport === 'httpBatchStreamLink'
        ? httpBatchStreamLink(options)
        : httpBatchLink(options);
  const { live, transport: _transport, onConnect, onLive, ...rest } = link;
  const client = createTRPCClient<ClientRouter>({
    links: [
      invalidationLink({
        ...rest,
        ...(live === true
          ? {
              live: (handlers) => {
                client.invalidations.subscribe(undefined, {
                  ...handlers,
                  onData(value) {
                    onLive?.(value);
                    handlers.onData(value);
                  },
                });
              },
            }
          : {}),
      }),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${url}/trpc`,
          transformer: superjson,
          EventSource: TestEventSource,
          eventSourceOptions: { headers, ...(onConnect === undefined ? {} : { onConnect }) },
        }),
        false: terminal,
      }),
    ],
  });
  return client;
}

/** Waits until `check` holds, polling every 10 ms, up to `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = 'the condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
