// invalidationLink against a real server: after a mutation returns, exactly the queries it moved are refetched,
// for the query keys of @trpc/tanstack-react-query and of @trpc/react-query, over httpBatchLink and httpLink;
// onInvalidate without TanStack Query; what the X-Cache-Sync header tells (and never tells) a caller.
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createTRPCQueryUtils } from '@trpc/react-query';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { afterEach, describe, expect, it } from 'vitest';
import { type InvalidationEvent, parseSyncHeader, SYNC_HEADER } from '../../src/client/index.js';
import { scopeSegment } from '../../src/engine/keys.js';
import { formatSyncHeader, inputDigest, MAX_SYNC_HEADER } from '../../src/protocol/index.js';
import { clientApp, clientFor, type ServedApp, serve, type Transport, until } from './app.js';

let served: ServedApp | undefined;
const clients: QueryClient[] = [];
afterEach(async () => {
  for (const queryClient of clients.splice(0)) queryClient.clear();
  await served?.close();
  served = undefined;
});

type KeyShape = 'tanstack-react-query' | 'react-query' | 'tanstack-react-query with keyPrefix';

/** The queries alice's page holds, each watched by an observer (so active: an invalidation refetches it). */
const QUERIES = ['post.byId 1', 'post.byId 2', 'post.list', 'counter.value', 'feed', 'plain'] as const;
type QueryName = (typeof QUERIES)[number];

/** Alice's page: a QueryClient holding every query of QUERIES through `shape`'s options, kept active by observers. */
async function alicePage(url: string, shape: KeyShape, transport: Transport) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
  clients.push(queryClient);
  const keyPrefix = shape === 'tanstack-react-query with keyPrefix' ? 'api' : undefined;
  const client = clientFor(url, 'alice', { queryClient, transport, ...(keyPrefix === undefined ? {} : { keyPrefix }) });
  const optionsOf = (name: QueryName) => {
    if (shape === 'react-query') {
      const utils = createTRPCQueryUtils({ client, queryClient });
      if (name === 'post.byId 1') return utils.post.byId.queryOptions({ id: 1 });
      if (name === 'post.byId 2') return utils.post.byId.queryOptions({ id: 2 });
      if (name === 'post.list') return utils.post.list.queryOptions();
      if (name === 'counter.value') return utils.counter.value.queryOptions();
      if (name === 'feed') return utils.feed.queryOptions();
      return utils.plain.queryOptions();
    }
    // The keyPrefix feature flag is a type parameter of the proxy; the keys are what this test is about.
    const trpc = createTRPCOptionsProxy({ client, queryClient, ...((keyPrefix === undefined ? {} : { keyPrefix }) as object) });
    if (name === 'post.byId 1') return trpc.post.byId.queryOptions({ id: 1 });
    if (name === 'post.byId 2') return trpc.post.byId.queryOptions({ id: 2 });
    if (name === 'post.list') return trpc.post.list.queryOptions();
    if (name === 'counter.value') return trpc.counter.value.queryOptions();
    if (name === 'feed') return trpc.feed.queryOptions();
    return trpc.plain.queryOptions();
  };
  const observers = new Map<QueryName, QueryObserver<unknown, unknown>>();
  for (const name of QUERIES) {
    const observer = new QueryObserver(queryClient, optionsOf(name) as ConstructorParameters<typeof QueryObserver>[1]);
    observer.subscribe(() => {});
    observers.set(name, observer);
  }
  await until(() => [...observers.values()].every((observer) => observer.getCurrentResult().isSuccess), 10_000, 'the first fetches');
  return {
    client,
    queryClient,
    /** How many times each query has received data. */
    updates: () => Object.fromEntries(QUERIES.map((name) => [name, observers.get(name)?.getCurrentResult().dataUpdatedAt ?? 0])),
    data: (name: QueryName) => observers.get(name)?.getCurrentResult().data,
    settled: () => until(() => queryClient.isFetching() === 0, 10_000, 'refetches to settle'),
  };
}

/** Which queries got new data after `act`. */
async function refetchedBy(page: Awaited<ReturnType<typeof alicePage>>, act: () => Promise<unknown>): Promise<QueryName[]> {
  const before = page.updates();
  await act();
  await page.settled();
  const after = page.updates();
  return QUERIES.filter((name) => after[name] !== before[name]);
}

const shapes: KeyShape[] = ['tanstack-react-query', 'react-query', 'tanstack-react-query with keyPrefix'];

