import type { AddressInfo } from 'node:net';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { server } from './readme-server.js';

describe("docs/http.md's HTTP headers and OpenAPI example", () => {
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('caches a REST GET per user with headers, and answers 304 to a current If-None-Match', async () => {
    const get = (user: string, headers: Record<string, string> = {}) =>
      fetch(`${url}/api/profile`, { headers: { authorization: `Bearer ${user}`, ...headers } });
    const miss = await get('ann');
    expect(await miss.json()).toEqual({ id: 'ann' });
    expect(miss.headers.get('x-cache')).toBe('MISS');
    expect(miss.headers.get('cache-control')).toBe('private, max-age=0');
    const etag = miss.headers.get('etag') ?? '';
    const notModified = await get('ann', { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('x-cache')).toBe('HIT');
    const other = await get('ben');
    expect(await other.json()).toEqual({ id: 'ben' });
    expect(other.headers.get('x-cache')).toBe('MISS');
  });

  it('answers the same procedure over tRPC from the same cache user', async () => {
    const response = await fetch(`${url}/trpc/profile`, { headers: { authorization: 'Bearer cy' } });
    expect(await response.json()).toEqual({ result: { data: { id: 'cy' } } });
    expect(response.headers.get('x-cache')).toBe('MISS');
    expect((await fetch(`${url}/api/profile`, { headers: { authorization: 'Bearer cy' } })).headers.get('x-cache')).toBe('HIT');
  });

  it('serves a valid OpenAPI document with x-cache', async () => {
    const document = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPIV3_1.Document;
    await SwaggerParser.validate(structuredClone(document));
    expect((document.paths?.['/profile']?.get as Record<string, unknown> | undefined)?.['x-cache']).toEqual({
      scope: 'user',
      ttl: 60_000,
      tags: [],
    });
  });
});
