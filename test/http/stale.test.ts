import type { IncomingMessage } from 'node:http';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import type { OpenAPIV3_1 } from 'openapi-types';
import superjson from 'superjson';
import type { CachingMeta } from 'trpc-caching';
import { cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { documentCaching, type OpenApiCacheExtension } from 'trpc-caching/openapi';
import { createOpenApiHttpHandler, generateOpenApiDocument, type OpenApiMeta } from 'trpc-to-openapi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { harness, type Listening, listen } from '../support/apps/harness.js';
import { type RestCtx, userOf } from '../support/apps/rest.js';
import { rest } from '../support/clients.js';
import { storeKinds } from '../support/stores.js';

const MINUTE = 60_000;

/**
 * Public and per-user procedures with a stale-while-revalidate window, and a public one without: TTL 1 min, window
 * 5 min (the per-user one with staleIfError), and 2 min for the one without a window.
 */
function createStaleApp(store: Keyv | undefined) {
  const state = { rev: 0 };
  const { t, authed, caching } = harness<RestCtx, OpenApiMeta & CachingMeta>(store, { timeout: 5_000 });
  const rev = z.object({ rev: z.number() });
  const router = t.router({
    news: caching
      .cachedQuery(t.procedure)
      .meta({ openapi: { method: 'GET', path: '/news' }, cache: { scope: 'public', ttl: MINUTE, staleWhileRevalidate: 5 * MINUTE } })
      .input(z.object({}))
      .output(rev)
      .query(() => ({ rev: state.rev })),
    mine: caching
      .cachedQuery(authed)
      .meta({ openapi: { method: 'GET', path: '/mine' }, cache: { ttl: MINUTE, staleWhileRevalidate: 5 * MINUTE, staleIfError: true } })
      .input(z.object({}))
      .output(rev)
      .query(() => ({ rev: state.rev })),
    plain: caching
      .cachedQuery(t.procedure)
      .meta({ openapi: { method: 'GET', path: '/plain' }, cache: { scope: 'public', ttl: 2 * MINUTE } })
      .input(z.object({}))
      .output(rev)
      .query(() => ({ rev: state.rev })),
  });
  caching.validateRouter(router);
  return { router, caching, state };
}

async function serve(app: ReturnType<typeof createStaleApp>): Promise<Listening> {
  const responseMeta = cacheResponseMeta();
  const createContext = withCacheHeaders(({ req }: { req: IncomingMessage | Request }): RestCtx => ({ user: userOf(req) }));
  const trpc = createHTTPHandler({ router: app.router, basePath: '/trpc/', createContext, responseMeta });
  const api = withNotModified(createOpenApiHttpHandler({ router: app.router, createContext, responseMeta }));
  return listen((req, res) => {
    if (req.url?.startsWith('/trpc/')) return void trpc(req, res);
    req.url = req.url?.slice('/api'.length) ?? '/';
    return void api(req, res);
  });
}

describe.each(storeKinds())('HTTP headers of stale-while-revalidate on $name', (kind) => {
  let served: Listening | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await served?.close();
    served = undefined;
  });

  async function start() {
    const app = createStaleApp(await kind.fresh());
    served = await serve(app);
    // Only Date is faked: the server, the client and Redis keep their real timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    return { app, url: served.url, later: (ms: number) => vi.setSystemTime(Date.now() + ms) };
  }

  it('says STALE and stale-while-revalidate on an expired public entry, with max-age=0 and the same ETag', async () => {
    const { url, later } = await start();
    const miss = await rest(url, null, '/news');
    expect(miss.headers.get('x-cache')).toBe('MISS');
    expect(miss.headers.get('cache-control')).toBe('public, max-age=60, stale-while-revalidate=300');
    later(MINUTE + 1_000);
    const stale = await rest(url, null, '/news');
    expect(stale.body).toEqual({ rev: 0 });
    expect(stale.headers.get('x-cache')).toBe('STALE');
    // Already past its TTL: a shared cache may keep it only to serve while it revalidates.
    expect(stale.headers.get('cache-control')).toBe('public, max-age=0, stale-while-revalidate=300');
    expect(stale.headers.get('etag')).toBe(miss.headers.get('etag'));
  });

  it('answers 304 to a STALE call whose If-None-Match is the entry it serves', async () => {
    const { url, later } = await start();
    const miss = await rest(url, null, '/news');
    later(MINUTE + 1_000);
    const notModified = await rest(url, null, '/news', { headers: { 'if-none-match': miss.headers.get('etag') ?? '' } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('x-cache')).toBe('STALE');
  });

  it('never tells a browser to serve a per-user response stale, which would hide the user’s own writes', async () => {
    const { url, later } = await start();
    const miss = await rest(url, 'alice', '/mine');
    expect(miss.headers.get('cache-control')).toBe('private, max-age=0');
    later(MINUTE + 1_000);
    const stale = await rest(url, 'alice', '/mine');
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(stale.headers.get('cache-control')).toBe('private, max-age=0');
    expect(stale.headers.get('vary')).toContain('Authorization');
  });

  it('gives a batch one token per call and stale-while-revalidate only when every call has a window', async () => {
    const { app, url, later } = await start();
    const headers: Headers[] = [];
    const client = createTRPCClient<typeof app.router>({
      links: [
        httpBatchLink({
          url: `${url}/trpc`,
          transformer: superjson,
          fetch: async (input, init) => {
            const response = await fetch(input, init as RequestInit);
            headers.push(response.headers);
            return response;
          },
        }),
      ],
    });
    await Promise.all([client.news.query({}), client.plain.query({})]);
    expect(headers.at(-1)?.get('cache-control')).toBe('public, max-age=60');
    later(MINUTE + 1_000);
    await Promise.all([client.news.query({}), client.plain.query({})]);
    expect(headers.at(-1)?.get('x-cache')).toBe('STALE, HIT');
    expect(headers.at(-1)?.get('cache-control')).toBe('public, max-age=0');
  });
});

