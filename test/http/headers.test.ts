import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createOpenApiFetchHandler } from 'trpc-to-openapi';
import { describe, expect, it } from 'vitest';
import { attachCacheLog, cacheLogOf } from '../../src/http/cache-log.js';
import { type CacheLogEntry, cacheHeaders, cacheResponseMeta, etagMatches, withCacheLog, withNotModifiedFetch } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';
import { createRestApp, type RestCtx, restAppStarter, userOf } from './app.js';
import { rest, trpcClient } from './clients.js';

describe.each(storeKinds())('HTTP cache headers on $name', (kind) => {
  const start = restAppStarter(kind);

  it('sets X-Cache, private Cache-Control, Vary and a stable ETag on a single tRPC query', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice');
    await alice.client.post.byId.query({ id: 1 });
    const miss = alice.last;
    await alice.client.post.byId.query({ id: 1 });
    const hit = alice.last;
    expect(miss.get('x-cache')).toBe('MISS');
    expect(hit.get('x-cache')).toBe('HIT');
    expect(hit.get('cache-control')).toBe('private, max-age=30');
    // tRPC's own Vary values are kept.
    expect(hit.get('vary')).toBe('trpc-accept, accept, Authorization');
    expect(hit.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(hit.get('etag')).toBe(miss.get('etag'));
  });

  it('combines a batch: one X-Cache token per call in order, the most restrictive Cache-Control, the smallest max-age', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice', { batch: true });
    await Promise.all([alice.client.post.byId.query({ id: 1 }), alice.client.feed.query({})]);
    expect(alice.responses).toHaveLength(1);
    expect(alice.last.get('x-cache')).toBe('MISS, MISS');
    await Promise.all([alice.client.post.byId.query({ id: 1 }), alice.client.feed.query({}), alice.client.post.list.query({})]);
    expect(alice.last.get('x-cache')).toBe('HIT, HIT, MISS');
    expect(alice.last.get('cache-control')).toBe('private, max-age=30');
    expect(alice.last.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    const batchEtag = alice.last.get('etag');
    await Promise.all([alice.client.post.byId.query({ id: 1 }), alice.client.feed.query({}), alice.client.post.list.query({})]);
    expect(alice.last.get('x-cache')).toBe('HIT, HIT, HIT');
    expect(alice.last.get('etag')).toBe(batchEtag);
  });

  it('marks a batch with an uncached call BYPASS and no-store, without an ETag', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice', { batch: true });
    await Promise.all([alice.client.feed.query({}), alice.client.ping.query({}), alice.client.clock.query({})]);
    expect(alice.last.get('x-cache')).toBe('MISS, BYPASS, BYPASS');
    expect(alice.last.get('cache-control')).toBe('no-store');
    expect(alice.last.get('etag')).toBeNull();
  });

  it('uses public Cache-Control when every call of a batch is public', async () => {
    const { url } = await start();
    const anonymous = trpcClient(url, null, { batch: true });
    await anonymous.client.feed.query({});
    expect(anonymous.last.get('cache-control')).toBe('public, max-age=120');
    expect(anonymous.last.get('vary')).toBe('trpc-accept, accept');
  });

  it('leaves responses of procedures that do not use the cache alone', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice');
    await alice.client.ping.query({});
    expect(alice.last.get('x-cache')).toBeNull();
    expect(alice.last.get('cache-control')).toBeNull();
  });

  it('sends no-store and no ETag on mutations and on errors', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice');
    await alice.client.post.update.mutate({ id: 1, title: 'x' });
    expect(alice.last.get('cache-control')).toBe('no-store');
    expect(alice.last.get('x-cache')).toBeNull();
    await expect(alice.client.post.byId.query({ id: 2 })).rejects.toThrow();
    expect(alice.last.get('cache-control')).toBe('no-store');
    expect(alice.last.get('x-cache')).toBe('BYPASS');
    expect(alice.last.get('etag')).toBeNull();
  });

  it('answers 304 without a body to a tRPC GET whose If-None-Match is current, and 200 once a mutation changed it', async () => {
    const { url } = await start();
    const target = `${url}/trpc/post.byId?input=${encodeURIComponent(JSON.stringify({ json: { id: 1 } }))}`;
    const auth = { authorization: 'Bearer alice' };
    const first = await fetch(target, { headers: auth });
    const etag = first.headers.get('etag') ?? '';
    await first.text();
    const notModified = await fetch(target, { headers: { ...auth, 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
    expect(notModified.headers.get('etag')).toBe(etag);
    expect(notModified.headers.get('x-cache')).toBe('HIT');
    const other = await fetch(target, { headers: { ...auth, 'if-none-match': '"0000"' } });
    expect(other.status).toBe(200);
    await other.text();

    await trpcClient(url, 'alice').client.post.update.mutate({ id: 1, title: 'Changed' });
    const changed = await fetch(target, { headers: { ...auth, 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('x-cache')).toBe('MISS');
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(await changed.json()).toMatchObject({ result: { data: { json: { title: 'Changed' } } } });
  });

  it('answers 304 to a REST GET whose If-None-Match is current (weak comparison, lists)', async () => {
    const { url } = await start();
    const first = await rest(url, 'bob', '/posts');
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const notModified = await rest(url, 'bob', '/posts', { headers: { 'if-none-match': `"x", W/${etag}` } });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBeUndefined();
    expect(notModified.headers.get('cache-control')).toBe('private, max-age=60');
    // Another user's ETag for the same URL is not this user's representation unless the bodies are equal.
    const alice = await rest(url, 'alice', '/posts', { headers: { 'if-none-match': etag } });
    expect(alice.status).toBe(200);
  });

  it('answers 304 through fetch adapters wrapped with withNotModifiedFetch (tRPC and trpc-to-openapi)', async () => {
    const app = createRestApp(await kind.fresh());
    const createContext = withCacheLog(({ req }: { req: Request }): RestCtx => ({ user: userOf(req) }));
    const responseMeta = cacheResponseMeta();
    const trpc = withNotModifiedFetch((req: Request) =>
      fetchRequestHandler({ endpoint: '/trpc', req, router: app.router, createContext, responseMeta }),
    );
    const openapi = withNotModifiedFetch((req: Request) =>
      createOpenApiFetchHandler({ endpoint: '/api', req, router: app.router, createContext, responseMeta }),
    );
    const auth = { authorization: 'Bearer bob' };
    for (const [handle, target] of [
      [trpc, `http://local/trpc/post.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`],
      [openapi, 'http://local/api/posts'],
    ] as const) {
      const first = await handle(new Request(target, { headers: auth }));
      expect(first.status).toBe(200);
      const etag = first.headers.get('etag') ?? '';
      expect(etag).not.toBe('');
      const second = await handle(new Request(target, { headers: { ...auth, 'if-none-match': etag } }));
      expect(second.status).toBe(304);
      expect(second.body).toBeNull();
      expect(second.headers.get('x-cache')).toBe('HIT');
      expect(second.headers.get('content-type')).toBeNull();
    }
  });
});

describe('cacheHeaders', () => {
  const entry = (over: Partial<CacheLogEntry>): CacheLogEntry => ({
    path: 'a',
    type: 'query',
    status: 'HIT',
    scope: 'user',
    ttl: 60_000,
    etag: 'e1',
    ...over,
  });
  const ctxWith = (...entries: CacheLogEntry[]) => {
    const ctx = attachCacheLog({});
    cacheLogOf(ctx)?.push(...entries);
    return ctx;
  };

  it('matches calls to log entries by path, in request order, even when they finished in another order', () => {
    const ctx = ctxWith(entry({ path: 'b', status: 'MISS', etag: 'e2', scope: 'public', ttl: 10_500 }), entry({ path: 'a' }));
    const headers = cacheHeaders({ ctx, type: 'query', paths: ['a', 'b'], errors: [] });
    expect(headers['X-Cache']).toBe('HIT, MISS');
    expect(headers['Cache-Control']).toBe('private, max-age=10');
    expect(headers.Vary).toEqual(['Authorization']);
  });

  it('honours maxAge and vary options', () => {
    const ctx = ctxWith(entry({}));
    expect(cacheHeaders({ ctx, type: 'query', paths: ['a'], errors: [] }, { maxAge: 0, vary: [] })).toEqual({
      'X-Cache': 'HIT',
      'Cache-Control': 'private, max-age=0',
      ETag: '"e1"',
    });
  });

  it('returns nothing without a cache log, and no-store for streamed responses', () => {
    expect(cacheHeaders({ ctx: {}, type: 'query', paths: ['a'], errors: [] })).toEqual({});
    expect(cacheHeaders({ ctx: ctxWith(entry({})), type: 'query', paths: ['a'], errors: [], data: [], eagerGeneration: true })).toEqual({
      'Cache-Control': 'no-store',
    });
  });

  it("lets the app's own responseMeta headers and status win", () => {
    const meta = cacheResponseMeta({ responseMeta: () => ({ status: 203, headers: { 'cache-control': 'no-cache', 'X-Extra': '1' } }) });
    expect(meta({ ctx: ctxWith(entry({})), type: 'query', paths: ['a'], errors: [] })).toEqual({
      status: 203,
      headers: { 'X-Cache': 'HIT', Vary: ['Authorization'], ETag: '"e1"', 'cache-control': 'no-cache', 'X-Extra': '1' },
    });
  });
});

describe('withCacheLog', () => {
  it('gives each request its own log, even when createContext returns the same object', async () => {
    const shared = { user: null };
    const create = withCacheLog(() => shared);
    const first = await create();
    const second = await create();
    cacheLogOf(first)?.push({ path: 'a', type: 'query', status: 'HIT', scope: 'anon', ttl: 1 });
    expect(cacheLogOf(second)).toEqual([]);
    expect(second.user).toBeNull();
  });
});

describe('etagMatches', () => {
  it('compares weakly, reads lists and *', () => {
    expect(etagMatches('"a"', '"a"')).toBe(true);
    expect(etagMatches('W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"b", "a"', '"a"')).toBe(true);
    expect(etagMatches('*', '"a"')).toBe(true);
    expect(etagMatches('"b"', '"a"')).toBe(false);
    expect(etagMatches(undefined, '"a"')).toBe(false);
    expect(etagMatches('"a"', null)).toBe(false);
  });
});
