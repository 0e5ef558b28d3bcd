// Shown in docs/client.md (Client caches); test/client/readme.test.ts checks it is shown.
import { createServer, type IncomingMessage } from 'node:http';
import { QueryClient } from '@tanstack/query-core';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { invalidationLink } from 'trpc-caching/client';
import { cacheResponseMeta, withCacheHeaders } from 'trpc-caching/http';
import { z } from 'zod';

// Server
type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });
const titles = new Map<number, string>([[1, 'Hello']]);

export const appRouter = t.router({
  post: t.router({
    byId: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number() }))
      .query(({ input }) => titles.get(input.id) ?? null),
    rename: caching
      .invalidatingMutation(t.procedure)
      .meta({ invalidate: { tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number(), title: z.string() }))
      .mutation(({ input }) => titles.set(input.id, input.title).size),
  }),
  // The live stream: each connection hears the moves that affect its user (here, after no auth: public moves).
  invalidations: caching.invalidationStream(t.procedure),
});
export type AppRouter = typeof appRouter;

const handler = createHTTPHandler({
  router: appRouter,
  basePath: '/trpc/',
  createContext: withCacheHeaders(({ req }: { req: IncomingMessage }): Ctx => ({ user: userOf(req) })),
  responseMeta: cacheResponseMeta({ sync: true }), // X-Cache-Sync: what each query depends on, what each mutation moved
});
export const server = createServer((req, res) => void handler(req, res));
declare function userOf(req: IncomingMessage): { id: string } | null; // your session lookup

// Client (in the browser)
export const queryClient = new QueryClient();
export const client = createTRPCClient<AppRouter>({
  links: [
    invalidationLink({
      queryClient,
      // Moves made by other users and processes, over SSE; a block body, so that TypeScript can infer `client`.
      live: (handlers) => {
        client.invalidations.subscribe(undefined, handlers);
      },
    }),
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({ url: '/trpc' }),
      false: httpBatchLink({ url: '/trpc' }),
    }),
  ],
});
