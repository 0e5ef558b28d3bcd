import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { documentCaching, type OpenApiCacheExtension, type OpenApiInvalidatesExtension } from 'trpc-caching/openapi';
import { generateOpenApiDocument } from 'trpc-to-openapi';
import { describe, expect, it } from 'vitest';
import { createRestApp, serveRestApp } from '../support/apps/rest.js';
import { rest } from '../support/clients.js';

type Operation = OpenAPIV3_1.OperationObject & { 'x-cache'?: OpenApiCacheExtension; 'x-cache-invalidates'?: OpenApiInvalidatesExtension };

function build() {
  const app = createRestApp(undefined);
  const generated = generateOpenApiDocument(app.router, { title: 'Test API', version: '1.0.0', baseUrl: 'http://127.0.0.1/api' });
  const document = documentCaching(generated, { router: app.router, caching: app.caching });
  const op = (path: string, method: 'get' | 'post' | 'patch') =>
    (document.paths?.[path] as Record<string, Operation> | undefined)?.[method] as Operation;
  return { app, generated, document, op };
}

describe('documentCaching', () => {
  it('adds x-cache with scope, TTL and static or derived tags to every cached operation', () => {
    const { op } = build();
    expect(op('/posts', 'get')['x-cache']).toEqual({ scope: 'user', ttl: 60_000, tags: [] });
    expect(op('/posts/{id}', 'get')['x-cache']).toEqual({ scope: 'user', ttl: 30_000, tags: 'derived from input' });
    expect(op('/feed', 'get')['x-cache']).toEqual({ scope: 'public', ttl: 120_000, tags: ['feed'] });
  });

  it('says it in the description and documents X-Cache, Cache-Control, ETag and 304', () => {
    const { op } = build();
    const byId = op('/posts/{id}', 'get');
    expect(byId.description).toBe(
      "Cached per user (each caller's own entry) for 30 s, with tags derived from the input. `X-Cache` says HIT or MISS; send the `ETag` back in `If-None-Match` to get 304 while it is current.",
    );
    expect(op('/feed', 'get').description).toMatch(/^Cached for everyone \(public scope\) for 120 s, with tags `feed`\./);
    const ok = byId.responses?.['200'] as OpenAPIV3_1.ResponseObject;
    expect(Object.keys(ok.headers ?? {})).toEqual(['X-Cache', 'Cache-Control', 'ETag', 'Vary']);
    // What cacheResponseMeta sends by default: a private response is revalidated every time.
    expect((ok.headers?.['Cache-Control'] as OpenAPIV3_1.HeaderObject | undefined)?.schema).toMatchObject({
      example: 'private, max-age=0',
    });
    expect(byId.responses?.['304']).toMatchObject({ description: expect.stringContaining('Not Modified') });
    expect(byId.parameters).toContainEqual(expect.objectContaining({ name: 'If-None-Match', in: 'header' }));
    // A public operation: public to requests without credentials, private (with Vary) to the others.
    const feedOk = op('/feed', 'get').responses?.['200'] as OpenAPIV3_1.ResponseObject;
    const feedCacheControl = feedOk.headers?.['Cache-Control'] as OpenAPIV3_1.HeaderObject | undefined;
    expect(feedCacheControl?.schema).toMatchObject({ example: 'public, max-age=120' });
    expect(feedCacheControl?.description).toContain('`private, max-age=0` to a request with an `Authorization` or `Cookie` header');
    expect(Object.keys(feedOk.headers ?? {})).toContain('Vary');
  });

  it('documents the surrogate-key header of public operations with an edge, and the batch rule of Cache-Control', () => {
    const app = createRestApp(undefined);
    const generated = generateOpenApiDocument(app.router, { title: 'Test API', version: '1.0.0', baseUrl: 'http://127.0.0.1/api' });
    const document = documentCaching(generated, { router: app.router, caching: app.caching, edge: { header: 'xkey', namespace: '' } });
    const get = (path: string) => (document.paths?.[path] as Record<string, Operation> | undefined)?.get;
    const feed = get('/feed')?.responses?.['200'] as OpenAPIV3_1.ResponseObject;
    const headers = (feed.headers ?? {}) as Record<string, OpenAPIV3_1.HeaderObject>;
    expect(headers.xkey?.schema).toMatchObject({ example: 'all p:feed t:feed' });
    expect(headers['Cache-Control']?.description).toContain('In a tRPC batch');
    // A per-user operation never carries keys: a shared cache must not store it.
    const posts = get('/posts')?.responses?.['200'] as OpenAPIV3_1.ResponseObject;
    expect(Object.keys(posts.headers ?? {})).not.toContain('xkey');
  });

  it('says what every invalidating mutation invalidates, naming the operations a path target covers', () => {
    const { op } = build();
    const update = op('/posts/{id}', 'patch');
    expect(update['x-cache-invalidates']).toEqual({
      self: true,
      users: 'derived from input and result',
      paths: [],
      tags: 'derived from input and result',
      all: false,
      operations: [],
    });
    expect(update.description).toBe(
      "Invalidates the caller's cached responses; the cached responses of the users it concerns (derived from its input and result); cached responses tagged with tags derived from its input and result.",
    );
    const reset = op('/posts/reset', 'post');
    expect(reset['x-cache-invalidates']?.operations).toEqual(['post-list', 'post-byId']);
    expect(reset.description).toBe("Invalidates every user's cached `post` (`post-list`, `post-byId`).");
    const ok = reset.responses?.['200'] as OpenAPIV3_1.ResponseObject;
    expect((ok.headers?.['Cache-Control'] as OpenAPIV3_1.HeaderObject | undefined)?.schema).toMatchObject({ example: 'no-store' });
  });

  it('documents the Cache-Control that cacheResponseMeta sends when it is given a maxAge', () => {
    const app = createRestApp(undefined);
    const generated = generateOpenApiDocument(app.router, { title: 'Test API', version: '1.0.0', baseUrl: 'http://127.0.0.1/api' });
    const cacheControlOf = (document: typeof generated, path: string) => {
      const get = (document.paths?.[path] as Record<string, Operation> | undefined)?.get;
      const ok = get?.responses?.['200'] as OpenAPIV3_1.ResponseObject | undefined;
      return (ok?.headers?.['Cache-Control'] as OpenAPIV3_1.HeaderObject | undefined)?.schema;
    };
    const revalidate = documentCaching(generated, { router: app.router, caching: app.caching, maxAge: 0 });
    expect(cacheControlOf(revalidate, '/posts/{id}')).toMatchObject({ example: 'private, max-age=0' });
    expect(cacheControlOf(revalidate, '/feed')).toMatchObject({ example: 'public, max-age=0' });
    const perScope = documentCaching(generated, {
      router: app.router,
      caching: app.caching,
      maxAge: (entry) => (entry.scope === 'public' ? 600 : 0),
    });
    expect(cacheControlOf(perScope, '/posts')).toMatchObject({ example: 'private, max-age=0' });
    expect(cacheControlOf(perScope, '/feed')).toMatchObject({ example: 'public, max-age=600' });
  });

  it('documents the Cache-Control the server sends by default, to anonymous and to signed-in callers', async () => {
    const { app, op } = build();
    const served = await serveRestApp(app);
    try {
      const documented = (path: string) => {
        const ok = op(path, 'get').responses?.['200'] as OpenAPIV3_1.ResponseObject;
        return ok.headers?.['Cache-Control'] as OpenAPIV3_1.HeaderObject;
      };
      const sent = async (user: string | null, path: string) => (await rest(served.url, user, path)).headers.get('cache-control');
      expect(documented('/posts/{id}').schema).toMatchObject({ example: await sent('alice', '/posts/1') });
      expect(documented('/feed').schema).toMatchObject({ example: await sent(null, '/feed') });
      expect(documented('/feed').description).toContain(`\`${await sent('alice', '/feed')}\` to a request with an`);
    } finally {
      await served.close();
    }
  });

  it('leaves operations that do not use the cache, or turn it off, as generated', () => {
    const { op, generated } = build();
    const original = (path: string) => (generated.paths?.[path] as Record<string, Operation> | undefined)?.get;
    expect(op('/ping', 'get')).toEqual(original('/ping'));
    expect(op('/clock', 'get')).toEqual(original('/clock'));
  });

  it('does not change the document it is given', () => {
    const { generated } = build();
    expect(JSON.stringify(generated)).not.toContain('x-cache');
  });

  it('produces a document that validates as OpenAPI 3.1', async () => {
    const { document } = build();
    // The parser dereferences in place; it gets its own copy.
    const api = await SwaggerParser.validate(structuredClone(document) as OpenAPIV3_1.Document);
    expect(api.info.title).toBe('Test API');
  });
});
