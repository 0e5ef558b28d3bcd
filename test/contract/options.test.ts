import { initTRPC } from '@trpc/server';
import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { CachingConfigError, type CachingMeta, type CachingOptions, createCaching, createMemoryStore } from '../../src/index.js';
import { configRefusal } from '../support/rejection.js';
import { storeKinds } from '../support/stores.js';

interface Ctx {
  user: string | null;
}

/** The CachingConfigError that creating a caching instance with these options throws. */
function configError(store: Keyv, options: Partial<CachingOptions<Ctx>> | Record<string, unknown>): CachingConfigError {
  return configRefusal(
    () => createCaching<Ctx>({ store, user: (ctx) => ctx.user, ...options } as CachingOptions<Ctx>),
    `createCaching accepted ${JSON.stringify(options)}`,
  );
}

const BAD_DURATIONS: Array<[string, unknown]> = [
  ['negative', -1],
  ['zero', 0],
  ['NaN', Number.NaN],
  ['infinite', Number.POSITIVE_INFINITY],
  ['numeric string', '60000'],
  ['null', null],
  ['object', { minutes: 5 }],
];

describe.each(storeKinds())('createCaching options on $name', (kind) => {
  // Validation writes nothing, so one store per kind serves every case (a fresh Redis store costs a FLUSHALL and a connection).
  let shared: Keyv | undefined;
  const store = async (): Promise<Keyv> => {
    shared ??= await kind.fresh();
    return shared;
  };
  it.each(BAD_DURATIONS)('rejects a %s ttl with an error naming ttl', async (_label, value) => {
    const error = configError(await store(), { ttl: value });
    expect(error.option).toBe('ttl');
    expect(error.message).toContain('ttl');
  });

  it.each(BAD_DURATIONS)('rejects a %s versionTtl with an error naming versionTtl', async (_label, value) => {
    expect(configError(await store(), { versionTtl: value }).option).toBe('versionTtl');
  });

  it('rejects a versionTtl shorter than ttl, since a version must outlive its entries', async () => {
    const error = configError(await store(), { ttl: 60_000, versionTtl: 59_999 });
    expect(error.option).toBe('versionTtl');
    expect(error.message).toMatch(/at least ttl/);
  });

  it('rejects a versionTtl shorter than the default ttl', async () => {
    expect(configError(await store(), { versionTtl: 1_000 }).option).toBe('versionTtl');
  });

  it('accepts a versionTtl equal to ttl', async () => {
    const keyv = await store();
    expect(() => createCaching<Ctx>({ store: keyv, user: (ctx) => ctx.user, ttl: 5_000, versionTtl: 5_000 })).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['containing ":"', 'app:v2'],
    ['containing white space', 'my app'],
    ['non-string', 42],
    ['null', null],
  ])('rejects a prefix %s with an error naming prefix', async (_label, prefix) => {
    expect(configError(await store(), { prefix }).option).toBe('prefix');
  });

  it.each([
    ['timeout', -5],
    ['breakerThreshold', 0],
    ['breakerCooldown', Number.NaN],
    ['maxEntryBytes', 1.5],
    ['maxInputBytes', -1],
    ['maxInputDepth', 0],
    ['retryDelay', 'soon'],
    ['onError', 'log'],
    ['user', undefined],
  ])('rejects a bad %s with an error naming it', async (option, value) => {
    expect(configError(await store(), { [option]: value }).option).toBe(option);
  });

  it('rejects a store that is not a Keyv', async () => {
    expect(configError(await store(), { store: new Map() as unknown as Keyv }).option).toBe('store');
  });

  it('rejects a meta.cache.ttl longer than versionTtl when the router is validated at startup, naming the procedure', async () => {
    const keyv = await store();
    const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
    const caching = createCaching<Ctx>({ store: keyv, user: (ctx) => ctx.user, ttl: 1_000, versionTtl: 10_000 });
    const router = t.router({
      fine: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { ttl: 10_000 } })
        .query(() => 1),
      tooLong: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { ttl: 10_001 } })
        .query(() => 1),
    });
    let thrown: unknown;
    try {
      caching.validateRouter(router);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CachingConfigError);
    expect((thrown as CachingConfigError).option).toBe('meta.cache of "tooLong".ttl');
    expect((thrown as CachingConfigError).message).toContain('versionTtl');
  });

  it.each([
    ['a negative ttl', { ttl: -1 }, 'meta.cache of "q".ttl'],
    ['a NaN ttl', { ttl: Number.NaN }, 'meta.cache of "q".ttl'],
    ['an unknown scope', { scope: 'team' }, 'meta.cache of "q".scope'],
    ['an unknown option', { tll: 5 }, 'meta.cache of "q".tll'],
    ['a tag that is not a string', { tags: ['post', 1] }, 'meta.cache of "q".tags'],
    ['a tag holding a missing value', { tags: ['post:undefined'] }, 'meta.cache of "q".tags'],
  ])('rejects %s in meta.cache at startup, naming it', async (_label, cache, option) => {
    const keyv = await store();
    const t = initTRPC.context<Ctx>().meta<{ cache?: unknown }>().create();
    const caching = createCaching<Ctx>({ store: keyv, user: (ctx) => ctx.user });
    const router = t.router({
      q: caching
        .cachedQuery(t.procedure)
        .meta({ cache })
        .query(() => 1),
    });
    expect(() => caching.validateRouter(router)).toThrow(expect.objectContaining({ option }));
  });

  it('fails the first call of a misconfigured procedure, naming the option, when the router was not validated', async () => {
    const keyv = await store();
    const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
    const caching = createCaching<Ctx>({ store: keyv, user: (ctx) => ctx.user, ttl: 1_000, versionTtl: 10_000 });
    let ran = 0;
    const router = t.router({
      tooLong: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { ttl: 20_000 } })
        .query(() => ++ran),
    });
    await expect(t.createCallerFactory(router)({ user: 'alice' }).tooLong()).rejects.toThrow(/meta\.cache of "tooLong"\.ttl/);
    expect(ran).toBe(0);
  });
});

describe('createMemoryStore options', () => {
  it.each([
    ['maxEntries', 0],
    ['maxEntries', 2.5],
    ['maxVersions', -1],
    ['maxVersions', Number.NaN],
  ])('rejects a bad %s (%s) with a CachingConfigError naming it', (option, value) => {
    let caught: unknown;
    try {
      createMemoryStore({ [option]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CachingConfigError);
    expect((caught as CachingConfigError).option).toBe(option);
  });

  it('rejects maxEntries given to createCaching as null, rather than taking the default', () => {
    expect(() => createCaching({ user: () => null, maxEntries: null as unknown as number })).toThrow(CachingConfigError);
  });
});
