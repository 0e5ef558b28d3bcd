// The checks every adapter recipe of docs/adapters.md passes, over the adapter's own transport: MISS -> HIT,
// the Cache-Control rule, ETag + 304, X-Cache-Sync, invalidation by another user, a batched GET, and the live stream
// (delivered where the adapter can stream, refused at once where it cannot).
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AppRouter } from '../../../docs/snippets/adapters-app.js';
import { parseSyncHeader } from '../../../src/protocol/index.js';
import { TestEventSource } from '../../live/event-source.js';
import { until } from '../../support/until.js';

/** How a test reaches an adapter: `fetch` over HTTP, or a function that calls the handler directly. */
export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** An adapter serving the recipes' app, for one test. */
export interface Served {
  /** The tRPC endpoint, e.g. `http://127.0.0.1:1234/trpc`. */
  readonly trpc: string;
  /** trpc-to-openapi's REST base, when the recipe mounts it, e.g. `http://127.0.0.1:1234/api`. */
  readonly rest?: string;
  readonly fetch: Fetch;
  /** What the adapter does with the live stream: delivers it, or refuses it at once (a buffered handler). */
  readonly live: 'streams' | 'refused';
  /** Whether the recipe answers 304 (false for the Lambda streaming handler, which queries need not use). */
  readonly notModified: boolean;
  close(): Promise<void>;
}

const auth = (user: string | null): Record<string, string> => (user === null ? {} : { authorization: `Bearer ${user}` });

/** A GET of tRPC query `path` (`a,b` with `batch`) as `user`. */
export function query(
  s: Pick<Served, 'trpc' | 'fetch'>,
  user: string | null,
  path: string,
  input?: unknown,
  headers: Record<string, string> = {},
) {
  const search = input === undefined ? '' : `input=${encodeURIComponent(JSON.stringify(input))}`;
  const batch = path.includes(',') ? `batch=1${search === '' ? '' : '&'}` : '';
  const query = batch + search;
  return s.fetch(`${s.trpc}/${path}${query === '' ? '' : `?${query}`}`, { headers: { ...auth(user), ...headers } });
}

/** A tRPC mutation of post 1's title by `user`. */
function rename(s: Served, user: string, title: string, id = 1) {
  return s.fetch(`${s.trpc}/post.rename`, {
    method: 'POST',
    headers: { ...auth(user), 'content-type': 'application/json' },
    body: JSON.stringify({ id, title }),
  });
}

/** A typed client for `user` over the adapter's transport, subscriptions over SSE. */
export function client(s: Pick<Served, 'trpc' | 'fetch'>, user: string) {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: s.trpc,
          EventSource: TestEventSource,
          eventSourceOptions: { headers: auth(user), fetch: s.fetch },
        }),
        false: httpBatchLink({ url: s.trpc, headers: auth(user), fetch: (url, init) => s.fetch(String(url), init ?? undefined) }),
      }),
    ],
  });
}

const data = async (response: Response) => ((await response.json()) as { result: { data: unknown } }).result.data;

/**
 * Registers the checks, each on a fresh app from `start`. Call inside a `describe`.
 *
 * @example
 * ```ts
 * describe.each(storeKinds())('Express on $name', (kind) => adapterChecks(() => startExpress(kind)));
 * ```
 */
