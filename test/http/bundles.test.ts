import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cjsBuild } from '../support/cjs-build.js';

/**
 * The published CommonJS build: `trpc-caching` and `trpc-caching/http` are separate entry files that share
 * chunks, so that a context made by one and a procedure made by the other meet through one copy of each module.
 */
describe('the CommonJS build, root and subpaths as separate bundles', () => {
  const cjs = cjsBuild('trpc-caching-cjs-');

  it('builds one CommonJS file per subpath export', async () => {
    // One per subpath export of package.json ('.' is index).
    const { exports } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const expected = Object.keys(exports)
      .filter((subpath) => subpath !== './package.json')
      .map((subpath) => (subpath === '.' ? 'index.cjs' : `${subpath.slice(2)}.cjs`))
      .sort();
    const entries = (await readdir(cjs.outDir)).filter((name) => name.endsWith('.cjs') && !name.startsWith('chunk-'));
    expect(entries.sort()).toEqual(expected);
  });

  it('keeps one copy of each shared module across the entry files', async () => {
    const files = (await readdir(cjs.outDir)).filter((name) => name.endsWith('.cjs'));
    const holding = async (text: string) => {
      const found: string[] = [];
      for (const name of files) if ((await readFile(join(cjs.outDir, name), 'utf8')).includes(text)) found.push(name);
      return found;
    };
    // The call observer's mark (engine/calls.ts) and the store capabilities' mark (stores/capabilities.ts): each module
    // is in one file, required by the root, http and redis entries alike.
    expect(await holding('trpc-caching.call-observer')).toHaveLength(1);
    expect(await holding('trpc-caching.store-capabilities')).toHaveLength(1);
  });

  it('keeps the HTTP and OpenAPI names out of the root entry', () => {
    const main = cjs.load(join(cjs.outDir, 'index.cjs')) as Record<string, unknown>;
    expect(main.createCaching).toBeTypeOf('function');
    for (const name of ['withCacheHeaders', 'cacheResponseMeta', 'withNotModified', 'withNotModifiedFetch', 'documentCaching']) {
      expect(main[name], name).toBeUndefined();
    }
  });

  it('sends cache headers when the procedures come from the root bundle and the headers from trpc-caching/http', async () => {
    const main = cjs.load(join(cjs.outDir, 'index.cjs')) as typeof import('../../src/index.js');
    const http = cjs.load(join(cjs.outDir, 'http.cjs')) as typeof import('../../src/http/index.js');
    const openapi = cjs.load(join(cjs.outDir, 'openapi.cjs')) as typeof import('../../src/openapi/index.js');
    const { initTRPC } = cjs.load('@trpc/server') as typeof import('@trpc/server');
    const { fetchRequestHandler } = cjs.load('@trpc/server/adapters/fetch') as typeof import('@trpc/server/adapters/fetch');

    type Ctx = { user: string | null };
    const t = initTRPC.context<Ctx>().meta<import('../../src/index.js').CachingMeta>().create();
    const caching = main.createCaching<Ctx>({ user: (ctx) => ctx.user, timeout: 2_000 });
    const router = t.router({ greeting: caching.cachedQuery(t.procedure).query(({ ctx }) => `hello ${ctx.user ?? 'stranger'}`) });
    const handle = http.withNotModifiedFetch((req: Request) =>
      fetchRequestHandler({
        endpoint: '/trpc',
        req,
        router,
        createContext: http.withCacheHeaders(({ req }: { req: Request }): Ctx => ({ user: req.headers.get('x-user') })),
        responseMeta: http.cacheResponseMeta(),
      }),
    );
    try {
      const first = await handle(new Request('http://local/trpc/greeting', { headers: { 'x-user': 'ann' } }));
      expect(await first.json()).toEqual({ result: { data: 'hello ann' } });
      // The root bundle recorded the call in the log the http bundle attached: the slot is shared.
      expect(first.headers.get('x-cache')).toBe('MISS');
      expect(first.headers.get('cache-control')).toBe('private, max-age=0');
      const etag = first.headers.get('etag') ?? '';
      const second = await handle(new Request('http://local/trpc/greeting', { headers: { 'x-user': 'ann', 'if-none-match': etag } }));
      expect(second.status).toBe(304);
      expect(second.headers.get('x-cache')).toBe('HIT');
      // The OpenAPI bundle reads a caching instance made by the root bundle.
      expect(() => openapi.documentCaching({ paths: {} }, { router, caching })).not.toThrow();
    } finally {
      caching.close();
    }
  });
});
