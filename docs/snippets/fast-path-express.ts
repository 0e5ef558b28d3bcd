// docs/fast-path.md, "Express 5": the fast path as a middleware before tRPC's; REST routes go straight to trpc-to-openapi.
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { cacheResponseMeta, fastPath, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { createOpenApiExpressMiddleware } from 'trpc-to-openapi';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: { req: express.Request }) => ({ user: userFrom(req.headers.authorization) }));
const responseMeta = cacheResponseMeta({ sync: true });

export const app = express();
// Under app.use('/trpc', ...) Express has cut the mount path: the fast path's basePath is '/'.
app.use(
  '/trpc',
  fastPath({ router: appRouter, createContext, responseMeta }),
  withNotModified(createExpressMiddleware({ router: appRouter, createContext, responseMeta })),
);
app.use('/api', withNotModified(createOpenApiExpressMiddleware({ router: appRouter, createContext, responseMeta })));
// app.listen(3000);