export function adapterChecks(start: () => Promise<Served>): void {
  let s: Served;
  beforeEach(async () => {
    s = await start();
  });
  afterEach(() => s.close());

  it('serves a repeated query from the cache: MISS, then HIT with the same body', async () => {
    const first = await query(s, 'alice', 'post.byId', { id: 1 });
    const second = await query(s, 'alice', 'post.byId', { id: 1 });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.headers.get('x-cache'), second.headers.get('x-cache')]).toEqual(['MISS', 'HIT']);
    expect(await data(second)).toEqual(await data(first));
  });

  it("sends a user's data private with max-age=0 and Vary, a public query to an anonymous caller with its TTL, a mutation no-store", async () => {
    const mine = await query(s, 'alice', 'post.byId', { id: 1 });
    expect(mine.headers.get('cache-control')).toBe('private, max-age=0');
    expect(mine.headers.get('vary')).toMatch(/authorization/i);
    const feed = await query(s, null, 'feed');
    expect(feed.headers.get('cache-control')).toBe('public, max-age=60');
    expect((await rename(s, 'alice', 'renamed')).headers.get('cache-control')).toBe('no-store');
  });

  it('answers a GET whose If-None-Match holds the current ETag with 304 and no body, and a stale one with 200', async () => {
    if (!s.notModified) return;
    const first = await query(s, 'alice', 'post.byId', { id: 1 });
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    const again = await query(s, 'alice', 'post.byId', { id: 1 }, { 'if-none-match': etag ?? '' });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('cache-control')).toBe('private, max-age=0');
    const other = await query(s, 'alice', 'post.byId', { id: 1 }, { 'if-none-match': '"not-it"' });
    expect(other.status).toBe(200);
  });

  it('tells the client what a query depends on and what a mutation moved, in X-Cache-Sync', async () => {
    const read = await query(s, 'alice', 'post.byId', { id: 1 });
    expect(parseSyncHeader(read.headers.get('x-cache-sync'))).toMatchObject([{ path: 'post.byId', scope: 'user', tags: ['post:1'] }]);
    const written = await rename(s, 'alice', 'renamed');
    expect(written.status).toBe(200);
    expect(parseSyncHeader(written.headers.get('x-cache-sync'))).toMatchObject([
      { path: 'post.rename', moved: { self: true, tags: ['post:1'] } },
    ]);
  });

  it("shows alice bob's rename of the post she shares with him at her next read", async () => {
    await query(s, 'alice', 'post.byId', { id: 1 });
    expect((await query(s, 'alice', 'post.byId', { id: 1 })).headers.get('x-cache')).toBe('HIT');
    expect((await rename(s, 'bob', 'renamed by bob')).status).toBe(200);
    const after = await query(s, 'alice', 'post.byId', { id: 1 });
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(await data(after)).toEqual({ id: 1, title: 'renamed by bob' });
  });

  it('answers a batched GET with one X-Cache token per call, one ETag, and a 304 for it', async () => {
    const input = { 0: { id: 2 } };
    const first = await query(s, 'alice', 'post.byId,feed', input);
    expect(first.headers.get('x-cache')).toBe('MISS, MISS');
    const body = (await first.json()) as { result: { data: unknown } }[];
    expect(body.map((call) => call.result.data)).toEqual([{ id: 2, title: 'two' }, ['one', 'two']]);
    const second = await query(s, 'alice', 'post.byId,feed', input);
    expect(second.headers.get('x-cache')).toBe('HIT, HIT');
    // A batch with a user's data is private as a whole.
    expect(second.headers.get('cache-control')).toBe('private, max-age=0');
    expect(parseSyncHeader(second.headers.get('x-cache-sync'))?.map((call) => call?.path)).toEqual(['post.byId', 'feed']);
    const etag = second.headers.get('etag');
    expect(etag).toBe(first.headers.get('etag'));
    if (s.notModified) expect((await query(s, 'alice', 'post.byId,feed', input, { 'if-none-match': etag ?? '' })).status).toBe(304);
  });

  it("delivers bob's move to alice's open live stream, or refuses the stream at once where the adapter cannot stream", async () => {
    const events: unknown[] = [];
    const errors: Error[] = [];
    const subscription = client(s, 'alice').invalidations.subscribe(undefined, {
      onData: ({ data }) => events.push(data),
      onError: (error) => errors.push(error),
    });
    try {
      if (s.live === 'refused') {
        await until(() => errors.length > 0);
        expect(errors[0]?.message).toMatch(/cannot stream from awsLambdaRequestHandler.*awsLambdaStreamingRequestHandler/);
        expect((errors[0] as Error & { data?: { code?: string } }).data?.code).toBe('METHOD_NOT_SUPPORTED');
        expect(events).toEqual([]);
        return;
      }
      await until(() => events.length > 0);
      expect(events[0]).toEqual({ v: 1, type: 'ready' });
      await rename(s, 'bob', 'renamed by bob');
      await until(() => events.length > 1);
      expect(events[1]).toMatchObject({ v: 1, type: 'moved', moved: { tags: ['post:1'] } });
      expect(errors).toEqual([]);
    } finally {
      subscription.unsubscribe();
    }
  });
}

/** A REST call through trpc-to-openapi's routes of the recipe. */
function rest(s: Served, user: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return s.fetch(`${s.rest}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...auth(user), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

/**
 * The same checks for trpc-to-openapi's REST routes of a recipe (`served.rest`). Call inside a `describe`.
 *
 * @example
 * ```ts
 * describe('REST on Express', () => restChecks(() => startExpress(kind)));
 * ```
 */
export function restChecks(start: () => Promise<Served>): void {
  let s: Served;
  beforeEach(async () => {
    s = await start();
  });
  afterEach(() => s.close());

  it("caches a REST GET per user with its headers, answers its ETag with 304, and shows another user's PATCH at the next read", async () => {
    const first = await rest(s, 'alice', '/posts/1');
    const second = await rest(s, 'alice', '/posts/1');
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.headers.get('x-cache'), second.headers.get('x-cache')]).toEqual(['MISS', 'HIT']);
    expect(second.headers.get('cache-control')).toBe('private, max-age=0');
    expect(await second.json()).toEqual({ id: 1, title: 'one' });
    expect(parseSyncHeader(second.headers.get('x-cache-sync'))).toMatchObject([{ path: 'post.byId', tags: ['post:1'] }]);
    const etag = second.headers.get('etag') ?? '';
    const notModified = await rest(s, 'alice', '/posts/1', { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
    const patched = await rest(s, 'bob', '/posts/1', { method: 'PATCH', body: { title: 'patched by bob' } });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('cache-control')).toBe('no-store');
    const after = await rest(s, 'alice', '/posts/1', { headers: { 'if-none-match': etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(await after.json()).toEqual({ id: 1, title: 'patched by bob' });
  });
}
