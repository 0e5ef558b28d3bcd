// docs/fast-path.md, "Fastify 5": the fast path in an onRequest hook, on Node's request and response.
import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import { type FastifyRequest, fastify } from 'fastify';
import { cacheResponseMeta, fastifyNotModified, fastPath, withCacheHeaders } from 'trpc-caching/http';
import { type AppRouter, appRouter, userFrom } from './adapters-app.js';

type WithAuthorization = { req: { headers: { authorization?: string | undefined } } };
// Fastify's request and Node's both carry the headers: one createContext serves the plugin and the fast path.
const createContext = withCacheHeaders(({ req }: WithAuthorization | { req: FastifyRequest }) => ({
  user: userFrom(req.headers.authorization),
}));
const responseMeta = cacheResponseMeta({ sync: true });
const fast = fastPath({ router: appRouter, basePath: '/trpc/', createContext, responseMeta });

export const app = fastify();
// First the fast path: when it answered, Fastify is told the response is taken care of.
app.addHook('onRequest', async (request, reply) => {
  if (await fast.answer(request.raw, reply.raw)) reply.hijack();
});
app.addHook('onRequest', fastifyNotModified);
app.register(fastifyTRPCPlugin<AppRouter>, { prefix: '/trpc', trpcOptions: { router: appRouter, createContext, responseMeta } });
// await app.listen({ port: 3000 });
