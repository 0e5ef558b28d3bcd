// docs/adapters.md, "Hono": the fetch adapter under a Hono route, served by @hono/node-server (or any Hono runtime).
import { type FetchCreateContextFnOptions, fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { Hono } from 'hono';
import { cacheResponseMeta, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const trpc = withNotModifiedFetch((req: Request) =>
  fetchRequestHandler({
    endpoint: '/trpc',
    req,
    router: appRouter,
    createContext: withCacheHeaders(({ req }: FetchCreateContextFnOptions) => ({ user: userFrom(req.headers.get('authorization')) })),
    responseMeta: cacheResponseMeta({ sync: true }),
  }),
);

export const app = new Hono();
app.all('/trpc/*', (c) => trpc(c.req.raw));
// import { serve } from '@hono/node-server'; serve({ fetch: app.fetch, port: 3000 });
