import { initTRPC } from '@trpc/server';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CachingConfigError, type CachingError, type CachingMeta, type CachingOptions, createCaching } from '../../src/index.js';
import { refusal } from '../support/rejection.js';
import { storeKinds } from '../support/stores.js';

interface Ctx {
  user: { id: string } | null;
}

/** Depth of a value nested through `next` fields, measured without recursion. */
function depthOf(value: unknown): number {
  let depth = 0;
  let node = value;
  while (typeof node === 'object' && node !== null && 'next' in node) {
    node = (node as { next: unknown }).next;
    depth++;
  }
  return depth;
}

/** An object nested `depth` levels deep, built without recursion. */
function nested(depth: number): unknown {
  let node: unknown = { leaf: true };
  for (let i = 0; i < depth; i++) node = { next: node };
  return node;
}

function createApp(store: Keyv, options: Partial<CachingOptions<Ctx>> = {}) {
  const errors: CachingError[] = [];
  const runs: Record<string, number> = {};
  const ran = (path: string) => {
    runs[path] = (runs[path] ?? 0) + 1;
  };
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create({ transformer: superjson });
  // A generous store timeout: on a loaded machine a 100 ms bound can expire on a healthy Redis, and faults are not
  // what these tests are about.
  const caching = createCaching<Ctx>({
    user: (ctx) => ctx.user?.id,
    onError: (error) => errors.push(error),
    store,
    timeout: 2_000,
    ...options,
  });
  const cachedQuery = caching.cachedQuery(t.procedure);
  const router = t.router({
    withFunction: cachedQuery.query(() => {
      ran('withFunction');
      return { id: runs.withFunction, format: (n: number) => `#${n}` };
    }),
    withCycle: cachedQuery.query(() => {
      ran('withCycle');
      const node: { name: string; self?: unknown } = { name: 'loop' };
      node.self = node;
      return node;
    }),
    large: cachedQuery.input(z.object({ size: z.number() })).query(({ input }) => {
      ran('large');
      return 'x'.repeat(input.size);
    }),
    length: cachedQuery.input(z.string()).query(({ input }) => {
      ran('length');
      return input.length;
    }),
    short: cachedQuery.input(z.string().max(100)).query(({ input }) => input),
    depth: cachedQuery.input(z.unknown()).query(({ input }) => {
      ran('depth');
      return depthOf(input);
    }),
    fields: cachedQuery.input(z.record(z.string(), z.number())).query(({ input }) => {
      ran('fields');
      return Object.keys(input).length;
    }),
    entries: cachedQuery.input(z.set(z.number())).query(({ input }) => {
      ran('entries');
      return input.size;
    }),
  });
  const caller = t.createCallerFactory(router)({ user: { id: 'alice' } });
  return { caller, errors, runs, caching };
}

