// Adversarial checks of the edge (issue 21): tags an edge cannot carry as they are, batches mixing what a shared cache
// may and may not keep, purgers that hang or throw, and what a real Varnish keeps of credentialed and conditional
// requests. A recording purger stands in for the edge where the headers and the purge requests are what is checked.
import type { IncomingMessage } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import Keyv from 'keyv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cacheResponseMeta, createEdge, type EdgeOptions, varnishPurger, withCacheHeaders } from '../../src/http/index.js';
import { type CachingMeta, createCaching, createMemoryStore } from '../../src/index.js';
import { bearer, type Listening, listen } from '../support/apps/harness.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/until.js';
import { startVarnish, type VarnishServer } from '../support/varnish.js';

type Ctx = { user: string | null };
type PostInput = { id: number; extra?: string[] | undefined; many?: number | undefined };

/** A public `post.byId` (tags `post:<id>` and `title:<title>`), a per-user `me`, a failing `boom`, and `rename`. */
async function edgeApp(edge: EdgeOptions, cookie?: string) {
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
  const titles = new Map<number, string>();
  const sink = createEdge({ header: 'xkey', ...edge });
  const caching = createCaching<Ctx>({
    user: (ctx) => ctx.user,
    store: new Keyv({ store: createMemoryStore().opts.store }),
    edge: sink,
    onError: () => {},
  });
  const calls = { byId: 0 };
  const titleOf = (id: number) => titles.get(id) ?? `post ${id}`;
  const router = t.router({
    post: t.router({
      byId: caching
        .cachedQuery(t.procedure)
        .meta({
          cache: {
            scope: 'public',
            ttl: 60_000,
            sMaxAge: 60_000,
            tags: ({ input: raw }) => {
              const input = raw as PostInput;
              return [
                `post:${input.id}`,
                `title:${titleOf(input.id)}`,
                ...(input.extra ?? []),
                ...Array.from({ length: input.many ?? 0 }, (_, i) => `many, ${i} ü ${'x'.repeat(100)}`),
              ];
            },
          },
        })
        .input(z.object({ id: z.number(), extra: z.array(z.string()).optional(), many: z.number().optional() }))
        .query(({ input }) => {
          calls.byId++;
          return { id: input.id, title: titleOf(input.id) };
        }),
      short: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { scope: 'public', ttl: 60_000, sMaxAge: 5_000 } })
        .query(() => 'short'),
      rename: caching
        .invalidatingMutation(t.procedure)
        // The post's tag and the new title's: a title is user input, any string JSON can carry.
        .meta({ invalidate: { tags: ({ input }) => [`post:${input.id}`, `title:${input.title}`] } })
        .input(z.object({ id: z.number(), title: z.string() }))
        .mutation(({ input }) => {
          titles.set(input.id, input.title);
          return { ok: true };
        }),
      wipe: caching
        .invalidatingMutation(t.procedure)
        .meta({ invalidate: { all: true } })
        .mutation(() => ({ ok: true })),
    }),
    me: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { ttl: 60_000 } })
      .query(({ ctx }) => ({ me: ctx.user })),
    boom: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { scope: 'public', ttl: 60_000 } })
      .query(() => {
        throw new TRPCError({ code: 'NOT_FOUND' });
      }),
  });
  caching.validateRouter(router);
  const handler = createHTTPHandler({
    router,
    createContext: withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: bearer(req) })),
    responseMeta: cacheResponseMeta({
      edge: sink,
      // An app that hands every caller a session cookie from responseMeta (an anonymous session id).
      ...(cookie === undefined ? {} : { responseMeta: () => ({ headers: { 'Set-Cookie': cookie } }) }),
    }),
  });
  const listening: Listening = await listen(handler);
  return {
    ...listening,
    calls,
    caching,
    close: async () => {
      caching.close();
      await listening.close();
    },
  };
}

type App = Awaited<ReturnType<typeof edgeApp>>;

