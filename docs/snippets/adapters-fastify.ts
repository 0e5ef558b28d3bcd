// docs/adapters.md, "Fastify 5": tRPC and trpc-to-openapi's REST plugin, with the 304 hook on the instance.
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { type FastifyRequest, fastify } from 'fastify';
import { cacheResponseMeta, fastifyNotModified, withCacheHeaders } from 'trpc-caching/http';
import { fastifyTRPCOpenApiPlugin } from 'trpc-to-openapi';
import { type AppRouter, appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: { req: FastifyRequest }) => ({ user: userFrom(req.headers.authorization) }));
const responseMeta = cacheResponseMeta({ sync: true });

export const app = fastify();
// Before the plugins: the hook turns a 200 whose ETag the request already holds into a 304 without a body.
app.addHook('onRequest', fastifyNotModified);
// Each plugin in its own scope: both replace the JSON body parser.
app.register(fastifyTRPCPlugin<AppRouter>, { prefix: '/trpc', trpcOptions: { router: appRouter, createContext, responseMeta } });
app.register(fastifyTRPCOpenApiPlugin<AppRouter>, { basePath: '/api', router: appRouter, createContext, responseMeta });
// await app.listen({ port: 3000 });
