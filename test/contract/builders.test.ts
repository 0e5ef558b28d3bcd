import { initTRPC, TRPCError } from '@trpc/server';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createCaching } from '../../src/index.js';
import { createTestApp, type TestCtx } from '../support/apps/posts.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('procedure builders on $name', (kind) => {
  it("runs the base procedure's auth middleware before any cache read, so a rejected caller never touches the store", async () => {
    const keyv = await kind.fresh();
    let reads = 0;
    keyv.hooks.addHandler('preGetMany', () => {
      reads++;
    });
    const app = createTestApp(keyv);
    await app.caller({ id: 'alice' }).post.byId({ id: 1 });
    expect(reads).toBe(1);
    await expect(app.caller(null).post.byId({ id: 1 })).rejects.toThrow(TRPCError);
    await expect(app.caller(null).post.list()).rejects.toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    expect(reads).toBe(1);
    expect(app.db.calls['post.byId']).toBe(1);
  });

  it('keeps the types and behaviour of the base builder: input parsing, output and meta work as on a plain procedure', async () => {
    const app = createTestApp(await kind.fresh());
    const alice = app.caller({ id: 'alice' });
    const post = await alice.post.byId({ id: 1 });
    // Inferred from the resolver through the builder: no cast needed.
    const title: string = post.title;
    const readAt: Date = post.readAt;
    expect(title).toBe('Alice one');
    expect(readAt).toBeInstanceOf(Date);
    await expect(alice.post.byId({ id: 'x' as unknown as number })).rejects.toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});

describe('procedure builder types', () => {
  interface SignedInCtx {
    user: { id: string };
  }
  const t = initTRPC.context<TestCtx>().create();
  const authed = t.procedure.use(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: { id: String(ctx.user.id) } } });
  });

  it("returns the base's own builder but .use(), so a resolver sees the context the base's middlewares set", () => {
    const caching = createCaching<TestCtx>({ user: (ctx) => ctx.user?.id });
    expectTypeOf(caching.cachedQuery(authed).query).toEqualTypeOf<typeof authed.query>();
    expectTypeOf(caching.cachedQuery(authed).input).toEqualTypeOf<typeof authed.input>();
    expectTypeOf(caching.invalidatingMutation(t.procedure).meta).toEqualTypeOf<typeof t.procedure.meta>();
    caching.cachedQuery(authed).query(({ ctx }) => expectTypeOf(ctx.user.id).toEqualTypeOf<string>());
    expectTypeOf(caching.cachedQuery(authed).use).returns.toBeNever();
  });

  it('is a real tRPC builder at run time: .input(), .output(), .meta() return builders that end in a procedure', async () => {
    const caching = createCaching<TestCtx>({ user: (ctx) => ctx.user?.id });
    const byId = caching
      .cachedQuery(authed)
      .meta({ cache: { ttl: 1_000 } })
      .input(z.object({ id: z.number() }))
      .output(z.object({ id: z.number(), by: z.string() }))
      .query(({ input, ctx }) => ({ id: input.id, by: ctx.user.id }));
    expect(byId._def.meta).toEqual({ cache: { ttl: 1_000 } });
    const caller = t.createCallerFactory(t.router({ byId }))({ user: { id: 'alice' } } as TestCtx);
    expect(await caller.byId({ id: 1 })).toEqual({ id: 1, by: 'alice' });
  });

  it('does not compile with a base whose context does not satisfy the Ctx given to createCaching', () => {
    const caching = createCaching<SignedInCtx>({ user: (ctx) => ctx.user.id });
    caching.cachedQuery(authed);
    caching.invalidatingMutation(authed);
    // @ts-expect-error t.procedure's ctx.user may be null, which createCaching<SignedInCtx>'s user does not accept
    caching.cachedQuery(t.procedure);
    // @ts-expect-error the same for invalidatingMutation
    caching.invalidatingMutation(t.procedure);
    const otherApp = initTRPC.context<{ tenant: string }>().create();
    // @ts-expect-error a base of another tRPC app, whose context has no user at all
    createCaching<TestCtx>({ user: (ctx) => ctx.user?.id }).cachedQuery(otherApp.procedure);
    // Without a Ctx, createCaching cannot know one: any base is accepted.
    createCaching({ user: () => 'everyone' }).cachedQuery(otherApp.procedure);
  });
});
