// What the fast path answers by itself, what it hands on, and that the app's auth runs before any cached answer.
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterEach, describe, expect, it } from 'vitest';
import { fastPath, fastPathFetch, withNotModifiedFetch } from '../../../src/http/index.js';
import { listen } from '../../support/apps/harness.js';
import { storeKinds } from '../../support/stores.js';
import { exchange, fastApp, serveFastApp } from './app.js';

const as = (user: string) => ({ headers: { authorization: `Bearer ${user}` } });
const ECHO = `/trpc/echo?input=${encodeURIComponent(JSON.stringify({ json: 'hi' }))}`;

describe.each(storeKinds())('the fast path on $name', (kind) => {
  const open: Array<{ listening: { close(): Promise<void> }; caching: { close(): void } }> = [];
  afterEach(async () => {
    for (const app of open.splice(0)) {
      await app.listening.close();
      app.caching.close();
    }
  });
  async function pair(revoked = new Set<string>(['revoked'])) {
    const store = await kind.fresh();
    const fast = await serveFastApp(store, 'fast', true, revoked);
    const control = await serveFastApp(store, 'control', false, revoked);
    open.push(fast, control);
    return { fast, control };
  }

  it('answers a cached hit by itself: neither the resolver nor the regular handler runs, and the bytes are tRPC’s', async () => {
    const { fast, control } = await pair();
    await exchange(fast.listening.url + ECHO, as('alice'));
    await exchange(control.listening.url + ECHO, as('alice'));
    const before = { ...fast.counters };
    const hit = await exchange(fast.listening.url + ECHO, as('alice'));
    expect(fast.counters.regular).toBe(before.regular);
    expect(fast.counters.resolvers).toBe(before.resolvers);
    expect(hit.headers).toContain('x-cache: HIT');
    expect(hit).toEqual(await exchange(control.listening.url + ECHO, as('alice')));
  });

  it('answers a batch of hits, with a repeated path, in one response like tRPC’s', async () => {
    const { fast, control } = await pair();
    const batch = `/trpc/echo,pub,echo?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { json: 1 }, 1: { json: 'x' }, 2: { json: 1 } }))}`;
    await exchange(fast.listening.url + batch, as('bob'));
    await exchange(control.listening.url + batch, as('bob'));
    const before = fast.counters.regular;
    const hit = await exchange(fast.listening.url + batch, as('bob'));
    expect(fast.counters.regular).toBe(before);
    expect(hit.headers).toContain('x-cache: HIT, HIT, HIT');
    expect(hit).toEqual(await exchange(control.listening.url + batch, as('bob')));
  });

  it('answers a conditional GET whose ETag matches with 304 by itself', async () => {
    const { fast, control } = await pair();
    const first = await exchange(fast.listening.url + ECHO, as('alice'));
    await exchange(control.listening.url + ECHO, as('alice'));
    const etag = first.headers.find((h) => h.startsWith('etag: '))?.slice(6) as string;
    const before = fast.counters.regular;
    const conditional = { headers: { ...as('alice').headers, 'if-none-match': etag } };
    const notModified = await exchange(fast.listening.url + ECHO, conditional);
    expect(notModified.status).toBe(304);
    expect(fast.counters.regular).toBe(before);
    expect(notModified).toEqual(await exchange(control.listening.url + ECHO, conditional));
  });

  it('runs the app’s auth before any cached answer: a revoked user with a cached entry gets tRPC’s 401', async () => {
    const revoked = new Set<string>();
    const { fast, control } = await pair(revoked);
    await exchange(fast.listening.url + ECHO, as('carol'));
    await exchange(control.listening.url + ECHO, as('carol'));
    expect((await exchange(fast.listening.url + ECHO, as('carol'))).headers).toContain('x-cache: HIT');
    revoked.add('carol');
    const checks = fast.counters.authChecks;
    const refused = await exchange(fast.listening.url + ECHO, as('carol'));
    expect(refused.status).toBe(401);
    // Checked on the fast path, then once more by the regular handler that answered.
    expect(fast.counters.authChecks).toBe(checks + 2);
    expect(refused).toEqual(await exchange(control.listening.url + ECHO, as('carol')));
  });

  it('hands a miss to the regular handler once, whose answer is tRPC’s own', async () => {
    const { fast, control } = await pair();
    const before = { ...fast.counters };
    const miss = await exchange(fast.listening.url + ECHO, as('dave'));
    expect(fast.counters.regular).toBe(before.regular + 1);
    expect(fast.counters.resolvers).toBe(before.resolvers + 1);
    expect(miss.headers).toContain('x-cache: MISS');
    expect(miss).toEqual(await exchange(control.listening.url + ECHO, as('dave')));
  });

  it('lets a side effect of createContext count a request once, whether the fast path answered it or handed it on', async () => {
    const { fast } = await pair();
    const before = fast.counters.counted;
    await exchange(fast.listening.url + ECHO, as('frank'));
    expect(fast.counters.counted).toBe(before + 1);
    await exchange(fast.listening.url + ECHO, as('frank'));
    expect(fast.counters.counted).toBe(before + 2);
  });

  it('leaves a context object the app reuses across requests as it was: the regular handler still fills a miss', async () => {
    const store = await kind.fresh();
    const app = fastApp(store, 'shared');
    const shared = { user: 'zed' };
    const createContext = () => shared;
    const trpc = createHTTPHandler({ router: app.router, createContext, basePath: '/trpc/' });
    const fast = fastPath({ router: app.router, createContext, basePath: '/trpc/' });
    const listening = await listen((req, res) => fast(req, res, () => trpc(req, res)));
    open.push({ listening, caching: app.caching });
    const first = await exchange(listening.url + ECHO);
    const second = await exchange(`${listening.url}/trpc/echo?input=${encodeURIComponent(JSON.stringify({ json: 'other' }))}`);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(Object.getOwnPropertySymbols(shared)).toEqual([]);
  });

  it('stops trying a path that keeps falling back, and tries it on every request again once a try is answered', async () => {
    const { fast } = await pair();
    const boom = (input: string) => `/trpc/boom?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
    // `boom` fails for an odd input: never a hit, so every try is wasted (the app's auth runs on it, then again).
    const before = fast.counters.authChecks;
    for (let i = 0; i < 40; i++) expect((await exchange(fast.listening.url + boom('odd'), as('alice'))).status).toBe(400);
    const checks = fast.counters.authChecks - before;
    // A try on each request would run auth 80 times; after 8 fallbacks in a row only one request in 16 is tried.
    expect(checks).toBeGreaterThanOrEqual(40);
    expect(checks).toBeLessThanOrEqual(40 + 8 + 2);
    // The same path with an input that hits: handed on until a try is answered, then answered on every request.
    await exchange(fast.listening.url + boom('ok'), as('alice'));
    let handedOn = 0;
    for (let i = 0; i < 16; i++) {
      const regular = fast.counters.regular;
      await exchange(fast.listening.url + boom('ok'), as('alice'));
      if (fast.counters.regular !== regular) handedOn++;
    }
    expect(handedOn).toBeLessThan(16);
    for (let i = 0; i < 5; i++) {
      const regular = fast.counters.regular;
      expect((await exchange(fast.listening.url + boom('ok'), as('alice'))).headers).toContain('x-cache: HIT');
      expect(fast.counters.regular).toBe(regular);
    }
  });

  it('never serves one user’s hit to another', async () => {
    const { fast } = await pair();
    await exchange(fast.listening.url + ECHO, as('alice'));
    expect((await exchange(fast.listening.url + ECHO, as('alice'))).headers).toContain('x-cache: HIT');
    const bob = await exchange(fast.listening.url + ECHO, as('bob'));
    expect(bob.headers).toContain('x-cache: MISS');
    expect(bob.body).toContain('"user":"bob"');
    const bobAgain = await exchange(fast.listening.url + ECHO, as('bob'));
    expect(bobAgain.headers).toContain('x-cache: HIT');
    expect(bobAgain.body).toContain('"user":"bob"');
    expect(bobAgain.body).not.toContain('alice');
  });

  it('hands on what it does not serve: POSTs, uncached procedures, streamed batches, REST routes and other paths outside its base', async () => {
    const { fast } = await pair();
    for (const [path, init] of [
      ['/trpc/bump', { method: 'POST', headers: { ...as('alice').headers, 'content-type': 'application/json' } }],
      ['/trpc/plain', as('alice')],
      ['/trpc/missing', as('alice')],
      ['/elsewhere/echo', as('alice')],
      ['/api/echo?q=rest', as('alice')],
    ] as const) {
      const before = fast.counters.regular;
      await exchange(fast.listening.url + path, init);
      const second = await exchange(fast.listening.url + path, init);
      expect(fast.counters.regular, path).toBe(before + 2);
      // trpc-to-openapi's REST route is served, from the cache, by the handler behind.
      if (path.startsWith('/api/')) expect([second.status, second.headers]).toEqual([200, expect.arrayContaining(['X-Cache: HIT'])]);
    }
    const stream = { headers: { ...as('alice').headers, 'trpc-accept': 'application/jsonl' } };
    await exchange(`${fast.listening.url}/trpc/echo?batch=1`, as('alice'));
    const before = fast.counters.regular;
    await exchange(`${fast.listening.url}/trpc/echo?batch=1`, stream);
    expect(fast.counters.regular).toBe(before + 1);
  });

  it('answers in fetch form exactly what fetchRequestHandler answers, hits and 304s included', async () => {
    const store = await kind.fresh();
    const app = fastApp(store, 'fetch');
    open.push({ listening: { close: async () => {} }, caching: app.caching });
    const createContext = async ({ req }: { req: Request }) => {
      const auth = req.headers.get('authorization');
      return app.createContext({ req: { headers: { authorization: auth ?? undefined } } as never });
    };
    let regular = 0;
    const handler = withNotModifiedFetch((req: Request) => {
      regular++;
      return fetchRequestHandler({ endpoint: '/trpc', req, router: app.router, createContext, responseMeta: app.responseMeta });
    });
    const fast = fastPathFetch({ router: app.router, endpoint: '/trpc', createContext, responseMeta: app.responseMeta });
    const both = async (init: RequestInit) => {
      const fromFast =
        (await fast(new Request(`http://localhost${ECHO}`, init))) ?? (await handler(new Request(`http://localhost${ECHO}`, init)));
      const fromTrpc = await handler(new Request(`http://localhost${ECHO}`, init));
      return [fromFast, fromTrpc] as const;
    };
    const read = async (response: Response) => ({ status: response.status, headers: [...response.headers], body: await response.text() });
    expect(await fast(new Request(`http://localhost${ECHO}`, as('erin')))).toBeUndefined();
    await handler(new Request(`http://localhost${ECHO}`, as('erin')));
    const before = regular;
    const [hitFast, hitTrpc] = await both({ headers: as('erin').headers });
    expect(regular).toBe(before + 1);
    expect(await read(hitFast)).toEqual(await read(hitTrpc));
    const etag = hitTrpc.headers.get('etag') as string;
    const [nmFast, nmTrpc] = await both({ headers: { ...as('erin').headers, 'if-none-match': etag } });
    expect(nmFast.status).toBe(304);
    expect(await read(nmFast)).toEqual(await read(nmTrpc));
  });
});
