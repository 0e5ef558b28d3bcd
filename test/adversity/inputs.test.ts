import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import superjson from 'superjson';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CachingError, type CachingMeta, createCaching } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';

const FRUITS = ['apple', 'banana', 'Blueberry', 'cherry', 'cranberry'];

interface Ctx {
  user: null;
}

/**
 * A public search whose input holds values that superjson carries but JSON does not: a RegExp, typed
 * arrays and a URL. Each resolver run is counted per input, so a test sees which calls missed.
 */
function createSearchApp(store: Keyv) {
  const errors: CachingError[] = [];
  const runs = new Map<string, number>();
  const ran = (label: string) => runs.set(label, (runs.get(label) ?? 0) + 1);
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create({ transformer: superjson });
  // A generous store timeout: client and server share this loop on a busy machine; faults are not the subject here.
  const caching = createCaching<Ctx>({ user: () => null, store, onError: (error) => errors.push(error), timeout: 2_000 });
  const publicQuery = caching.cachedQuery(t.procedure).meta({ cache: { scope: 'public' } });
  const router = t.router({
    search: publicQuery.input(z.object({ re: z.instanceof(RegExp) })).query(({ input }) => {
      ran(String(input.re));
      return FRUITS.filter((fruit) => input.re.test(fruit));
    }),
    sum: publicQuery.input(z.object({ words: z.instanceof(Uint8Array).or(z.instanceof(Uint16Array)) })).query(({ input }) => {
      ran(input.words.constructor.name);
      let total = input.words.BYTES_PER_ELEMENT * 1000;
      for (const word of input.words) total += word;
      return total;
    }),
    failure: publicQuery.input(z.object({ error: z.instanceof(Error) })).query(({ input }) => {
      ran(input.error.message);
      return input.error.message;
    }),
    host: publicQuery.input(z.object({ link: z.instanceof(URL) })).query(({ input }) => {
      ran(input.link.href);
      return input.link.pathname;
    }),
  });
  caching.validateRouter(router);
  return { router, runs, errors };
}

type SearchRouter = ReturnType<typeof createSearchApp>['router'];

/** Serves the app with tRPC's standalone adapter on a free loopback port; returns a batching superjson client. */
async function serve(app: ReturnType<typeof createSearchApp>) {
  const handler = createHTTPHandler({ router: app.router, createContext: (): Ctx => ({ user: null }) });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = createTRPCClient<SearchRouter>({
    links: [httpBatchLink({ url: `http://127.0.0.1:${port}`, transformer: superjson })],
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { client, close };
}

describe.each(storeKinds())('exotic inputs over HTTP with superjson on $name', (kind) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function start() {
    const app = createSearchApp(await kind.fresh());
    const served = await serve(app);
    close = served.close;
    return { app, client: served.client };
  }

  it('answers a public search for /^b/ with its own result after /^c/ was cached, and each from the cache afterwards', async () => {
    const { app, client } = await start();
    expect(await client.search.query({ re: /^c/ })).toEqual(['cherry', 'cranberry']);
    expect(await client.search.query({ re: /^b/ })).toEqual(['banana']);
    expect(await client.search.query({ re: /^b/i })).toEqual(['banana', 'Blueberry']);
    // A second round is served from the cache, each input from its own entry.
    expect(await client.search.query({ re: /^c/ })).toEqual(['cherry', 'cranberry']);
    expect(await client.search.query({ re: /^b/ })).toEqual(['banana']);
    expect(await client.search.query({ re: /^b/i })).toEqual(['banana', 'Blueberry']);
    expect(Object.fromEntries(app.runs)).toEqual({ '/^c/': 1, '/^b/': 1, '/^b/i': 1 });
    expect(app.errors).toEqual([]);
  });

  it('answers searches for different patterns sent in one batch each with its own result', async () => {
    const { app, client } = await start();
    const [c, b, bi] = await Promise.all([
      client.search.query({ re: /^c/ }),
      client.search.query({ re: /^b/ }),
      client.search.query({ re: /^b/i }),
    ]);
    expect([c, b, bi]).toEqual([['cherry', 'cranberry'], ['banana'], ['banana', 'Blueberry']]);
    expect(Object.fromEntries(app.runs)).toEqual({ '/^c/': 1, '/^b/': 1, '/^b/i': 1 });
  });

  it('keeps typed arrays of the same bytes but different element types apart', async () => {
    const { app, client } = await start();
    // Both hold the bytes 01 00 on a little-endian machine.
    expect(await client.sum.query({ words: new Uint8Array([1, 0]) })).toBe(1001);
    expect(await client.sum.query({ words: new Uint16Array([1]) })).toBe(2001);
    expect(await client.sum.query({ words: new Uint8Array([1, 0]) })).toBe(1001);
    expect(Object.fromEntries(app.runs)).toEqual({ Uint8Array: 1, Uint16Array: 1 });
  });

  it('keys a URL input by its address', async () => {
    const { app, client } = await start();
    expect(await client.host.query({ link: new URL('https://example.com/a') })).toBe('/a');
    expect(await client.host.query({ link: new URL('https://example.com/b') })).toBe('/b');
    expect(await client.host.query({ link: new URL('https://example.com/x/../a') })).toBe('/a');
    expect(Object.fromEntries(app.runs)).toEqual({ 'https://example.com/a': 1, 'https://example.com/b': 1 });
    expect(app.errors).toEqual([]);
  });

  it('answers an input holding an Error from the resolver every time, and reports where the Error sits', async () => {
    const { app, client } = await start();
    expect(await client.failure.query({ error: new Error('disk full') })).toBe('disk full');
    expect(await client.failure.query({ error: new Error('quota exceeded') })).toBe('quota exceeded');
    expect(await client.failure.query({ error: new Error('disk full') })).toBe('disk full');
    expect(Object.fromEntries(app.runs)).toEqual({ 'disk full': 2, 'quota exceeded': 1 });
    expect(app.errors.map((error) => error.operation)).toEqual(['key', 'key', 'key']);
    expect(app.errors[0]?.message).toMatch(/input holds an? \w*Error .* at input\.error/);
  });
});
