import { initTRPC } from '@trpc/server';
import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CachingError, type CachingMeta, createCaching } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';

/** Tags (and path segments) that would share a key if ':' '%' or '\0' were taken literally or escaped ambiguously. */
const TAGS = ['a', 'a:b', 'a%3Ab', 'a%253Ab', 'a%b', 'a:b:c', 'a\0b', 'a\0', ':a', 'a:', 'v:all', 's:anon'];

function createApp(store: Keyv) {
  const errors: CachingError[] = [];
  const runs = new Map<string, number>();
  const ran = (what: string) => runs.set(what, (runs.get(what) ?? 0) + 1);
  const t = initTRPC.context<object>().meta<CachingMeta>().create();
  const caching = createCaching<object>({ user: () => 'alice', onError: (error) => errors.push(error), store, timeout: 2_000 });
  const cachedQuery = caching.cachedQuery(t.procedure);
  const invalidatingMutation = caching.invalidatingMutation(t.procedure);
  const pathed = (path: string) =>
    cachedQuery.query(() => {
      ran(path);
      return path;
    });
  const router = t.router({
    tagged: cachedQuery
      .meta({ cache: { tags: ({ input }) => [String(input.tag)] } })
      .input(z.object({ tag: z.string() }))
      .query(({ input }) => {
        ran(`tag ${input.tag}`);
        return input.tag;
      }),
    touchTag: invalidatingMutation
      .meta({ invalidate: { self: false, tags: ({ input }) => [String(input.tag)] } })
      .input(z.object({ tag: z.string() }))
      .mutation(() => true),
    // Procedure paths that differ only by a separator: 'a:b', 'a.b', 'a%3Ab' and 'v:all'.
    'a:b': pathed('a:b'),
    'a%3Ab': pathed('a%3Ab'),
    'v:all': pathed('v:all'),
    a: t.router({ b: pathed('a.b') }),
    touchPath: invalidatingMutation.meta({ invalidate: { self: false, paths: ['a:b'] } }).mutation(() => true),
  });
  const caller = t.createCallerFactory(router)({});
  return { caller, errors, runs, caching };
}

describe.each(storeKinds())('separators in tags and paths, on $name', (kind) => {
  it('invalidates exactly the tag named, never one that differs by a separator or its escape', async () => {
    const app = createApp(await kind.fresh());
    for (const tag of TAGS) await app.caller.tagged({ tag });
    for (const touched of TAGS) {
      await app.caller.touchTag({ tag: touched });
      for (const tag of TAGS) expect(await app.caller.tagged({ tag })).toBe(tag);
      for (const tag of TAGS) {
        const expected = 1 + TAGS.slice(0, TAGS.indexOf(touched) + 1).filter((t) => t === tag).length;
        expect({ tag, runs: app.runs.get(`tag ${tag}`) }).toEqual({ tag, runs: expected });
      }
    }
    expect(app.errors).toEqual([]);
  });

  it('keeps procedures whose paths differ only by a separator apart, in entries and in invalidation', async () => {
    const app = createApp(await kind.fresh());
    const read = async () => [await app.caller['a:b'](), await app.caller.a.b(), await app.caller['a%3Ab'](), await app.caller['v:all']()];
    expect(await read()).toEqual(['a:b', 'a.b', 'a%3Ab', 'v:all']);
    expect(await read()).toEqual(['a:b', 'a.b', 'a%3Ab', 'v:all']);
    expect(Object.fromEntries(app.runs)).toEqual({ 'a:b': 1, 'a.b': 1, 'a%3Ab': 1, 'v:all': 1 });

    await app.caller.touchPath();
    expect(await read()).toEqual(['a:b', 'a.b', 'a%3Ab', 'v:all']);
    expect(Object.fromEntries(app.runs)).toEqual({ 'a:b': 2, 'a.b': 1, 'a%3Ab': 1, 'v:all': 1 });
    expect(app.errors).toEqual([]);
  });
});