describe.each(storeKinds())('bad results and inputs on $name', (kind) => {
  it('returns a result holding a function to the caller, uncached, and reports it', async () => {
    const app = createApp(await kind.fresh());
    const first = await app.caller.withFunction();
    const second = await app.caller.withFunction();
    expect(first.format(1)).toBe('#1');
    expect(second.id).toBe(2);
    expect(app.errors.map((error) => error.operation)).toEqual(['encode', 'encode']);
    expect(app.errors[0]?.key).toMatch(/^trpc-caching:q:withFunction:/);
    expect(app.errors[0]?.message).toMatch(/function/);
  });

  it('caches a result holding a cycle and gives it back with the cycle intact, as README says', async () => {
    const app = createApp(await kind.fresh());
    await app.caller.withCycle();
    const hit = (await app.caller.withCycle()) as { name: string; self: unknown };
    expect(app.runs.withCycle).toBe(1);
    expect(hit.self).toBe(hit);
    expect(app.errors).toEqual([]);
  });

  it('returns a result larger than maxEntryBytes uncached and reports it, while smaller ones are cached', async () => {
    const app = createApp(await kind.fresh(), { maxEntryBytes: 1_000 });
    expect(await app.caller.large({ size: 5_000 })).toHaveLength(5_000);
    expect(await app.caller.large({ size: 5_000 })).toHaveLength(5_000);
    expect(app.runs.large).toBe(2);
    expect(app.errors.map((error) => error.operation)).toEqual(['encode', 'encode']);
    expect(app.errors[0]?.message).toMatch(/maxEntryBytes \(1000\)/);
    await app.caller.large({ size: 10 });
    await app.caller.large({ size: 10 });
    expect(app.runs.large).toBe(3);
  });

  it('answers a 10 MB input from the resolver without keying it', async () => {
    const app = createApp(await kind.fresh());
    const huge = 'y'.repeat(10_000_000);
    expect(await app.caller.length(huge)).toBe(10_000_000);
    expect(await app.caller.length(huge)).toBe(10_000_000);
    expect(app.runs.length).toBe(2);
    expect(app.errors.map((error) => error.operation)).toEqual(['key', 'key']);
    expect(app.errors[0]?.message).toMatch(/maxInputBytes/);
  });

  it("lets a procedure's own validation reject a 10 MB input that bypassed the cache", async () => {
    const app = createApp(await kind.fresh());
    await expect(app.caller.short('z'.repeat(10_000_000))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('answers an input nested 100 000 levels deep from the resolver without keying it', async () => {
    const app = createApp(await kind.fresh());
    const deep = nested(100_000);
    expect(await app.caller.depth(deep)).toBe(100_000);
    expect(await app.caller.depth(nested(5))).toBe(5);
    expect(await app.caller.depth(nested(5))).toBe(5);
    expect(app.runs.depth).toBe(2);
    expect(app.errors.map((error) => error.operation)).toEqual(['key']);
    expect(app.errors[0]?.message).toMatch(/maxInputDepth/);
  });

  it('answers an object input with 200 000 fields from the resolver without keying it', async () => {
    const app = createApp(await kind.fresh());
    const wide: Record<string, number> = {};
    for (let i = 0; i < 200_000; i++) wide[`field${i}`] = i;
    expect(await app.caller.fields(wide)).toBe(200_000);
    expect(app.errors.map((error) => error.operation)).toEqual(['key']);
    expect(app.errors[0]?.message).toMatch(/maxInputBytes/);
  });

  it('answers an input holding a set of 300 000 numbers from the resolver without keying it', async () => {
    const app = createApp(await kind.fresh());
    const many = new Set(Array.from({ length: 300_000 }, (_, i) => i));
    expect(await app.caller.entries(many)).toBe(300_000);
    expect(app.errors.map((error) => error.operation)).toEqual(['key']);
    await app.caller.entries(new Set([3, 1, 2]));
    expect(await app.caller.entries(new Set([1, 2, 3]))).toBe(3);
    expect(app.runs.entries).toBe(2);
  });
});

describe.each(storeKinds())('a user option that returns something other than an id, on $name', (kind) => {
  it.each([
    ['the user object itself', { id: 'alice' }],
    ['NaN', Number.NaN],
    ['an empty string', ''],
  ])('is reported as a configuration error when it returns %s, and queries and mutations still answer uncached', async (_name, id) => {
    const errors: CachingError[] = [];
    const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
    const caching = createCaching<Ctx>({
      user: () => id as string,
      onError: (error) => errors.push(error),
      store: await kind.fresh(),
      timeout: 2_000,
    });
    let runs = 0;
    let saved = 0;
    const router = t.router({
      get: caching.cachedQuery(t.procedure).query(() => {
        runs++;
        return saved;
      }),
      save: caching.invalidatingMutation(t.procedure).mutation(() => ++saved),
    });
    const caller = t.createCallerFactory(router)({ user: { id: 'alice' } });
    expect(await caller.get()).toBe(0);
    expect(await caller.save()).toBe(1);
    expect(await caller.get()).toBe(1);
    expect(runs).toBe(2);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    for (const error of errors) {
      expect(error.operation).toBe('config');
      expect(error.path === 'get' || error.path === 'save').toBe(true);
      expect(error.message).toMatch(/user option must return a non-empty string, a safe integer, null or undefined/);
    }
  });
});

describe('bad meta.cache and meta.invalidate', () => {
  const badCache: Array<[string, unknown]> = [
    ['a negative ttl', { ttl: -5 }],
    ['an unknown scope', { scope: 'team' }],
    ['tags that are not a list', { tags: 'post' }],
    ['a misspelt option', { tlt: 1000 }],
    ['a string instead of an object', 'yes'],
  ];
  const badInvalidate: Array<[string, unknown]> = [
    ['a user id that is null', { users: [null] }],
    ['an empty path', { paths: [''] }],
    ['self that is not a boolean', { self: 'no' }],
    ['tags that are a number', { tags: 5 }],
  ];

  function appWith(meta: { cache?: unknown; invalidate?: unknown }) {
    const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, onError: () => {} });
    let resolverRuns = 0;
    const router = t.router({
      shop: t.router({
        list: caching
          .cachedQuery(t.procedure)
          .meta({ cache: meta.cache } as CachingMeta)
          .query(() => ++resolverRuns),
        buy: caching
          .invalidatingMutation(t.procedure)
          .meta({ invalidate: meta.invalidate } as CachingMeta)
          .mutation(() => ++resolverRuns),
      }),
    });
    const caller = t.createCallerFactory(router)({ user: { id: 'alice' } });
    return { caching, router, caller, resolverRuns: () => resolverRuns };
  }

  it.each(badCache)('rejects meta.cache with %s at validateRouter and at the first call, naming the procedure', async (_name, cache) => {
    const app = appWith({ cache });
    expect(() => app.caching.validateRouter(app.router)).toThrow(CachingConfigError);
    expect(() => app.caching.validateRouter(app.router)).toThrow(/meta\.cache of "shop\.list"/);
    const error = await refusal(app.caller.shop.list());
    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    expect(error.cause).toBeInstanceOf(CachingConfigError);
    expect(error.message).toMatch(/meta\.cache of "shop\.list"/);
    expect(app.resolverRuns()).toBe(0);
  });

  it.each(badInvalidate)(
    'rejects meta.invalidate with %s at validateRouter and before the first mutation runs, naming the procedure',
    async (_name, invalidate) => {
      const app = appWith({ invalidate });
      expect(() => app.caching.validateRouter(app.router)).toThrow(CachingConfigError);
      expect(() => app.caching.validateRouter(app.router)).toThrow(/meta\.invalidate of "shop\.buy"/);
      const error = await refusal(app.caller.shop.buy());
      expect(error.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error.cause).toBeInstanceOf(CachingConfigError);
      expect(error.message).toMatch(/meta\.invalidate of "shop\.buy"/);
      // The misconfigured mutation changed nothing.
      expect(app.resolverRuns()).toBe(0);
    },
  );
});
