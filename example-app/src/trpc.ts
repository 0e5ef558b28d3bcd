// The tRPC instance of the example: context, meta type and the auth middleware.
import type { IncomingMessage } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import type { CachingMeta } from 'trpc-caching';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { NotesDb, User } from './db.js';

/** What every procedure sees: the database and the caller (null when the request carries no valid token). */
export interface Context {
  db: NotesDb;
  user: User | null;
}

/**
 * Reads `Authorization: Bearer <token>`. tRPC passes a Node request; trpc-to-openapi's
 * `createOpenApiHttpHandler` passes a fetch `Request` (its types say IncomingMessage), so both are read.
 */
export function bearerToken(req: IncomingMessage | Request): string | undefined {
  const header = req.headers instanceof Headers ? req.headers.get('authorization') : req.headers.authorization;
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match?.[1];
}

/** Makes the context of one request. */
export async function contextFor(db: NotesDb, req: IncomingMessage | Request): Promise<Context> {
  const token = bearerToken(req);
  return { db, user: token === undefined ? null : ((await db.userByToken(token)) ?? null) };
}

// OpenApiMeta lets trpc-to-openapi serve a procedure as REST; CachingMeta adds meta.cache and meta.invalidate.
const t = initTRPC.context<Context>().meta<OpenApiMeta & CachingMeta>().create();

export const router = t.router;

/** No authentication: anonymous callers welcome. */
export const publicProcedure = t.procedure;

/** Requires a valid bearer token. It runs before any cache read, so an unauthenticated call never reaches the cache. */
export const authedProcedure = t.procedure.use(({ ctx, next }) => {
  if (ctx.user === null) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Send Authorization: Bearer <token> (see README)' });
  return next({ ctx: { user: ctx.user } });
});
