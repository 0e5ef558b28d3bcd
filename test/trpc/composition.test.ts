import { type AnyRouter, initTRPC, lazy, TRPCError } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { describe, expect, it } from 'vitest';
import { CachingConfigError, type CachingMeta, createCaching } from '../../src/index.js';

// How the cache meets router composition: a middleware after the cache must be impossible to ship, whichever way the
// router holding it is served, and with or without validateRouter.

type Ctx = { token: string | null; user?: string };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const isAuthed = t.middleware(function isAuthed({ ctx, next }) {
  if (!ctx.token) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.token } });
});
const authed = t.procedure.use(isAuthed);

type Build = 'right' | 'use after the cache' | 'concat of a caching builder';
const COMPOSITIONS = [
  'plain',
  'mergeRouters',
  'nested t.router({ api: root })',
  'lazy()',
  'lazy() in mergeRouters',
  'lazy() nested',
  "a sub-router's createCaller",
] as const;
type Composition = (typeof COMPOSITIONS)[number];

/**
 * An app whose `account.me` is built as `build` says, served as `composition` says. Returns how to call `me` as a
 * user, or the error that building the app threw.
 */
function serve(composition: Composition, build: Build, validate: boolean) {
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
  let resolved = 0;
  const account = () => {
    const resolve = ({ ctx }: { ctx: { user?: string } }) => {
      resolved++;
      return `private data of ${ctx.user}`;
    };
    const me =
      build === 'right'
        ? caching.cachedQuery(authed).query(resolve)
        : build === 'use after the cache'
          ? // @ts-expect-error refused by the type: a new user's mistake, written anyway
            caching.cachedQuery(t.procedure).use(isAuthed).query(resolve)
          : t.procedure
              .concat(caching.cachedQuery(t.procedure) as unknown as typeof t.procedure)
              .use(isAuthed)
              .query(resolve);
    return t.router({ me });
  };
  const isLazy = composition.startsWith('lazy');
  let call: (token: string) => Promise<unknown>;
  try {
    const sub = isLazy ? undefined : account();
    const root = t.router({ account: sub ?? lazy(async () => account()) });
    if (validate) caching.validateRouter(root);
    const served: AnyRouter =
      composition === 'mergeRouters' || composition === 'lazy() in mergeRouters'
        ? t.mergeRouters(root)
        : composition.includes('nested')
          ? t.router({ api: root })
          : root;
    const factory = t.createCallerFactory;
    call = (token) => {
      if (composition === "a sub-router's createCaller") return factory(sub as ReturnType<typeof account>)({ token }).me();
      const path = composition.includes('nested') ? ['api', 'account', 'me'] : ['account', 'me'];
      // The served router's type depends on the composition: walk the caller's proxy by name.
      const me = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], factory(served)({ token }));
      return (me as () => Promise<unknown>)();
    };
  } catch (error) {
    return { built: false as const, error, resolved: () => resolved };
  }
  return { built: true as const, call, resolved: () => resolved };
}

/** What bob got after alice's call filled the cache, or the error he got. */
async function bobAfterAlice(app: ReturnType<typeof serve>): Promise<{ alice: unknown; bob: unknown }> {
  if (!app.built) return { alice: app.error, bob: app.error };
  const settle = (token: string) =>
    app.call(token).then(
      (data) => data,
      (error: unknown) => error,
    );
  const alice = await settle('alice');
  const bob = await settle('bob');
  return { alice, bob };
}

