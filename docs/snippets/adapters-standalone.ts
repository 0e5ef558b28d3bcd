// docs/adapters.md, "Standalone (node:http)".
import { createServer } from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const trpc = withNotModified(
  createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: withCacheHeaders(({ req }) => ({ user: userFrom(req.headers.authorization) })),
    // sync: X-Cache-Sync, which invalidationLink reads (cross-origin: expose it with Access-Control-Expose-Headers).
    responseMeta: cacheResponseMeta({ sync: true }),
  }),
);

export const server = createServer((req, res) => void trpc(req, res));
// server.listen(3000);
