import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Keyv from 'keyv';
import { type CachePurgeMessage, cachingChannels, createCaching, createMemoryStore } from 'trpc-caching';
import { cloudflarePurger, createEdge, fastlyPurger, PurgeRefused, type Purger } from 'trpc-caching/http';
import { afterEach, describe, expect, it } from 'vitest';
import { type EdgeApp, getQuery, memoryTitleDb, postMutation, startEdgeApp } from '../support/apps/edge.js';
import { type Listening, listen } from '../support/apps/harness.js';
import { until } from '../support/until.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly at: number;
}

/** A local stand-in for a provider's API: records each request and answers what `answer` says. */
async function provider(answer: (seen: Seen, res: ServerResponse) => void): Promise<Listening & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: performance.now() };
      seen.push(request);
      answer(request, res);
    });
  });
  return { ...(await listen(server)), seen };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

/** A caching instance whose every invalidation purges through `purger`. */
function instance(purger: Purger, options: Parameters<typeof createEdge>[0] extends infer O ? Partial<O> : never = {}) {
  const edge = createEdge({ purger, settle: 0, retryDelay: 5, retryMax: 20, ...options });
  const caching = createCaching({ user: () => null, store: new Keyv({ store: createMemoryStore().opts.store }), edge, onError: () => {} });
  closing.push(async () => caching.close());
  return caching;
}

describe('Fastly purger', () => {
  it('POSTs /service/{id}/purge with the keys in Surrogate-Key, Fastly-Key auth and, when soft, Fastly-Soft-Purge: 1', async () => {
    const api = await provider((seen, res) => {
      const ok =
        seen.method === 'POST' &&
        seen.url === '/service/SVC1/purge' &&
        seen.headers['fastly-key'] === 'secret' &&
        typeof seen.headers['surrogate-key'] === 'string';
      json(
        res,
        ok ? 200 : 400,
        ok
          ? Object.fromEntries(
              String(seen.headers['surrogate-key'])
                .split(' ')
                .map((k) => [k, 'id']),
            )
          : { msg: 'bad' },
      );
    });
    closing.push(api.close);
    const caching = instance(fastlyPurger({ serviceId: 'SVC1', token: 'secret', soft: true, endpoint: api.url }));
    await caching.invalidate({ paths: ['post'], tags: ['post:1', 'a b'] });
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]?.headers['surrogate-key']).toBe('p:post t:post%3A1 t:a%20b');
    expect(api.seen[0]?.headers['fastly-soft-purge']).toBe('1');
    expect(caching.stats().purges).toMatchObject({ sent: 1, failed: 0, pending: 0 });
  });

  it('splits more than 256 keys into several requests, and purges nothing for a move of user scopes only', async () => {
    const api = await provider((_seen, res) => json(res, 200, {}));
    closing.push(api.close);
    const caching = instance(fastlyPurger({ serviceId: 'SVC1', token: 'secret', endpoint: api.url }));
    await caching.invalidate({ users: ['ann'] });
    expect(api.seen).toHaveLength(0);
    await caching.invalidate({ tags: Array.from({ length: 300 }, (_, i) => `t${i}`) });
    expect(api.seen.map((s) => String(s.headers['surrogate-key']).split(' ').length)).toEqual([256, 44]);
    expect(api.seen[0]?.headers['fastly-soft-purge']).toBeUndefined();
  });
});

describe('Cloudflare purger', () => {
  it('POSTs /zones/{id}/purge_cache with {"tags": [...]}, a Bearer token, at most 100 tags a request', async () => {
    const api = await provider((seen, res) => {
      const body = JSON.parse(seen.body) as { tags?: unknown };
      const ok =
        seen.method === 'POST' &&
        seen.url === '/client/v4/zones/Z9/purge_cache' &&
        seen.headers.authorization === 'Bearer tok' &&
        seen.headers['content-type'] === 'application/json' &&
        Array.isArray(body.tags) &&
        body.tags.length <= 100;
      json(res, ok ? 200 : 400, { success: ok, errors: [], messages: [], result: { id: 'Z9' } });
    });
    closing.push(api.close);
    const caching = instance(cloudflarePurger({ zoneId: 'Z9', token: 'tok', endpoint: `${api.url}/client/v4` }));
    await caching.invalidate({ tags: Array.from({ length: 150 }, (_, i) => `t${i}`) });
    expect(api.seen.map((s) => (JSON.parse(s.body) as { tags: string[] }).tags.length)).toEqual([100, 50]);
    await caching.invalidate({ all: true });
    expect(JSON.parse(api.seen[2]?.body ?? '{}')).toEqual({ tags: ['all'] });
    expect(caching.stats().purges).toMatchObject({ sent: 2, failed: 0 });
  });

  it('waits out a 429 for its Retry-After before the retry, then lands', async () => {
    let refused = 0;
    const api = await provider((_seen, res) => {
      if (refused++ === 0) json(res, 429, { success: false, errors: [{ code: 10000, message: 'rate limited' }] }, { 'retry-after': '1' });
      else json(res, 200, { success: true, errors: [], messages: [], result: {} });
    });
    closing.push(api.close);
    const caching = instance(cloudflarePurger({ zoneId: 'Z9', token: 'tok', endpoint: api.url }));
    await caching.invalidate({ tags: ['post:1'] });
    await until(() => caching.stats().purges.sent === 1);
    const [first, second] = api.seen;
    // A lower bound only: a busy machine can make the retry later, never earlier.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1_000 - 5);
    expect(caching.stats().purges).toMatchObject({ sent: 1, failed: 1, retries: 1, pending: 0 });
  });

  it('reads a 200 with success: false as a refusal, kept and retried', async () => {
    let answered = 0;
    const api = await provider((_seen, res) => json(res, 200, { success: answered++ > 0, errors: [], messages: [], result: {} }));
    closing.push(api.close);
    const caching = instance(cloudflarePurger({ zoneId: 'Z9', token: 'tok', endpoint: api.url }));
    await caching.invalidate({ tags: ['post:1'] });
    await until(() => caching.stats().purges.sent === 1);
    expect(caching.stats().purges.failed).toBe(1);
  });
});

