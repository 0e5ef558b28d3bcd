import { initTRPC } from '@trpc/server';
import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CachingError, type CachingMeta, createCaching } from '../../src/index.js';
import { checkTags } from '../../src/trpc/meta.js';
import { storeKinds } from '../support/stores.js';

interface Ctx {
  user: string | null;
}

/**
 * Post titles behind a public cached query tagged `post:<id>`, and mutations whose tag callbacks read
 * `input.id` although their input is a number: `post:${String(input.id)}` is `post:undefined` there.
 */
function createApp(store: Keyv) {
  const errors: CachingError[] = [];
  const titles = new Map([[1, 'first']]);
  const runs = { byId: 0, byNumber: 0 };
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, store, onError: (error) => errors.push(error) });
  const cachedQuery = caching.cachedQuery(t.procedure);
  const invalidatingMutation = caching.invalidatingMutation(t.procedure);
  const postTag = ({ input }: { input: Readonly<Record<string, unknown>> }) => [`post:${String(input.id)}`];
  const router = t.router({
    byId: cachedQuery
      .meta({ cache: { scope: 'public', tags: postTag } })
      .input(z.object({ id: z.number() }))
      .query(({ input }) => {
        runs.byId++;
        return titles.get(input.id);
      }),
    byNumber: cachedQuery
      .meta({ cache: { scope: 'public', tags: postTag } })
      .input(z.number())
      .query(({ input }) => {
        runs.byNumber++;
        return titles.get(input);
      }),
    rename: invalidatingMutation
      .meta({ invalidate: { self: false, tags: postTag } })
      .input(z.number())
      .mutation(({ input }) => {
        titles.set(input, `${titles.get(input)}, renamed`);
        return true;
      }),
    retitle: invalidatingMutation
      .meta({ invalidate: { self: false, tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number(), title: z.string() }))
      .mutation(({ input }) => {
        titles.set(input.id, input.title);
        return true;
      }),
  });
  caching.validateRouter(router);
  return { caller: t.createCallerFactory(router), errors, runs };
}

describe.each(storeKinds())('tag callbacks that read a missing value, on $name', (kind) => {
  it('invalidates everything rather than post:undefined, so the next read of the post shows the new title', async () => {
    const app = createApp(await kind.fresh());
    const alice = app.caller({ user: 'alice' });
    expect(await alice.byId({ id: 1 })).toBe('first');
    expect(await alice.byId({ id: 1 })).toBe('first');
    expect(app.runs.byId).toBe(1);

    await alice.rename(1);
    expect(await app.caller({ user: 'bob' }).byId({ id: 1 })).toBe('first, renamed');
    expect(app.errors).toHaveLength(1);
    expect(app.errors[0]).toMatchObject({ operation: 'config', path: 'rename' });
    expect(app.errors[0]?.message).toMatch(
      /meta\.invalidate\.tags of "rename".*"post:undefined".*rawInput.*invalidating everything instead/,
    );
  });

  it('answers a query whose tags read a missing value from its resolver, reports it, and never serves it stale', async () => {
    const app = createApp(await kind.fresh());
    const alice = app.caller({ user: 'alice' });
    expect(await alice.byNumber(1)).toBe('first');
    expect(await alice.byNumber(1)).toBe('first');
    expect(app.runs.byNumber).toBe(2);
    expect(app.errors.length).toBeGreaterThanOrEqual(1);
    for (const error of app.errors) {
      expect(error).toBeInstanceOf(CachingError);
      expect(error).toMatchObject({ operation: 'config', path: 'byNumber' });
      expect(error.message).toContain('meta.cache.tags of "byNumber"');
    }

    // A correct mutation of post 1 moves `post:1`, which an entry tagged `post:undefined` would never have seen.
    await alice.retitle({ id: 1, title: 'second' });
    expect(await alice.byNumber(1)).toBe('second');
  });
});

describe('checkTags', () => {
  it.each([[['post:1', 'feed']], [['nullable', 'undefinedness', 'NaNa', 'user:0', 'a:b', 'x\0y']], [[]]])(
    'returns the tags %j unchanged',
    (tags) => {
      expect(checkTags('meta.cache.tags', 'post.byId', tags)).toBe(tags);
    },
  );

  it.each([
    ['a string', 'post:1', 'expected an array'],
    ['a number tag', ['post:1', 7], 'every tag to be a string'],
    ['an undefined tag', [undefined], 'every tag to be a string'],
    ['an empty tag', [''], 'the empty string'],
    ['post:undefined', ['post:undefined'], '"undefined"'],
    ['user:null', ['user:null'], '"null"'],
    ['page-NaN', ['page-NaN'], '"NaN"'],
    ['undefined alone', ['undefined'], '"undefined"'],
    ['an object in a template', ['post:[object Object]'], '"[object Object]"'],
  ])('refuses %s with a config error naming the procedure', (_label, tags, reason) => {
    let caught: unknown;
    try {
      checkTags('meta.invalidate.tags', 'post.update', tags);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CachingError);
    expect(caught).toMatchObject({ operation: 'config', path: 'post.update' });
    expect((caught as Error).message).toContain('meta.invalidate.tags of "post.update"');
    expect((caught as Error).message).toContain(reason);
  });
});
