import { initTRPC } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CachingMeta, createCaching } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';

type Ctx = { user: string | null };

describe.each(storeKinds())('a mutation whose .output() check fails on $name', (kind) => {
  it('still invalidates what its resolver wrote, since the resolver ran before the check', async () => {
    const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, store: await kind.fresh(), timeout: 2_000, onError: () => {} });
    const db = { title: 'old' };
    const router = t.router({
      title: caching.cachedQuery(t.procedure).query(() => db.title),
      // The resolver writes, then returns something its declared output refuses.
      rename: caching
        .invalidatingMutation(t.procedure)
        .meta({ invalidate: { paths: ['title'] } })
        .input(z.string())
        .output(z.object({ ok: z.literal(true) }))
        .mutation(({ input }) => {
          db.title = input;
          return { ok: false } as unknown as { ok: true };
        }),
    });
    caching.validateRouter(router);
    const alice = t.createCallerFactory(router)({ user: 'alice' });
    const bob = t.createCallerFactory(router)({ user: 'bob' });
    expect(await bob.title()).toBe('old');
    await expect(alice.rename('new')).rejects.toThrow('Output validation failed');
    expect(await bob.title()).toBe('new');
    caching.close();
  });
});
