// X-Cache-Sync on REST routes (trpc-to-openapi, which lists no calls: a request is one call): a query says what it
// depends on, a mutation what it moved for its caller, each with its input's digest; a refused one moved nothing.
import type { IncomingMessage } from 'node:http';
import { cacheResponseMeta, withCacheHeaders } from 'trpc-caching/http';
import { createOpenApiHttpHandler } from 'trpc-to-openapi';
import { afterEach, describe, expect, it } from 'vitest';
import { inputDigest, parseSyncHeader, SYNC_HEADER } from '../../src/client/index.js';
import { type Listening, listen } from '../support/apps/harness.js';
import { createRestApp, type RestCtx, userOf } from '../support/apps/rest.js';
import { rest } from '../support/clients.js';

let served: Listening | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

async function serveRest(): Promise<string> {
  const handler = createOpenApiHttpHandler({
    router: createRestApp(undefined).router,
    createContext: withCacheHeaders(({ req }: { req: IncomingMessage | Request }): RestCtx => ({ user: userOf(req) })),
    responseMeta: cacheResponseMeta({ sync: true }),
  });
  served = await listen((req, res) => {
    req.url = req.url?.slice('/api'.length) ?? '/';
    void handler(req, res);
  });
  return served.url;
}

describe('X-Cache-Sync over REST', () => {
  it("describes the one call of a REST request: a query's tags, a mutation's move, nothing for a refused one", async () => {
    const url = await serveRest();
    const read = await rest(url, 'alice', '/posts/1');
    expect(parseSyncHeader(read.headers.get(SYNC_HEADER))).toEqual([
      // The input as the procedure received it: a path parameter arrives as a string.
      { path: 'post.byId', in: inputDigest({ id: '1' }), scope: 'user', tags: ['post:1'] },
    ]);
    const patched = await rest(url, 'alice', '/posts/1', { method: 'PATCH', body: { title: 'Renamed' } });
    expect(parseSyncHeader(patched.headers.get(SYNC_HEADER))).toEqual([
      {
        path: 'post.update',
        in: inputDigest({ id: '1', title: 'Renamed' }),
        moved: { id: expect.any(String), self: true, tags: ['post:1'] },
      },
    ]);
    const refused = await rest(url, 'bob', '/posts/1', { method: 'PATCH', body: { title: 'not mine' } });
    expect(refused.status).toBe(403);
    const [entry] = parseSyncHeader(refused.headers.get(SYNC_HEADER)) ?? [];
    expect(entry).toMatchObject({ path: 'post.update' });
    expect(entry).not.toHaveProperty('moved');
  });
});
