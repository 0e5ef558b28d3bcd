import type { IncomingMessage, ServerResponse } from 'node:http';
import { withNotModified } from './node.js';

/** The part of a Fastify request the hook reads: the Node request underneath. */
interface FastifyRequestLike {
  readonly raw: IncomingMessage;
}

/** The part of a Fastify reply the hook reads: the Node response underneath. */
interface FastifyReplyLike {
  readonly raw: ServerResponse;
}

// One wrapped pass-through for every request: the hook only arms the 304 rewrite of the Node response.
const armNotModified = withNotModified((_req: IncomingMessage, _res: ServerResponse, done: () => void) => done());

/**
 * A Fastify `onRequest` hook that answers a GET with `304 Not Modified` (no body) when its 200 would carry an
 * `ETag` matching the request's `If-None-Match` (weak comparison, lists and `*`): `withNotModified`'s rule, applied
 * to the Node response under Fastify's reply. Works for tRPC's `fastifyTRPCPlugin` and trpc-to-openapi's
 * `fastifyTRPCOpenApiPlugin` alike; add it on the instance (or the encapsulating plugin) that registers them.
 * The procedure still runs (a hit is cheap); the body is what is saved. Fastify is not imported: the hook needs
 * only `request.raw` and `reply.raw`.
 *
 * @param request - Fastify's request; only `raw` is read.
 * @param reply - Fastify's reply; only `raw` is wrapped.
 * @param done - Fastify's callback, called at once.
 * @example
 * ```ts
 * const app = Fastify();
 * app.addHook('onRequest', fastifyNotModified);
 * await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions: { router, createContext, responseMeta } });
 * ```
 */
export function fastifyNotModified(request: FastifyRequestLike, reply: FastifyReplyLike, done: () => void): void {
  armNotModified(request.raw, reply.raw, done);
}