describe.each(shapes)('invalidationLink with %s keys', (shape) => {
  const transports: Transport[] = shape === 'tanstack-react-query' ? ['httpBatchLink', 'httpLink'] : ['httpBatchLink'];
  it.each(transports)('refetches exactly the queries each mutation moved, over %s', async (transport) => {
    const app = clientApp();
    served = await serve(app);
    const page = await alicePage(served.url, shape, transport);
    // Let every timestamp after this point differ from the first fetches'.
    await new Promise((resolve) => setTimeout(resolve, 5));

    // A tag: only the query whose response carried it (post.byId 2 carried post:2).
    expect(await refetchedBy(page, () => page.client.post.retitle.mutate({ id: 1, title: 'one, retitled' }))).toEqual(['post.byId 1']);
    expect(page.data('post.byId 1')).toBe('one, retitled');
    // A path: the queries under it.
    expect(await refetchedBy(page, () => page.client.bump.mutate())).toEqual(['counter.value']);
    // The caller's own scope: every query cached for alice, not the public feed, not the uncached procedure.
    expect(await refetchedBy(page, () => page.client.post.touch.mutate())).toEqual([
      'post.byId 1',
      'post.byId 2',
      'post.list',
      'counter.value',
    ]);
    // A public tag.
    expect(await refetchedBy(page, () => page.client.publish.mutate())).toEqual(['feed']);
    // A move of bob's scope and of a tag alice holds no query of: nothing of alice's.
    expect(await refetchedBy(page, () => page.client.post.rename.mutate({ id: 3, title: 'three, renamed' }))).toEqual([]);
    // Alice among the users moved: her scope, told as `self`.
    expect(await refetchedBy(page, () => page.client.post.rename.mutate({ id: 1, title: 'one, renamed' }))).toEqual([
      'post.byId 1',
      'post.byId 2',
      'post.list',
      'counter.value',
    ]);
    // Everything.
    expect(await refetchedBy(page, () => page.client.everything.mutate())).toEqual([...QUERIES]);
  });
});

describe('invalidationLink', () => {
  it('pairs the entries of one batch with its calls, so two calls of one procedure keep their own tags', async () => {
    const app = clientApp();
    served = await serve(app);
    const page = await alicePage(served.url, 'tanstack-react-query', 'httpBatchLink');
    // Both post.byId calls went out in one batch request.
    expect(served.count('alice', 'post.byId')).toBe(2);
    expect(served.calls.size).toBeLessThanOrEqual(QUERIES.length);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await refetchedBy(page, () => page.client.post.retitle.mutate({ id: 2, title: 'two, retitled' }))).toEqual(['post.byId 2']);
  });

  it('tells onInvalidate what moved, and which of its own entries that reaches, without a QueryClient', async () => {
    const app = clientApp();
    served = await serve(app);
    const events: InvalidationEvent[] = [];
    const client = clientFor(served.url, 'alice', { onInvalidate: (event) => events.push(event) });
    // Entries of a cache of the app's own (an SWR cache, say), keyed by path and input.
    const held = [
      { path: 'post.byId', input: { id: 1 } },
      { path: 'post.byId', input: { id: 2 } },
      { path: 'feed', input: undefined },
    ];
    await Promise.all([client.post.byId.query({ id: 1 }), client.post.byId.query({ id: 2 }), client.feed.query()]);

    await client.post.retitle.mutate({ id: 2, title: 'two, retitled' });
    expect(events).toHaveLength(1);
    const [event] = events as [InvalidationEvent];
    expect(event).toMatchObject({ source: 'response', path: 'post.retitle', all: false, self: false, paths: [], tags: ['post:2'] });
    expect(held.filter((entry) => event.affects(entry.path, entry.input))).toEqual([held[1]]);

    await client.post.touch.mutate();
    expect(events[1]).toMatchObject({ source: 'response', path: 'post.touch', self: true, tags: [] });
    // Her own scope reaches her per-user entries, not the public feed's.
    expect(held.filter((entry) => events[1]?.affects(entry.path, entry.input))).toEqual([held[0], held[1]]);
    // A call it never saw the response of could depend on anything: reached.
    expect(events[1]?.affects('post.byId', { id: 99 })).toBe(true);

    // A query answers nothing to onInvalidate; a failed mutation neither.
    await client.counter.value.query();
    await expect(client.post.rename.mutate({ id: 99, title: 'x' })).rejects.toThrow();
    expect(events).toHaveLength(2);
  });

  it("tells the caller its own scope moved as `self`, never another user's id or scope digest", async () => {
    const app = clientApp();
    served = await serve(app);
    const mutate = (user: string, id: number) =>
      fetch(`${served?.url}/trpc/post.rename`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
        body: JSON.stringify({ json: { id, title: `by ${user}` } }),
      });
    // Alice renames her post shared with bob: both scopes move.
    const response = await mutate('alice', 1);
    expect(response.status).toBe(200);
    const header = response.headers.get(SYNC_HEADER) ?? '';
    expect(parseSyncHeader(header)).toEqual([
      {
        path: 'post.rename',
        in: inputDigest({ id: 1, title: 'by alice' }),
        moved: { id: expect.any(String), self: true, tags: ['post:1'] },
      },
    ]);
    expect(header).not.toContain('bob');
    expect(header).not.toContain(scopeSegment('trpc-caching', { kind: 'user', id: 'bob' }));
    expect(header).not.toContain(scopeSegment('trpc-caching', { kind: 'user', id: 'alice' }));
    // Carol renames bob's post (the app lets her): she learns the tag, and nothing of bob.
    const carol = (await mutate('carol', 3)).headers.get(SYNC_HEADER) ?? '';
    expect(parseSyncHeader(carol)).toEqual([
      { path: 'post.rename', in: inputDigest({ id: 3, title: 'by carol' }), moved: { id: expect.any(String), tags: ['post:3'] } },
    ]);
    expect(carol).not.toContain('bob');
    expect(carol).not.toContain(scopeSegment('trpc-caching', { kind: 'user', id: 'bob' }));
  });

  it('says per call of a batch which scope and tags each query was cached under, as ASCII JSON', async () => {
    const app = clientApp();
    served = await serve(app);
    const input = encodeURIComponent(JSON.stringify({ 0: { json: { id: 1 } }, 1: { json: null }, 2: { json: null }, 3: { json: null } }));
    const response = await fetch(`${served.url}/trpc/post.byId,feed,plain,post.list?batch=1&input=${input}`, {
      headers: { authorization: 'Bearer alice' },
    });
    expect(response.status).toBe(200);
    expect(parseSyncHeader(response.headers.get(SYNC_HEADER))).toEqual([
      { path: 'post.byId', in: inputDigest({ id: 1 }), scope: 'user', tags: ['post:1'] },
      { path: 'feed', in: inputDigest(null), scope: 'public', tags: ['feed'] },
      { path: 'plain', in: inputDigest(null) },
      { path: 'post.list', in: inputDigest(null), scope: 'user', tags: [] },
    ]);
  });
});

