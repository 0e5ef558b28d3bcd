// docs/fast-path.md, "Standalone (node:http)": the fast path in front of tRPC's standalone handler.
import { createServer } from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { cacheResponseMeta, fastPath, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

// One createContext and one responseMeta for both: the fast path sends what the handler would send.
const createContext = withCacheHeaders(({ req }: { req: { headers: { authorization?: string | undefined } } }) => ({
  user: userFrom(req.headers.authorization),
}));
const responseMeta = cacheResponseMeta({ sync: true });

const trpc = withNotModified(createHTTPHandler({ router: appRouter, basePath: '/trpc/', createContext, responseMeta }));
const fast = fastPath({ router: appRouter, basePath: '/trpc/', createContext, responseMeta });

export const server = createServer((req, res) => fast(req, res, () => void trpc(req, res)));
// server.listen(3000);
