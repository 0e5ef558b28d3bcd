// docs/fast-path.md, "Hono": the fetch form first, the fetch adapter when it hands the request on.
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { Hono } from 'hono';
import { cacheResponseMeta, fastPathFetch, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: { req: Request }) => ({ user: userFrom(req.headers.get('authorization')) }));
const responseMeta = cacheResponseMeta({ sync: true });

const trpc = withNotModifiedFetch((req: Request) =>
  fetchRequestHandler({ endpoint: '/trpc', req, router: appRouter, createContext, responseMeta }),
);
const fast = fastPathFetch({ router: appRouter, endpoint: '/trpc', createContext, responseMeta });

export const app = new Hono();
app.all('/trpc/*', async (c) => (await fast(c.req.raw)) ?? trpc(c.req.raw));
// import { serve } from '@hono/node-server'; serve({ fetch: app.fetch, port: 3000 });