type Operation = OpenAPIV3_1.OperationObject & { 'x-cache'?: OpenApiCacheExtension };

describe('documentCaching of stale-while-revalidate procedures', () => {
  function build() {
    const app = createStaleApp(undefined);
    const generated = generateOpenApiDocument(app.router, { title: 'Stale API', version: '1.0.0', baseUrl: 'http://127.0.0.1/api' });
    const document = documentCaching(generated, { router: app.router, caching: app.caching });
    const op = (path: string) => (document.paths?.[path] as Record<string, Operation> | undefined)?.get as Operation;
    const header = (path: string, name: string) =>
      (op(path).responses?.['200'] as OpenAPIV3_1.ResponseObject | undefined)?.headers?.[name] as OpenAPIV3_1.HeaderObject;
    return { document, op, header };
  }

  it('adds the window and staleIfError to x-cache, and nothing to operations without a window', () => {
    const { op } = build();
    expect(op('/news')['x-cache']).toEqual({
      scope: 'public',
      ttl: MINUTE,
      tags: [],
      staleWhileRevalidate: 5 * MINUTE,
      staleIfError: false,
    });
    expect(op('/mine')['x-cache']).toEqual({ scope: 'user', ttl: MINUTE, tags: [], staleWhileRevalidate: 5 * MINUTE, staleIfError: true });
    expect(op('/plain')['x-cache']).toEqual({ scope: 'public', ttl: 2 * MINUTE, tags: [] });
  });

  it('says in the description, X-Cache and Cache-Control what a client receives', async () => {
    const { document, op, header } = build();
    expect(op('/news').description).toContain(
      'For 300 s after that, an expired response is served at once (`X-Cache: STALE`) while a fresh one is computed in the background; never one that a change invalidated.',
    );
    expect(op('/mine').description).toContain('in the background, and also while computing a fresh one fails;');
    expect(op('/plain').description).not.toContain('STALE');
    expect(header('/news', 'X-Cache').description).toContain('STALE: an expired entry served while it is refreshed in the background');
    expect(header('/news', 'Cache-Control').schema).toMatchObject({ example: 'public, max-age=60, stale-while-revalidate=300' });
    expect(header('/news', 'Cache-Control').description).toContain('(`max-age=0` on a STALE response)');
    expect(header('/mine', 'Cache-Control').schema).toMatchObject({ example: 'private, max-age=0' });
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
  });
});
