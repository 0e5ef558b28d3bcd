import { initTRPC, lazy, TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CachingConfigError, type CachingMeta, createCaching } from '../../src/index.js';
import { configRefusal } from '../support/rejection.js';
import { storeKinds } from '../support/stores.js';

interface Ctx {
  user: { id: string } | null;
}

const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const isAuthed = t.middleware(function isAuthed({ ctx, next }) {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});
const authed = t.procedure.use(isAuthed);

function setup(store?: Keyv) {
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, onError: () => {}, ...(store ? { store } : {}) });
  return { caching, cachedQuery: caching.cachedQuery(authed), invalidatingMutation: caching.invalidatingMutation(authed) };
}

/** The CachingConfigError that validateRouter throws for this router. */
function refusal(run: () => void): CachingConfigError {
  return configRefusal(run, 'validateRouter accepted the router');
}

describe('a middleware after the cache is refused where the procedure is built', () => {
  it("refuses cachedQuery(base).use(isAuthed), which served alice's entry to bob, at compile time and when built", () => {
    const { caching } = setup();
    const error = configRefusal(
      // @ts-expect-error .use() after the cache is refused by the builder's type
      () => caching.cachedQuery(t.procedure).use(isAuthed),
      'cachedQuery(base).use() was accepted',
    );
    expect(error.option).toBe('cachedQuery(base).use()');
    expect(error.message).toContain('one user could get another');
    expect(error.message).toContain('cachedQuery(t.procedure.use(...))');
  });

  it('refuses a middleware after invalidatingMutation, and after .input() or .meta() on either builder', () => {
    const { cachedQuery, invalidatingMutation } = setup();
    const attempts: Array<() => unknown> = [
      // @ts-expect-error refused by the type
      () => invalidatingMutation.use(({ next }) => next()),
      () => invalidatingMutation.input(z.object({ id: z.number() })).use(({ next }) => next()),
      () => cachedQuery.meta({ cache: { ttl: 1_000 } }).use(isAuthed),
      // @ts-expect-error concat would add middlewares after the cache too
      () => cachedQuery.concat(t.procedure.use(isAuthed)),
    ];
    for (const attempt of attempts) {
      expect(configRefusal(attempt, 'a middleware after the cache was accepted').message).toContain('after the cache');
    }
  });

  it("refuses a procedure that takes a caching builder through another builder's .concat(), in validateRouter and at every call", async () => {
    const { caching, cachedQuery } = setup();
    // @ts-expect-error a caching builder is not a plain builder to concatenate
    t.procedure.concat(cachedQuery);
    const router = t.router({ me: t.procedure.concat(cachedQuery as unknown as typeof authed).query(() => 'data') });
    const error = refusal(() => caching.validateRouter(router));
    expect(error.option).toBe('procedure "me"');
    expect(error.message).toContain('through .concat()');
    const caller = t.createCallerFactory(router)({ user: { id: 'alice' } });
    await expect(caller.me()).rejects.toThrow(/through \.concat\(\)/);
    await expect(caller.me()).rejects.toThrow(/through \.concat\(\)/);
  });

  it("accepts tRPC's input and output parsers after the cache: they set no context", () => {
    const { caching, cachedQuery, invalidatingMutation } = setup();
    const router = t.router({
      byId: cachedQuery
        .input(z.object({ id: z.number() }))
        .output(z.object({ id: z.number() }))
        .query(({ input }) => input),
      touch: invalidatingMutation
        .input(z.object({ id: z.number() }))
        .output(z.boolean())
        .mutation(() => true),
    });
    expect(() => caching.validateRouter(router)).not.toThrow();
  });

  it('refuses a caching builder as the base of another, when built', () => {
    const { caching, cachedQuery } = setup();
    // @ts-expect-error a caching builder cannot be a base: that would add a middleware after its cache
    expect(configRefusal(() => caching.cachedQuery(cachedQuery), 'cachedQuery(cachedQuery(base)) was accepted').message).toContain(
      'after the cache',
    );
    // @ts-expect-error the same with both builders
    expect(() => caching.invalidatingMutation(cachedQuery)).toThrow(CachingConfigError);
  });
});

describe.each(storeKinds())('the fix validateRouter asks for, on $name', (kind) => {
  it("keeps bob from getting alice's entry once isAuthed moves into the base procedure", async () => {
    const { caching } = setup(await kind.fresh());
    const router = t.router({ me: caching.cachedQuery(authed).query(({ ctx }) => `${ctx.user.id}'s data`) });
    caching.validateRouter(router);
    const call = t.createCallerFactory(router);
    expect(await call({ user: { id: 'alice' } }).me()).toBe("alice's data");
    expect(await call({ user: { id: 'bob' } }).me()).toBe("bob's data");
    expect(await call({ user: { id: 'alice' } }).me()).toBe("alice's data");
  });
});

describe('a builder used for the wrong kind of procedure is refused when built', () => {
  it.each([
    ['a mutation built with cachedQuery', 'cachedQuery', 'mutation', /is a mutation built with cachedQuery.*invalidatingMutation\(base\)/],
    ['a subscription built with cachedQuery', 'cachedQuery', 'subscription', /subscriptions are not cached/],
    [
      'a query built with invalidatingMutation',
      'invalidatingMutation',
      'query',
      /is a query built with invalidatingMutation.*cachedQuery\(base\)/,
    ],
    ['a subscription built with invalidatingMutation', 'invalidatingMutation', 'subscription', /subscriptions are not cached/],
  ] as const)('refuses %s, saying which builder to use', (_label, builder, type, message) => {
    const base = setup()[builder];
    const build = () =>
      type === 'mutation'
        ? base.mutation(() => 1)
        : type === 'query'
          ? base.query(() => 1)
          : base.subscription(async function* () {
              yield 1;
            });
    const error = configRefusal(build, `${builder}(base).${type}() was accepted`);
    expect(error.option).toBe(`${builder}(base)...${type}()`);
    expect(error.message).toMatch(message);
  });
});