describe.each(COMPOSITIONS)('a cachedQuery served as %s', (composition) => {
  describe.each([false, true])('with validateRouter: %s', (validate) => {
    it('serves each user their own data, and serves it from the cache the second time (the control)', async () => {
      const app = serve(composition, 'right', validate);
      expect(await bobAfterAlice(app)).toEqual({ alice: 'private data of alice', bob: 'private data of bob' });
      if (app.built) expect(await app.call('alice')).toBe('private data of alice');
      expect(app.resolved()).toBe(2);
    });

    it("refuses a middleware after the cache with a clear error, and bob never gets alice's data", async () => {
      const app = serve(composition, 'use after the cache', validate);
      const { alice, bob } = await bobAfterAlice(app);
      expect(bob).not.toBe('private data of alice');
      for (const outcome of [alice, bob]) {
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toContain('cachedQuery(base).use(): would add a middleware after the cache');
      }
      // Refused before any resolver ran: nothing of alice's was ever computed, let alone cached.
      expect(app.resolved()).toBe(0);
      // Lazy routers build their procedures on the first call, so that is where the error surfaces.
      if (!composition.startsWith('lazy')) expect(app.built ? undefined : app.error).toBeInstanceOf(CachingConfigError);
    });

    it("refuses a caching builder taken through another builder's .concat(), at every call, and bob never gets alice's data", async () => {
      const app = serve(composition, 'concat of a caching builder', validate);
      const { alice, bob } = await bobAfterAlice(app);
      expect(bob).not.toBe('private data of alice');
      for (const outcome of [alice, bob]) {
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(/through \.concat\(\)|runs middleware "isAuthed" after cachedQuery/);
      }
      expect(app.resolved()).toBe(0);
    });
  });
});

describe('over HTTP (the fetch adapter), a lazy router nested in the served router', () => {
  function httpApp(build: 'right' | 'use after the cache') {
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
    // Built when the lazy router loads, at the first request: where a mistake in a lazy module surfaces.
    const account = () => {
      const me =
        build === 'right' ? caching.cachedQuery(authed) : (caching.cachedQuery(t.procedure) as unknown as typeof t.procedure).use(isAuthed);
      return t.router({ me: me.query(({ ctx }) => `private data of ${ctx.user}`) });
    };
    const root = t.router({ account: lazy(async () => account()) });
    caching.validateRouter(root);
    const served = t.router({ api: root });
    return async (token: string) => {
      const response = await fetchRequestHandler({
        endpoint: '/trpc',
        req: new Request('http://localhost/trpc/api.account.me'),
        router: served,
        createContext: () => ({ token }),
        onError: () => {},
      });
      return { status: response.status, body: JSON.stringify(await response.json()) };
    };
  }

  it('answers each user with their own data when built right (the control)', async () => {
    const call = httpApp('right');
    expect((await call('alice')).body).toContain('private data of alice');
    expect((await call('bob')).body).toContain('private data of bob');
  });

  it("answers a middleware after the cache with a 500 naming the mistake, to alice and to bob, never with alice's data", async () => {
    const call = httpApp('use after the cache');
    for (const token of ['alice', 'bob', 'alice']) {
      const { status, body } = await call(token);
      expect(status).toBe(500);
      expect(body).toContain('would add a middleware after the cache');
      expect(body).not.toContain('private data');
    }
  });
});

describe('invalidate.paths as the router is served', () => {
  function app(paths: string[]) {
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
    const titles = new Map([[1, 'one']]);
    const post = t.router({
      list: caching.cachedQuery(authed).query(() => [...titles.values()]),
      rename: caching
        .invalidatingMutation(authed)
        .meta({ invalidate: { self: false, paths } })
        .mutation(() => {
          titles.set(1, 'renamed');
          return true;
        }),
    });
    const root = t.router({ post: lazy(async () => post) });
    return { caching, root, titles };
  }

  it('refuses, at the first call, paths that name the router validateRouter saw but not the router that is served', async () => {
    const { caching, root } = app(['post.list']);
    caching.validateRouter(root);
    const caller = t.createCallerFactory(t.router({ api: root }))({ token: 'alice' });
    expect(await caller.api.post.list()).toEqual(['one']);
    const refused = caller.api.post.rename();
    await expect(refused).rejects.toThrow('"post.list" names no procedure or router prefix');
    await expect(caller.api.post.rename()).rejects.toThrow('did you mean "api.post.list"');
  });

  it('refuses, at the first call, a misspelt path in a lazy router that validateRouter could not load, suggesting the real one', async () => {
    const { caching, root, titles } = app(['post.lst']);
    caching.validateRouter(root);
    const caller = t.createCallerFactory(t.mergeRouters(root))({ token: 'alice' });
    expect(await caller.post.list()).toEqual(['one']);
    await expect(caller.post.rename()).rejects.toThrow('did you mean "post.list"?');
    // Refused before the resolver ran: nothing changed that the cache would keep serving.
    expect(titles.get(1)).toBe('one');
  });
});
