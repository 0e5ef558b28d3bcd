import { initTRPC, lazy, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { type CachingMeta, createCaching } from '../../src/index.js';
import { refusal } from '../support/rejection.js';

type Ctx = { token: string | null; user?: string };

function app() {
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
  const isAuthed = t.middleware(({ ctx, next }) => {
    if (!ctx.token) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.token } });
  });
  const authed = t.procedure.use(isAuthed);
  const accountRouter = t.router({
    // Wrong: the user is set after the cache picked the (anonymous) entry.
    me: caching
      .cachedQuery(t.procedure)
      .use(isAuthed)
      .query(({ ctx }) => `private data of ${ctx.user}`),
    // Right: the base authenticates first.
    settings: caching.cachedQuery(authed).query(({ ctx }) => `settings of ${ctx.user}`),
  });
  const router = t.router({ account: lazy(async () => accountRouter) });
  caching.validateRouter(router);
  const caller = (token: string | null) => t.createCallerFactory(router)({ token });
  return { caller };
}

describe('procedures of a lazy router, which validateRouter cannot see before they load', () => {
  it("refuses a wrongly built one at its first call instead of serving alice's entry to bob", async () => {
    const { caller } = app();
    const refused = await refusal(caller('alice').account.me());
    expect(refused.code).toBe('INTERNAL_SERVER_ERROR');
    expect(refused.message).toMatch(/after cachedQuery/);
    expect((await refusal(caller('bob').account.me())).message).toMatch(/after cachedQuery/);
  });

  it('serves a correctly built one, per user', async () => {
    const { caller } = app();
    expect(await caller('alice').account.settings()).toBe('settings of alice');
    expect(await caller('bob').account.settings()).toBe('settings of bob');
    expect(await caller('alice').account.settings()).toBe('settings of alice');
  });
});
