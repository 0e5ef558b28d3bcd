import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC, TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { type CachingError, type CachingMeta, type CachingOptions, createCaching } from '../../../src/index.js';

/** Who calls a test app: a bare id, or a user record with one. */
export type TestUser = string | number | { readonly id: string | number };

/** What every test app's context holds: who is calling, null for an anonymous caller. An app may add fields. */
export interface HarnessCtx<TUser extends TestUser = TestUser> {
  user: TUser | null;
}

/** Options of {@link harness}: caching options over the harness defaults, and the app's own auth rule. */
export interface HarnessOptions<TCtx extends HarnessCtx> extends Partial<CachingOptions<TCtx>> {
  /**
   * Runs in the `authed` middleware once a user is known; throws to refuse the call (a revoked session).
   * @default none: every signed-in user passes
   */
  authorize?: (user: NonNullable<TCtx['user']>) => void;
}

/**
 * What the test apps share, so that each app file holds only the router that
 * its tests need: tRPC for the app's context and meta with superjson, an
 * `authed` base that refuses anonymous callers (and whoever `authorize`
 * refuses) before any cache read and narrows `ctx.user` to the signed-in user,
 * and a caching instance that scopes entries by `ctx.user` (its `id` for a user
 * record) and collects every fault in `errors` instead of logging it.
 * `options` are createCaching's, over those defaults.
 *
 * @example
 * ```ts
 * const { t, authed, caching, errors } = harness<HarnessCtx<{ id: string }>>(await kind.fresh(), { timeout: 2_000 });
 * const router = t.router({ me: caching.cachedQuery(authed).query(({ ctx }) => ctx.user.id) });
 * ```
 */
export function harness<TCtx extends HarnessCtx, TMeta extends CachingMeta = CachingMeta>(
  store: Keyv | undefined,
  options: HarnessOptions<TCtx> = {},
) {
  const { authorize, ...cachingOptions } = options;
  const errors: CachingError[] = [];
  // superjson as the transformer, so that the same app serves typed values over HTTP too.
  const t = initTRPC.context<TCtx>().meta<TMeta>().create({ transformer: superjson });
  const authed = t.procedure.use(({ ctx, next }) => {
    // Read into a local: TypeScript narrows a generic property only through one.
    const user: TCtx['user'] = ctx.user;
    if (user === null) throw new TRPCError({ code: 'UNAUTHORIZED' });
    authorize?.(user);
    return next({ ctx: { user } });
  });
  const caching = createCaching<TCtx>({
    user: (ctx) => idOf(ctx.user),
    onError: (error) => errors.push(error),
    ...(store ? { store } : {}),
    ...cachingOptions,
  });
  return { t, authed, caching, errors };
}

function idOf(user: TestUser | null): string | number | null {
  return typeof user === 'object' && user !== null ? user.id : user;
}

/** A server listening on a free loopback port. */
export interface Listening {
  readonly url: string;
  readonly server: Server;
  /** Drops open connections (keep-alive clients would hold the server) and stops listening. */
  close(): Promise<void>;
}

/**
 * Serves a request listener (or starts a server) on a free loopback port.
 *
 * @example
 * ```ts
 * const { url, close } = await listen(createHTTPHandler({ router, createContext }));
 * ```
 */
export async function listen(handler: RequestListener | Server): Promise<Listening> {
  const server = typeof handler === 'function' ? createServer(handler) : handler;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header whose token matches `token`, else null; the request is a
 * Node message (tRPC's standalone adapter) or a fetch Request (fetch adapters, trpc-to-openapi).
 *
 * @example
 * ```ts
 * createContext: ({ req }) => ({ user: bearer(req) })
 * ```
 */
export function bearer(req: IncomingMessage | Request | undefined, token = /.+/): string | null {
  const value =
    req === undefined ? undefined : req.headers instanceof Headers ? req.headers.get('authorization') : req.headers.authorization;
  const match = new RegExp(`^Bearer (${token.source})$`).exec(value ?? '');
  return match?.[1] ?? null;
}