async function get(base: string, path: string, input?: unknown, headers: Record<string, string> = {}) {
  const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await fetch(`${base}/${path}${query}`, { headers });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

async function mutate(base: string, path: string, input?: unknown) {
  const response = await fetch(`${base}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: input === undefined ? undefined : JSON.stringify(input),
  });
  return { status: response.status, body: await response.text() };
}

/** A purger that records every purge and can be made to hang or throw. */
function recording() {
  const purged: string[][] = [];
  let mode: 'ok' | 'hang' | 'throw' = 'ok';
  const purger = (keys: readonly string[]) => {
    if (mode === 'throw') throw new Error('purger exploded synchronously');
    if (mode === 'hang') return new Promise<void>(() => {});
    purged.push([...keys]);
    return Promise.resolve();
  };
  return {
    purged,
    purger,
    set: (next: typeof mode) => {
      mode = next;
    },
  };
}

describe('the edge under attack, headers and purges', () => {
  const open: App[] = [];
  afterEach(async () => {
    for (const app of open.splice(0)) await app.close();
  });
  async function app(edge: EdgeOptions) {
    const one = await edgeApp(edge);
    open.push(one);
    return one;
  }

  it('offers a public answer whose tag holds a lone surrogate to the edge under a key it can carry, instead of failing the request', async () => {
    const rec = recording();
    const api = await app({ purger: rec.purger, settle: 0 });
    const answer = await get(api.url, 'post.byId', { id: 1, extra: ['\ud800'] });
    expect(answer.status).toBe(200);
    const keys = answer.headers.get('xkey') ?? '';
    expect(keys).toMatch(/^[\x21-\x7e ]+$/);
    expect(answer.headers.get('cache-control')).toContain('public');
  });

  it('purges every key of a mutation even when one of its tags holds a lone surrogate', async () => {
    const rec = recording();
    const api = await app({ purger: rec.purger, settle: 0 });
    const renamed = await mutate(api.url, 'post.rename', { id: 7, title: 'bad \ud800 title' });
    expect(renamed.status).toBe(200);
    expect(rec.purged.flat()).toContain('t:post%3A7');
    expect(api.caching.stats().purges.failed).toBe(0);
  });

  it('sends a batch mixing a public and a per-user call private, without surrogate keys', async () => {
    const api = await app({ purger: recording().purger, settle: 0 });
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 } }));
    for (let i = 0; i < 2; i++) {
      const mixed = await get(api.url, `post.byId,me?batch=1&input=${input}`);
      expect(mixed.status).toBe(200);
      expect(mixed.headers.get('cache-control')).toMatch(/^private/);
      expect(mixed.headers.get('xkey')).toBeNull();
    }
  });

  it('sends a batch with a failed call no-store, without surrogate keys, hit or miss', async () => {
    const api = await app({ purger: recording().purger, settle: 0 });
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 } }));
    for (let i = 0; i < 2; i++) {
      const failed = await get(api.url, `post.byId,boom?batch=1&input=${input}`);
      expect(failed.headers.get('cache-control')).toBe('no-store');
      expect(failed.headers.get('xkey')).toBeNull();
    }
  });

  it('gives a public batch the smallest s-maxage of its calls and the union of their keys', async () => {
    const api = await app({ purger: recording().purger, settle: 0 });
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 } }));
    const batch = await get(api.url, `post.byId,post.short?batch=1&input=${input}`);
    expect(batch.headers.get('cache-control')).toMatch(/^public, .*s-maxage=5(,|$)/);
    expect((batch.headers.get('xkey') ?? '').split(' ')).toEqual(expect.arrayContaining(['p:post.byId', 'p:post.short', 't:post%3A1']));
  });

  it('keeps a public answer whose keys do not fit one header out of shared caches', async () => {
    const api = await app({ purger: recording().purger, settle: 0 });
    // 200 tags of about 120 characters once encoded: more than the 16 KiB an edge reads of the header.
    const answer = await get(api.url, 'post.byId', { id: 1, many: 200 });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('xkey')).toBeNull();
    expect(answer.headers.get('cache-control')).toMatch(/^private/);
  });

  it('returns a mutation whose purger hangs forever, and one whose purger throws synchronously, and retries the latter', async () => {
    const rec = recording();
    const api = await app({ purger: rec.purger, settle: 0, timeout: 200, retryDelay: 20 });
    rec.set('hang');
    expect((await mutate(api.url, 'post.rename', { id: 1, title: 'a' })).status).toBe(200);
    rec.set('throw');
    expect((await mutate(api.url, 'post.rename', { id: 2, title: 'b' })).status).toBe(200);
    rec.set('ok');
    await until(() => rec.purged.flat().includes('t:post%3A2'));
    await until(() => api.caching.stats().purges.pending === 0);
  });

  it('retries a purge whose request hangs, so that it lands once the edge answers again', async () => {
    let calls = 0;
    const purged: string[] = [];
    // The first request never answers (a black-holed purge API, a fetch without a timeout); later ones land.
    const purger = async (keys: readonly string[]) => {
      calls++;
      if (calls === 1) return new Promise<void>(() => {});
      purged.push(...keys);
    };
    const api = await app({ purger, settle: 0, timeout: 50, retryDelay: 20, attemptTimeout: 200 });
    expect((await mutate(api.url, 'post.rename', { id: 4, title: 'd' })).status).toBe(200);
    await until(() => purged.includes('t:post%3A4'));
    await until(() => api.caching.stats().purges.pending === 0);
  });

  it('still purges, once the mutation returned, with await: false', async () => {
    const rec = recording();
    const api = await app({ purger: rec.purger, settle: 0, await: false });
    expect((await mutate(api.url, 'post.rename', { id: 3, title: 'c' })).status).toBe(200);
    await until(() => rec.purged.flat().includes('t:post%3A3'));
  });

  it('never offers a shared cache a public answer that sets a cookie', async () => {
    const api = await edgeApp({ purger: recording().purger, settle: 0 }, 'sid=one-caller; Path=/');
    open.push(api);
    const answer = await get(api.url, 'post.byId', { id: 1 });
    expect(answer.headers.get('set-cookie')).toContain('sid=one-caller');
    expect(answer.headers.get('cache-control') ?? '').not.toMatch(/public/);
    expect(answer.headers.get('xkey')).toBeNull();
  });

  it('purges everything with the all key when a mutation invalidates all', async () => {
    const rec = recording();
    const api = await app({ purger: rec.purger, settle: 0 });
    expect((await mutate(api.url, 'post.wipe')).status).toBe(200);
    expect(rec.purged).toEqual([['all']]);
  });
});

describe('the edge under attack, through a real Varnish', () => {
  let varnish: VarnishServer;
  let api: App;

  beforeAll(async () => {
    const varnishPort = await freePort();
    api = await edgeApp({ purger: varnishPurger({ url: `http://127.0.0.1:${varnishPort}/` }), settle: 0 });
    varnish = await startVarnish(Number(new URL(api.url).port), { port: varnishPort });
  }, 60_000);

  afterAll(async () => {
    await varnish?.stop();
    await api?.close();
  });

  it('serves a fresh answer through Varnish right after a mutation whose new title holds a lone surrogate', async () => {
    await get(varnish.url, 'post.byId', { id: 40 });
    const cached = await get(varnish.url, 'post.byId', { id: 40 });
    expect(cached.headers.get('x-edge')).toBe('HIT');
    expect((await mutate(api.url, 'post.rename', { id: 40, title: 'new \udfff' })).status).toBe(200);
    const after = await get(varnish.url, 'post.byId', { id: 40 });
    expect(JSON.parse(after.body).result.data.title).toBe('new \udfff');
  });

  it('never hands a credentialed caller’s answer, nor its 304, to an anonymous caller through Varnish', async () => {
    const auth = { authorization: 'Bearer alice' };
    const mine = await get(varnish.url, 'me', undefined, auth);
    expect(mine.headers.get('cache-control')).toMatch(/^private/);
    const etag = mine.headers.get('etag') as string;
    const conditional = await get(varnish.url, 'me', undefined, { ...auth, 'if-none-match': etag });
    expect([200, 304]).toContain(conditional.status);
    for (const headers of [{}, { 'if-none-match': etag }] as Record<string, string>[]) {
      const anonymous = await get(varnish.url, 'me', undefined, headers);
      expect(anonymous.status).toBe(200);
      expect(anonymous.body).not.toContain('alice');
      expect(anonymous.headers.get('x-edge')).toBe('MISS');
    }
  });

  it('never stores at Varnish a public answer to a credentialed request, even when its ETag matches a stored one', async () => {
    const first = await get(varnish.url, 'post.byId', { id: 50 });
    const etag = first.headers.get('etag') as string;
    const byAlice = await get(varnish.url, 'post.byId', { id: 50 }, { authorization: 'Bearer alice', 'if-none-match': etag });
    expect(byAlice.headers.get('cache-control') ?? '').not.toMatch(/public/);
    const before = api.calls.byId;
    expect((await get(varnish.url, 'post.byId', { id: 50 })).headers.get('x-edge')).toBe('HIT');
    expect(api.calls.byId).toBe(before);
  });

  it('answers a conditional read with the old ETag through Varnish with the new data once a mutation returned, never 304', async () => {
    const first = await get(varnish.url, 'post.byId', { id: 60 });
    const etag = first.headers.get('etag') as string;
    const cached = await get(varnish.url, 'post.byId', { id: 60 }, { 'if-none-match': etag });
    expect(cached.status).toBe(304);
    expect((await mutate(api.url, 'post.rename', { id: 60, title: 'sixty' })).status).toBe(200);
    const after = await get(varnish.url, 'post.byId', { id: 60 }, { 'if-none-match': etag });
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body).result.data.title).toBe('sixty');
  });

  it('refuses at startup a namespace an HTTP header cannot carry, instead of failing every public answer', async () => {
    expect(() => createEdge({ purger: async () => {}, namespace: 'блог:' })).toThrow(TypeError);
  });
});