describe('the X-Cache-Sync header', () => {
  it('is sent only when cacheResponseMeta is asked for it', async () => {
    const { cacheResponseMeta } = await import('../../src/http/index.js');
    const { attachCacheLog, cacheLogOf } = await import('../../src/http/cache-log.js');
    // One call (an adapter that does not list its calls: the first entry is the first call), input { id: 1 }.
    const ctxOf = (tags: string[]) => {
      const ctx = attachCacheLog({}, true);
      cacheLogOf(ctx)?.called({
        outcome: { path: 'a', type: 'query', status: 'HIT', scope: 'user', ttl: 1000, etag: 'e', tags },
        call: 0,
        input: { id: 1 },
      });
      return ctx;
    };
    const opts = { ctx: ctxOf(['t']), type: 'query' as const, paths: ['a'], errors: [] };
    const digest = inputDigest({ id: 1 });
    expect(cacheResponseMeta()(opts).headers[SYNC_HEADER]).toBeUndefined();
    expect(cacheResponseMeta({ sync: true })(opts).headers[SYNC_HEADER]).toBe(
      `{"v":1,"calls":[{"path":"a","in":"${digest}","scope":"user","tags":["t"]}]}`,
    );
    // Tags in any script travel as \u escapes: a header value is ASCII.
    const value = cacheResponseMeta({ sync: true })({ ...opts, ctx: ctxOf(['é']) }).headers[SYNC_HEADER] as string;
    expect(value).toBe(`{"v":1,"calls":[{"path":"a","in":"${digest}","scope":"user","tags":["\\u00e9"]}]}`);
    expect(parseSyncHeader(value)).toEqual([{ path: 'a', in: digest, scope: 'user', tags: ['é'] }]);
  });

  it('coarsens a description too long for a header: queries lose their tags, mutations say all', () => {
    const tags = Array.from({ length: 300 }, (_, i) => `a-long-tag-name:${i}`);
    const value = formatSyncHeader([
      { path: 'post.byId', scope: 'user', tags },
      { path: 'post.rename', moved: { id: 'm1', tags } },
    ]);
    expect(value.length).toBeLessThanOrEqual(MAX_SYNC_HEADER);
    expect(parseSyncHeader(value)).toEqual([
      { path: 'post.byId', scope: 'user' },
      { path: 'post.rename', moved: { id: 'm1', all: true } },
    ]);
  });
});
