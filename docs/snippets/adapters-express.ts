// docs/adapters.md, "Express 5": tRPC and trpc-to-openapi's REST routes on one app, with the same context.
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import express from 'express';
import { cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { createOpenApiExpressMiddleware } from 'trpc-to-openapi';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: { req: express.Request }) => ({ user: userFrom(req.headers.authorization) }));
const responseMeta = cacheResponseMeta({ sync: true });

export const app = express();
app.use('/trpc', withNotModified(createExpressMiddleware({ router: appRouter, createContext, responseMeta })));
app.use('/api', withNotModified(createOpenApiExpressMiddleware({ router: appRouter, createContext, responseMeta })));
// app.listen(3000);
