import { initTRPC, lazy, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { CachingConfigError, type CachingMeta, createCaching } from '../../src/index.js';

type Ctx = { token: string | null; user?: string };

function app() {
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
  const isAuthed = t.middleware(({ ctx, next }) => {
    if (!ctx.token) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.token } });
  });
  const authed = t.procedure.use(isAuthed);
  const router = t.router({
    // Right: the base authenticates first.
    account: lazy(async () => t.router({ settings: caching.cachedQuery(authed).query(({ ctx }) => `settings of ${ctx.user}`) })),
    // Wrong: the user would be set after the cache picked the (anonymous) entry. Built when the router loads.
    profile: lazy(async () => {
      // Written as a new user would, past the compile error (what a JavaScript user or a cast gets).
      const cachedQuery = caching.cachedQuery(t.procedure) as unknown as typeof t.procedure;
      return t.router({ me: cachedQuery.use(isAuthed).query(({ ctx }) => `private data of ${ctx.user}`) });
    }),
  });
  caching.validateRouter(router);
  const caller = (token: string | null) => t.createCallerFactory(router)({ token });
  return { caller };
}

describe('procedures of a lazy router, which validateRouter cannot see before they load', () => {
  it("refuses a wrongly built one when it loads, at its first call and every call, instead of serving alice's entry to bob", async () => {
    const { caller } = app();
    // The router fails to load; a caller sees the builder's own error (an HTTP adapter sends it as a 500).
    await expect(caller('alice').profile.me()).rejects.toThrow(CachingConfigError);
    await expect(caller('alice').profile.me()).rejects.toThrow(/cachedQuery\(base\)\.use\(\): would add a middleware after the cache/);
    await expect(caller('bob').profile.me()).rejects.toThrow(/after the cache/);
  });

  it('serves a correctly built one, per user', async () => {
    const { caller } = app();
    expect(await caller('alice').account.settings()).toBe('settings of alice');
    expect(await caller('bob').account.settings()).toBe('settings of bob');
    expect(await caller('alice').account.settings()).toBe('settings of alice');
  });
});
