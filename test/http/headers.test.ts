import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { type CacheLogEntry, cacheResponseMeta, type ResponseMetaInput, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { createOpenApiFetchHandler } from 'trpc-to-openapi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { attachCacheLog, cacheLogOf } from '../../src/http/cache-log.js';
import { createRestApp, type RestCtx, restAppStarter, userOf } from '../support/apps/rest.js';
import { rest, trpcClient } from '../support/clients.js';
import { storeKinds } from '../support/stores.js';

/** Notes an entry without a position, as an adapter that cannot place its calls leaves them: headers pair it by path. */
function recordUnplaced(ctx: object, entry: CacheLogEntry): void {
  const log = cacheLogOf(ctx);
  if (log === undefined) throw new Error('no cache log on the context');
  log.entries.push(entry);
  log.unplaced = true;
}

describe.each(storeKinds())('HTTP cache headers on $name', (kind) => {
  const start = restAppStarter(kind);

  it('sets X-Cache, private Cache-Control with max-age=0 (read-your-writes), Vary and a stable ETag on a single tRPC query', async () => {
    const { url } = await start();
    const alice = trpcClient(url, 'alice');
    await alice.client.post.byId.query({ id: 1 });
    const miss = alice.last;
    await alice.client.post.byId.query({ id: 1 });
    const hit = alice.last;
    expect(miss.get('x-cache')).toBe('MISS');
    expect(hit.get('x-cache')).toBe('HIT');
    // The browser revalidates every time (a cheap 304), so a user never sees their copy from before their own write.
    expect(hit.get('cache-control')).toBe('private, max-age=0');
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
    expect(alice.last.get('cache-control')).toBe('private, max-age=0');
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

  it('uses public Cache-Control when every call of a batch is public and the request carries no credentials', async () => {
    const { url } = await start();
    const anonymous = trpcClient(url, null, { batch: true });
    await anonymous.client.feed.query({});
    expect(anonymous.last.get('cache-control')).toBe('public, max-age=120');
    expect(anonymous.last.get('vary')).toBe('trpc-accept, accept');
  });

  it('sends a public entry as private to a request that carried credentials, so that no shared cache hands it to others', async () => {
    const { url } = await start();
    const anonymous = await rest(url, null, '/feed');
    expect(anonymous.headers.get('cache-control')).toBe('public, max-age=120');
    const alice = trpcClient(url, 'alice');
    await alice.client.feed.query({});
    expect(alice.last.get('x-cache')).toBe('HIT');
    expect(alice.last.get('cache-control')).toBe('private, max-age=0');
    expect(alice.last.get('vary')).toBe('trpc-accept, accept, Authorization');
    const bob = await rest(url, 'bob', '/feed');
    expect(bob.headers.get('cache-control')).toBe('private, max-age=0');
    // A cookie is a credential too, whatever the app makes of it.
    const cookie = await rest(url, null, '/feed', { headers: { cookie: 'session=abc' } });
    expect(cookie.headers.get('x-cache')).toBe('HIT');
    expect(cookie.headers.get('cache-control')).toBe('private, max-age=0');
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
    expect(notModified.headers.get('cache-control')).toBe('private, max-age=0');
    // Another user's ETag for the same URL is not this user's representation unless the bodies are equal.
    const alice = await rest(url, 'alice', '/posts', { headers: { 'if-none-match': etag } });
    expect(alice.status).toBe(200);
  });

  it('answers 304 through fetch adapters wrapped with withNotModifiedFetch (tRPC and trpc-to-openapi)', async () => {
    const app = createRestApp(await kind.fresh());
    const createContext = withCacheHeaders(({ req }: { req: Request }): RestCtx => ({ user: userOf(req) }));
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

/** A tRPC fetch handler on a fresh app (memory store), for tests that need no server. */
function fetchApp(options: Parameters<typeof cacheResponseMeta>[0], wrap = true) {
  const app = createRestApp(undefined);
  const createContext = ({ req }: { req: Request }): RestCtx => ({ user: userOf(req) });
  const responseMeta = cacheResponseMeta(options);
  return (path: string, user: string | null) =>
    fetchRequestHandler({
      endpoint: '/trpc',
      req: new Request(`http://local/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: { id: 1 } }))}`, {
        headers: user ? { authorization: `Bearer ${user}` } : {},
      }),
      router: app.router,
      createContext: wrap ? withCacheHeaders(createContext) : createContext,
      responseMeta,
    });
}

describe('cacheResponseMeta', () => {
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
    // Entries noted without a position, as an adapter that does not list its calls leaves them: paired by path.
    const ctx = attachCacheLog({}, true);
    for (const noted of entries) recordUnplaced(ctx, noted);
    return ctx;
  };
  const headersFor = (opts: ResponseMetaInput, options: Parameters<typeof cacheResponseMeta>[0] = {}) =>
    cacheResponseMeta(options)(opts).headers;
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('matches calls to log entries by path, in request order, even when they finished in another order', () => {
    const ctx = ctxWith(entry({ path: 'b', status: 'MISS', etag: 'e2', scope: 'public', ttl: 10_500 }), entry({ path: 'a' }));
    const headers = headersFor({ ctx, type: 'query', paths: ['a', 'b'], errors: [] }, { maxAge: (e) => e.ttl / 1000 });
    expect(headers['X-Cache']).toBe('HIT, MISS');
    expect(headers['Cache-Control']).toBe('private, max-age=10');
    expect(headers.Vary).toEqual(['Authorization']);
  });

  it("sends each public call's own sMaxAge as s-maxage behind an edge, without the router's procedures", () => {
    const ctx = attachCacheLog({}, false);
    recordUnplaced(ctx, entry({ scope: 'public', sMaxAge: 300_000 }));
    recordUnplaced(ctx, entry({ path: 'b', scope: 'public', ttl: 30_000, etag: 'e2' }));
    const headers = headersFor({ ctx, type: 'query', paths: ['a', 'b'], errors: [] }, { edge: { header: 'xkey', namespace: '' } });
    // The smallest: `b` has no sMaxAge, so its max-age is what a shared cache keeps it for.
    expect(headers['Cache-Control']).toBe('public, max-age=30, s-maxage=30');
    const alone = attachCacheLog({}, false);
    recordUnplaced(alone, entry({ scope: 'public', sMaxAge: 300_000 }));
    const edge = { edge: { header: 'xkey', namespace: '' } } as const;
    expect(headersFor({ ctx: alone, type: 'query', paths: ['a'], errors: [] }, edge)['Cache-Control']).toBe(
      'public, max-age=60, s-maxage=300',
    );
    // Without an edge nothing purges a shared cache: no s-maxage, the copy lives max-age at most.
    expect(headersFor({ ctx: alone, type: 'query', paths: ['a'], errors: [] })['Cache-Control']).toBe('public, max-age=60');
  });

  it('keeps a public miss computed across a mutation out of every cache: no-store and no surrogate keys, for the whole batch', () => {
    const ctx = attachCacheLog({}, false);
    recordUnplaced(ctx, entry({ scope: 'public', tags: ['post:1'] }));
    recordUnplaced(ctx, entry({ path: 'b', status: 'MISS', scope: 'public', etag: 'e2', crossed: true }));
    const headers = headersFor({ ctx, type: 'query', paths: ['a', 'b'], errors: [] }, { edge: { header: 'xkey', namespace: '' } });
    expect(headers['X-Cache']).toBe('HIT, MISS');
    expect(headers['Cache-Control']).toBe('no-store');
    expect(headers.xkey).toBeUndefined();
  });

  it('keeps a private response for as long as maxAge says when asked to, and honours vary', () => {
    const ctx = ctxWith(entry({}));
    expect(headersFor({ ctx, type: 'query', paths: ['a'], errors: [] }, { maxAge: (e) => e.ttl / 1000, vary: [] })).toEqual({
      'X-Cache': 'HIT',
      'Cache-Control': 'private, max-age=60',
      ETag: '"e1"',
    });
    expect(headersFor({ ctx, type: 'query', paths: ['a'], errors: [] }, { maxAge: 5, vary: ['Cookie'] })).toMatchObject({
      'Cache-Control': 'private, max-age=5',
      Vary: ['Cookie'],
    });
  });

  it('sends a public entry as private, varying on it, to a request that carried a header named in vary (an API key)', async () => {
    const withKey = await withCacheHeaders((_args: unknown) => ({}))({ req: { headers: { 'x-api-key': 'k1' } } });
    const without = await withCacheHeaders((_args: unknown) => ({}))({ req: { headers: {} } });
    const publicHit = entry({ scope: 'public', ttl: 120_000 });
    for (const ctx of [withKey, without]) recordUnplaced(ctx, publicHit);
    const options = { maxAge: (e: CacheLogEntry) => e.ttl / 1000, vary: ['X-Api-Key'] };
    expect(headersFor({ ctx: withKey, type: 'query', paths: ['a'], errors: [] }, options)).toMatchObject({
      'Cache-Control': 'private, max-age=120',
      Vary: ['X-Api-Key'],
    });
    expect(headersFor({ ctx: without, type: 'query', paths: ['a'], errors: [] }, options)['Cache-Control']).toBe('public, max-age=120');
  });

  it('sends no-store for streamed responses, whose headers leave before the results', () => {
    expect(headersFor({ ctx: ctxWith(entry({})), type: 'query', paths: ['a'], errors: [], data: [], eagerGeneration: true })).toEqual({
      'Cache-Control': 'no-store',
    });
  });

  it("lets the app's own responseMeta headers and status win, whatever the case of their names", () => {
    const meta = cacheResponseMeta({ responseMeta: () => ({ status: 203, headers: { 'cache-control': 'no-cache', 'X-Extra': '1' } }) });
    expect(meta({ ctx: ctxWith(entry({})), type: 'query', paths: ['a'], errors: [] })).toEqual({
      status: 203,
      headers: { 'X-Cache': 'HIT', Vary: ['Authorization'], ETag: '"e1"', 'cache-control': 'no-cache', 'X-Extra': '1' },
    });
  });

  it('warns once, naming withCacheHeaders, when the context has no cache log, instead of silently sending no cache headers', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const handle = fetchApp({}, false);
    const first = await handle('post.byId', 'alice');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBeNull();
    await handle('post.byId', 'alice');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('withCacheHeaders');
    // Wrapped: no warning.
    const wrapped = fetchApp({});
    expect((await wrapped('post.byId', 'alice')).headers.get('x-cache')).toBe('MISS');
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('answers with no-store, not a failed request, when a maxAge function throws, and says what was thrown', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const handle = fetchApp({
      maxAge: () => {
        throw 'no policy for this path';
      },
    });
    const response = await handle('post.byId', 'alice');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: { data: { json: { id: 1 } } } });
    expect(response.headers.get('x-cache')).toBe('MISS');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('etag')).toBeNull();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('(no policy for this path)');
    // An object without a prototype cannot be turned into a string by String(); the warning still says what it was.
    const bare = fetchApp({
      maxAge: () => {
        throw Object.assign(Object.create(null), { reason: 'bare' });
      },
    });
    expect((await bare('post.byId', 'alice')).headers.get('cache-control')).toBe('no-store');
    expect(String(warn.mock.calls[1]?.[0])).toContain('{"reason":"bare"}');
  });
});

describe('withCacheHeaders', () => {
  it('gives each request its own log, even when createContext returns the same object', async () => {
    const shared = { user: null };
    const create = withCacheHeaders(() => shared);
    const first = await create();
    const second = await create();
    cacheLogOf(first)?.entries.push({ path: 'a', type: 'query', status: 'HIT', scope: 'anon', ttl: 1 });
    expect(cacheLogOf(second)?.entries).toEqual([]);
    expect(second.user).toBeNull();
  });

  it('notes whether the request carried credentials, from a Node request, a fetch Request or a Lambda event', async () => {
    const create = withCacheHeaders((_opts: object) => ({}));
    const credentialed = async (opts: object) => cacheLogOf(await create(opts))?.credentialed;
    expect(await credentialed({ req: { headers: { authorization: 'Bearer a' } } })).toBe(true);
    expect(await credentialed({ req: { headers: { cookie: 'sid=1' } } })).toBe(true);
    expect(await credentialed({ req: { headers: { accept: '*/*' } } })).toBe(false);
    expect(await credentialed({ req: new Request('http://x/', { headers: { Authorization: 'Bearer a' } }) })).toBe(true);
    expect(await credentialed({ req: new Request('http://x/') })).toBe(false);
    expect(await credentialed({ event: { headers: { Cookie: 'sid=1' } } })).toBe(true);
    expect(await credentialed({ event: { headers: {} } })).toBe(false);
    // No request to read: counted as credentialed, which can only make a public entry private.
    expect(await credentialed({})).toBe(true);
  });
});

describe('withNotModifiedFetch', () => {
  it('answers 304 when If-None-Match lists the ETag, weakly or as *, and passes other requests through', async () => {
    const handle = withNotModifiedFetch(async () => new Response('{"a":1}', { headers: { etag: '"a"', 'x-cache': 'HIT' } }));
    const statusFor = async (ifNoneMatch: string | undefined, method = 'GET') =>
      (await handle(new Request('http://x/', { method, headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch } })))
        .status;
    expect(await statusFor('"a"')).toBe(304);
    expect(await statusFor('W/"a"')).toBe(304);
    expect(await statusFor('"b", "a"')).toBe(304);
    expect(await statusFor('*')).toBe(304);
    expect(await statusFor('"b"')).toBe(200);
    expect(await statusFor(undefined)).toBe(200);
    expect(await statusFor('"a"', 'POST')).toBe(200);
  });
});
