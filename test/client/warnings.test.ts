// What invalidationLink says when it cannot do its work: a server that does not send X-Cache-Sync (the link then
// invalidates everything after each mutation, and says so once), and a live stream that fails (once, with the Node
// setup when the runtime has no EventSource).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueryClient } from '@tanstack/query-core';
import { createTRPCUntypedClient, httpBatchLink } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { cacheResponseMeta, withCacheHeaders } from 'trpc-caching/http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { invalidationLink } from '../../src/client/index.js';
import { bearer } from '../support/apps/harness.js';
import { modelApp } from './model-app.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('invalidationLink', () => {
  it('warns once when responses lack X-Cache-Sync, and then invalidates every query after a mutation', async () => {
    const handler = createHTTPHandler({
      router: modelApp(),
      basePath: '/trpc/',
      createContext: withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: bearer(req) })),
      responseMeta: cacheResponseMeta(),
    });
    const server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trpc`;
      const queryClient = new QueryClient();
      const link = httpBatchLink({ url, transformer: superjson, headers: { authorization: 'Bearer alice' } });
      const client = createTRPCUntypedClient({ links: [invalidationLink({ queryClient }), link] });
      const key = [['feed'], { type: 'query' }];
      await queryClient.fetchQuery({ queryKey: key, queryFn: () => client.query('feed') });
      await queryClient.fetchQuery({ queryKey: [['item', 'list'], { type: 'query' }], queryFn: () => client.query('item.list') });
      // `bump` moves only the counter's path; without the header the link cannot know, so the feed goes too.
      await client.mutation('bump');
      expect(queryClient.getQueryState(key)?.isInvalidated).toBe(true);
      const said = warn.mock.calls.filter(([message]) => String(message).includes('X-Cache-Sync'));
      expect(said).toHaveLength(1);
      expect(String(said[0]?.[0])).toContain('cacheResponseMeta({ sync: true })');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('reports a live stream that fails, once however often it fails, naming the EventSource setup where there is none', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.stubGlobal('EventSource', undefined);
    const stop = new AbortController();
    let attempts = 0;
    const link = invalidationLink({
      signal: stop.signal,
      live: (handlers) => {
        attempts++;
        handlers.onError(new ReferenceError('EventSource is not defined'));
      },
    });
    createTRPCUntypedClient({ links: [link, httpBatchLink({ url: 'http://127.0.0.1:9/trpc' })] });
    await vi.waitFor(() => expect(attempts).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    stop.abort();
    vi.unstubAllGlobals();
    const said = warn.mock.calls.filter(([message]) => String(message).includes('live invalidation stream'));
    expect(said).toHaveLength(1);
    expect(String(said[0]?.[0])).toContain('EventSource is not defined');
    expect(String(said[0]?.[0])).toContain("'eventsource' package");
  });
});