describe('validateRouter refuses invalidate.paths that reach no cached query', () => {
  function router(paths: string[]) {
    const { caching, cachedQuery, invalidatingMutation } = setup();
    return {
      caching,
      router: t.router({
        post: t.router({
          list: cachedQuery.query(() => []),
          create: invalidatingMutation.meta({ invalidate: { paths } }).mutation(() => 1),
        }),
        plain: t.router({ hello: t.procedure.query(() => 'hi') }),
        slow: lazy(async () => t.router({ list: cachedQuery.query(() => []) })),
      }),
    };
  }

  it('refuses a misspelt path, saying which one was meant', () => {
    const app = router(['post.lst']);
    const error = refusal(() => app.caching.validateRouter(app.router));
    expect(error.option).toBe('meta.invalidate of "post.create".paths');
    expect(error.message).toContain('"post.lst" names no procedure or router prefix');
    expect(error.message).toContain('did you mean "post.list"?');
  });

  it('refuses a path that names only procedures the cache does not hold', () => {
    for (const paths of [['post.create'], ['plain'], ['plain.hello']]) {
      const app = router(paths);
      expect(refusal(() => app.caching.validateRouter(app.router)).message).toContain('reaches no procedure built with');
    }
  });

  it('accepts a cached procedure, a router prefix of one, and a path into a lazy router it cannot see yet', () => {
    for (const paths of [['post.list'], ['post'], ['slow.list'], ['slow']]) {
      const app = router(paths);
      expect(() => app.caching.validateRouter(app.router)).not.toThrow();
    }
  });
});

describe('validateRouter refuses meta that its procedure would ignore', () => {
  it('refuses meta.invalidate on a cached query and meta.cache on an invalidating mutation', () => {
    const { caching, cachedQuery, invalidatingMutation } = setup();
    const onQuery = t.router({ list: cachedQuery.meta({ invalidate: { all: true } }).query(() => []) });
    const error = refusal(() => caching.validateRouter(onQuery));
    expect(error.option).toBe('meta.invalidate of "list"');
    expect(error.message).toContain('is not built with invalidatingMutation');
    const onMutation = t.router({ touch: invalidatingMutation.meta({ cache: { ttl: 1_000 } }).mutation(() => 1) });
    expect(refusal(() => caching.validateRouter(onMutation)).option).toBe('meta.cache of "touch"');
  });

  it('refuses meta.cache on a procedure built without cachedQuery, but accepts cache: false anywhere', () => {
    const { caching } = setup();
    const plain = t.router({ list: authed.meta({ cache: { scope: 'public' } }).query(() => []) });
    expect(refusal(() => caching.validateRouter(plain)).message).toContain('Build it with caching.cachedQuery(base)');
    const off = t.router({ list: authed.meta({ cache: false, invalidate: false }).query(() => []) });
    expect(() => caching.validateRouter(off)).not.toThrow();
  });

  it("accepts meta on procedures another caching instance built, without judging it by this instance's options", () => {
    const short = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, ttl: 1_000, versionTtl: 10_000 });
    const long = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, ttl: 1_000, versionTtl: 100_000 });
    const router = t.router({
      report: long
        .cachedQuery(authed)
        .meta({ cache: { ttl: 50_000 } })
        .query(() => 1),
      list: short.cachedQuery(authed).query(() => []),
    });
    expect(() => short.validateRouter(router)).not.toThrow();
    expect(() => long.validateRouter(router)).not.toThrow();
    expect([...short.describe(router).keys()]).toEqual(['list']);
  });

  it('refuses static tags that carry a missing value', () => {
    const { caching, cachedQuery } = setup();
    const router = t.router({ byId: cachedQuery.meta({ cache: { tags: [`post:${String(undefined)}`] } }).query(() => 1) });
    const error = refusal(() => caching.validateRouter(router));
    expect(error.option).toBe('meta.cache of "byId".tags');
    expect(error.message).toContain('"post:undefined"');
  });
});

describe('validateRouter on a correct router', () => {
  it('passes, and describe reports each procedure this instance caches or invalidates for', () => {
    const { caching, cachedQuery, invalidatingMutation } = setup();
    const router = t.router({
      post: t.router({
        list: cachedQuery.input(z.object({ page: z.number() }).optional()).query(() => []),
        byId: cachedQuery
          .meta({ cache: { ttl: 60_000, tags: ({ input }) => [`post:${String(input.id)}`] } })
          .input(z.object({ id: z.number() }))
          .query(({ input }) => input.id),
        update: invalidatingMutation
          .meta({ invalidate: { paths: ['post.list'], tags: ({ input }) => [`post:${String(input.id)}`] } })
          .input(z.object({ id: z.number() }))
          .mutation(() => true),
      }),
      health: t.procedure.query(() => 'ok'),
      feed: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { scope: 'public', tags: ['feed'] } })
        .query(() => []),
    });
    expect(() => caching.validateRouter(router)).not.toThrow();
    const described = caching.describe(router);
    expect([...described.keys()].sort()).toEqual(['feed', 'post.byId', 'post.list', 'post.update']);
    expect(described.get('post.update')).toMatchObject({ kind: 'mutation', invalidate: { paths: ['post.list'] } });
  });
});