describe('createEdge', () => {
  it('keeps failed purges and, above maxPending keys, collapses them into one purge of everything', async () => {
    const sent: string[][] = [];
    let down = true;
    const caching = instance(
      async (keys) => {
        if (down) throw new PurgeRefused('down', 503);
        sent.push([...keys]);
      },
      { maxPending: 3, namespace: 'app:' },
    );
    await caching.invalidate({ tags: ['a', 'b'] });
    expect(caching.stats().purges.pending).toBe(2);
    await caching.invalidate({ tags: ['c', 'd'] });
    expect(caching.stats().purges.pending).toBe(1);
    down = false;
    await until(() => caching.stats().purges.pending === 0);
    expect(sent).toEqual([['app:all']]);
  });

  it('lets a mutation return without waiting for its purge when await is false', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let landed = false;
    const caching = instance(
      async () => {
        await held;
        landed = true;
      },
      { await: false },
    );
    await caching.invalidate({ tags: ['a'] });
    expect(landed).toBe(false);
    release();
    await until(() => landed);
  });

  it('waits for a slow purge no longer than its timeout, and counts it once it lands', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const caching = instance(() => held, { timeout: 50 });
    await caching.invalidate({ tags: ['a'] });
    expect(caching.stats().purges.sent).toBe(0);
    release();
    await until(() => caching.stats().purges.sent === 1);
  });

  it('publishes each purge attempt on trpc-caching:purge: the failed first one, then the retry that landed', async () => {
    const heard: CachePurgeMessage[] = [];
    const listener = (message: unknown) => heard.push(message as CachePurgeMessage);
    subscribe(cachingChannels.purge, listener);
    try {
      let calls = 0;
      const caching = instance(async () => {
        if (calls++ === 0) throw new Error('edge down');
      });
      await caching.invalidate({ tags: ['a', 'b'] });
      await until(() => heard.length === 2);
      expect(heard.map(({ keys, ok, attempt }) => ({ keys, ok, attempt }))).toEqual([
        { keys: 2, ok: false, attempt: 'first' },
        { keys: 2, ok: true, attempt: 'retry' },
      ]);
      expect(caching.stats().purges).toMatchObject({ sent: 1, failed: 1, retries: 1, pending: 0 });
    } finally {
      unsubscribe(cachingChannels.purge, listener);
    }
  });

  it('refuses an option that is not a move sink, naming it', () => {
    expect(() => createCaching({ user: () => null, edge: {} as never })).toThrow(/edge/);
    expect(() => createEdge({} as never)).toThrow(/purger/);
  });
});

describe('surrogate keys on responses', () => {
  let app: EdgeApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const start = async (header: 'xkey' | 'Cache-Tag' | 'Surrogate-Key') => {
    app = await startEdgeApp({
      store: new Keyv({ store: createMemoryStore().opts.store }),
      db: memoryTitleDb(),
      edge: { header, purger: async () => {}, settle: 0 },
    });
    return app;
  };

  it('sends the union of a public batch’s keys in the configured header, with the smallest s-maxage', async () => {
    const { url } = await start('Cache-Tag');
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 }, 1: {} }));
    const response = await fetch(`${url}/post.byId,news.list?batch=1&input=${input}`);
    expect(response.headers.get('cache-tag')).toBe('all,p:post,p:post.byId,t:post%3A1,p:news,p:news.list');
    expect(response.headers.get('cache-control')).toBe('public, max-age=60, s-maxage=60');
  });

  it('gives a batch with any per-user call private Cache-Control and no keys, and a request with credentials no keys', async () => {
    const { url } = await start('Surrogate-Key');
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 }, 1: {} }));
    const batch = await fetch(`${url}/post.byId,post.mine?batch=1&input=${input}`);
    expect(batch.headers.get('cache-control')).toBe('private, max-age=0');
    expect(batch.headers.get('surrogate-key')).toBeNull();
    const credentialed = await getQuery(url, 'post.byId', { id: 1 }, 'ann');
    expect(credentialed.headers.get('cache-control')).toBe('private, max-age=0');
    expect(credentialed.headers.get('surrogate-key')).toBeNull();
  });

  it('never puts an input or a user in a key: only all, path prefixes and tags', async () => {
    const { url } = await start('xkey');
    const { headers } = await getQuery(url, 'post.byId', { id: 7 });
    expect(headers.get('xkey')).toBe('all p:post p:post.byId t:post%3A7');
    await postMutation(url, 'post.rename', { id: 7, title: 'x' });
    expect(app?.caching.stats().purges.sent).toBe(1);
  });

  it('refuses meta.cache.sMaxAge on a per-user procedure at startup', async () => {
    const { initTRPC } = await import('@trpc/server');
    const t = initTRPC.meta<import('trpc-caching').CachingMeta>().create();
    const caching = createCaching({ user: () => null });
    closing.push(async () => caching.close());
    const router = t.router({
      mine: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { sMaxAge: 1_000 } })
        .query(() => 1),
    });
    expect(() => caching.validateRouter(router)).toThrow(/sMaxAge.*scope: 'public'/);
  });
});
