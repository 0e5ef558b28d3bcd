// End to end: the example app on a real port, driven by a typed tRPC client and plain fetch on REST,
// on the in-memory store and on a real redis-server; then /docs in headless Chromium.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createTRPCClient, httpLink } from '@trpc/client';
import type { OpenAPIV3_1 } from 'openapi-types';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { launchChromium } from '../../test/support/browser.js';
import { rest as restAs } from '../../test/support/clients.js';
import { type RedisServer, startRedis } from '../../test/support/redis.js';
import type { Note } from '../src/db.js';
import type { AppRouter } from '../src/router.js';
import { type RunningApp, start } from '../src/server.js';

const TOKENS = { alice: 'alice-token', bob: 'bob-token', carol: 'carol-token' } as const;
type Who = keyof typeof TOKENS | null;

/** A typed tRPC client for one user (null: anonymous) that keeps the headers of its last response. */
function trpcAs(baseUrl: string, who: Who) {
  const seen: { last?: Headers } = {};
  const client = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl}/trpc`,
        headers: who === null ? {} : { authorization: `Bearer ${TOKENS[who]}` },
        fetch: async (input, init) => {
          const response = await fetch(input, init as RequestInit);
          seen.last = response.headers;
          return response;
        },
      }),
    ],
  });
  return {
    client,
    /** A header of the last response. */
    header: (name: string) => seen.last?.get(name) ?? null,
  };
}

/** Plain fetch on the REST API as a user, with the shared helper that sends `Bearer <token>`. */
const rest = (baseUrl: string, who: Who, path: string, init?: Parameters<typeof restAs>[3]) =>
  restAs(baseUrl, who === null ? null : TOKENS[who], path, init);

interface NotePage {
  items: Note[];
  total: number;
}

let redis: RedisServer | undefined;
afterAll(async () => {
  await redis?.dispose();
});

const stores = [
  { name: 'memory', redisUrl: async (): Promise<string | undefined> => undefined },
  {
    name: 'redis',
    async redisUrl(): Promise<string | undefined> {
      redis ??= await startRedis();
      await redis.command('FLUSHALL');
      return redis.url;
    },
  },
];

describe.each(stores)('the example app on the $name store', (store) => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const launch = async () => {
    const redisUrl = await store.redisUrl();
    // A small delay keeps concurrent requests overlapping, as with a real database. Client and server share
    // this process's event loop on a machine running other suites: a generous store time bound keeps a
    // stalled loop from turning a HIT into a BYPASS (the time bound has its own tests).
    app = await start({ port: 0, dbDelayMs: 5, cacheTimeout: 2_000, ...(redisUrl === undefined ? {} : { redisUrl }) });
    return app;
  };

  it('uses the store it was started with', async () => {
    const { url, store: used } = await launch();
    await rest(url, 'alice', '/notes');
    if (store.name === 'redis') {
      expect(used).toBe(redis?.url);
      // The entry is written after the response went out: wait for it.
      await vi.waitFor(async () => expect(Number(await redis?.command('DBSIZE'))).toBeGreaterThan(0));
    } else {
      expect(used).toBe('memory');
    }
  });

  it("never serves one user's notes to another, under many concurrent tRPC and REST requests", async () => {
    const { url, queries } = await launch();
    const users = ['alice', 'bob', 'carol'] as const;
    const calls = Array.from({ length: 60 }, (_, i) => {
      const who = users[i % 3] ?? 'alice';
      // 12 distinct calls (user x page x transport), each asked 5 times at once.
      const page = 1 + (Math.floor(i / 6) % 2);
      return i % 2 === 0
        ? trpcAs(url, who)
            .client.notes.list.query({ page, pageSize: 3 })
            .then((body) => ({ who, body: body as NotePage }))
        : rest(url, who, `/notes?page=${page}&pageSize=3`).then((response) => ({ who, body: response.body as NotePage }));
    });
    const results = await Promise.all(calls);
    for (const { who, body } of results) {
      expect(body.items).toHaveLength(3);
      for (const note of body.items) expect(note.ownerId === who || note.sharedWith.includes(who)).toBe(true);
    }
    // alice owns 24; bob owns 12 and sees alice's note 1; carol owns 6 and sees bob's first note.
    const totals = Object.fromEntries(results.map(({ who, body }) => [who, body.total]));
    expect(totals).toEqual({ alice: 24, bob: 13, carol: 7 });
    // REST sends query-string values as strings, tRPC as numbers: two raw inputs, two entries per page.
    // Identical concurrent misses ran the resolver once.
    expect(queries.listNotes).toBe(12);
  });

  it('does not serve a note from the cache to a user who may not see it', async () => {
    const { url } = await launch();
    const alice = await rest(url, 'alice', '/notes/1');
    expect(alice.status).toBe(200);
    expect((await rest(url, 'alice', '/notes/1')).headers.get('x-cache')).toBe('HIT');
    const carol = await rest(url, 'carol', '/notes/1');
    expect(carol.status).toBe(404);
    expect(carol.headers.get('x-cache')).toBe('BYPASS');
    expect((await rest(url, null, '/notes/1')).status).toBe(401);
    await expect(trpcAs(url, 'carol').client.notes.byId.query({ id: 1 })).rejects.toThrow(/No note 1/);
  });

  it('invalidates both participants of a shared note when either changes it, and no one else', async () => {
    const { url, queries } = await launch();
    const alice = trpcAs(url, 'alice');
    const bob = trpcAs(url, 'bob');
    const carol = trpcAs(url, 'carol');
    await alice.client.notes.byId.query({ id: 1 });
    await bob.client.notes.list.query({});
    await carol.client.notes.list.query({});
    await alice.client.notes.byId.query({ id: 1 });
    expect(alice.header('x-cache')).toBe('HIT');

    // bob edits alice's note, which she shared with him.
    await bob.client.notes.update.mutate({ id: 1, title: 'Edited by bob' });
    expect(bob.header('cache-control')).toBe('no-store');

    expect((await alice.client.notes.byId.query({ id: 1 })).title).toBe('Edited by bob');
    expect(alice.header('x-cache')).toBe('MISS');
    const bobsList = await bob.client.notes.list.query({});
    expect(bob.header('x-cache')).toBe('MISS');
    expect(bobsList.items.find((note) => note.id === 1)?.title).toBe('Edited by bob');
    await carol.client.notes.list.query({});
    expect(carol.header('x-cache')).toBe('HIT');
    expect(queries.listNotes).toBe(3);
  });

  it("removes a deleted shared note from the other participant's cached list and note", async () => {
    const { url } = await launch();
    const bob = trpcAs(url, 'bob');
    expect((await bob.client.notes.list.query({ pageSize: 50 })).items.map((note) => note.id)).toContain(1);
    await bob.client.notes.byId.query({ id: 1 });
    await bob.client.notes.byId.query({ id: 1 });
    expect(bob.header('x-cache')).toBe('HIT');

    // Only the owner may delete: bob's attempt fails and invalidates nothing.
    expect((await rest(url, 'bob', '/notes/1', { method: 'DELETE' })).status).toBe(404);
    await bob.client.notes.byId.query({ id: 1 });
    expect(bob.header('x-cache')).toBe('HIT');

    expect((await rest(url, 'alice', '/notes/1', { method: 'DELETE' })).status).toBe(200);
    const list = await bob.client.notes.list.query({ pageSize: 50 });
    expect(bob.header('x-cache')).toBe('MISS');
    expect(list.items.map((note) => note.id)).not.toContain(1);
    await expect(bob.client.notes.byId.query({ id: 1 })).rejects.toThrow(/No note 1/);
  });

  it('adds a shared note to the new participant’s cached list and removes it when unshared, over REST', async () => {
    const { url } = await launch();
    const before = await rest(url, 'carol', '/notes?pageSize=50');
    expect((before.body as NotePage).items.map((note) => note.id)).not.toContain(2);
    expect((await rest(url, 'carol', '/notes?pageSize=50')).headers.get('x-cache')).toBe('HIT');

    const shared = await rest(url, 'alice', '/notes/2/shares', { method: 'POST', body: { userId: 'carol' } });
    expect(shared.status).toBe(200);
    expect((shared.body as Note).sharedWith).toEqual(['carol']);
    const withIt = await rest(url, 'carol', '/notes?pageSize=50');
    expect(withIt.headers.get('x-cache')).toBe('MISS');
    expect((withIt.body as NotePage).items.map((note) => note.id)).toContain(2);
    expect((await rest(url, 'carol', '/notes/2')).status).toBe(200);

    expect((await rest(url, 'alice', '/notes/2/shares/carol', { method: 'DELETE' })).status).toBe(200);
    const without = await rest(url, 'carol', '/notes?pageSize=50');
    expect(without.headers.get('x-cache')).toBe('MISS');
    expect((without.body as NotePage).items.map((note) => note.id)).not.toContain(2);
    expect((await rest(url, 'carol', '/notes/2')).status).toBe(404);
  });

  it('a REST mutation invalidates what the tRPC query reads, and a tRPC mutation what the REST query reads', async () => {
    const { url } = await launch();
    const alice = trpcAs(url, 'alice');
    expect((await alice.client.notes.list.query({})).total).toBe(24);
    await alice.client.notes.list.query({});
    expect(alice.header('x-cache')).toBe('HIT');
    const created = await rest(url, 'alice', '/notes', { method: 'POST', body: { title: 'Over REST' } });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const list = await alice.client.notes.list.query({});
    expect(alice.header('x-cache')).toBe('MISS');
    expect(list.total).toBe(25);
    expect(list.items[0]?.title).toBe('Over REST');

    await rest(url, 'bob', '/notes/25');
    expect((await rest(url, 'bob', '/notes/25')).headers.get('x-cache')).toBe('HIT');
    await trpcAs(url, 'bob').client.notes.update.mutate({ id: 25, title: 'Over tRPC' });
    const after = await rest(url, 'bob', '/notes/25');
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.body).toMatchObject({ id: 25, title: 'Over tRPC' });
  });

  it('shares one public feed entry between anonymous and signed-in callers, refreshed by publishing and by a rename', async () => {
    const { url, queries } = await launch();
    const anonymous = await rest(url, null, '/feed');
    expect(anonymous.headers.get('x-cache')).toBe('MISS');
    expect(anonymous.headers.get('cache-control')).toBe('public, max-age=30');
    expect(anonymous.headers.get('vary')).toBeNull();
    const alice = trpcAs(url, 'alice');
    // REST without a query string and tRPC with {} send the same raw input: the same entry.
    expect((await alice.client.feed.list.query({})).total).toBe(14);
    expect(alice.header('x-cache')).toBe('HIT');
    // Alice sent credentials: a shared cache must not keep her response, so the public entry goes out private.
    expect(alice.header('cache-control')).toBe('private, max-age=30');
    expect(queries.feed).toBe(1);

    await alice.client.notes.create.mutate({ title: 'Published', published: true });
    const feed = await trpcAs(url, null).client.feed.list.query({});
    expect(feed.total).toBe(15);
    expect(feed.items[0]?.title).toBe('Published');

    // users.rename invalidates the `notes` and `feed` paths: every user's view of alice's name.
    await trpcAs(url, 'bob').client.notes.byId.query({ id: 1 });
    await alice.client.users.rename.mutate({ name: 'Alice Liddell' });
    expect((await trpcAs(url, 'bob').client.notes.byId.query({ id: 1 })).ownerName).toBe('Alice Liddell');
    const renamed = (await rest(url, null, '/feed')).body as NotePage;
    expect(renamed.items[0]).toMatchObject({ title: 'Published', ownerName: 'Alice Liddell' });
  });

  it('keeps the public feed current after a published note is renamed, shared or unshared', async () => {
    const { url } = await launch();
    const alice = trpcAs(url, 'alice');
    const note = await alice.client.notes.create.mutate({ title: 'In the feed', published: true });
    const anonymous = trpcAs(url, null);
    const inFeed = async () => (await anonymous.client.feed.list.query({})).items.find((item) => item.id === note.id);
    expect(await inFeed()).toMatchObject({ title: 'In the feed', sharedWith: [] });
    expect((await inFeed())?.title).toBe('In the feed');
    expect(anonymous.header('x-cache')).toBe('HIT');
    // Each mutation changes what the feed shows of the note: each must move the feed, or the next reader sees the old one.
    await alice.client.notes.update.mutate({ id: note.id, title: 'Renamed' });
    expect(await inFeed()).toMatchObject({ title: 'Renamed', sharedWith: [] });
    await alice.client.notes.share.mutate({ id: note.id, userId: 'bob' });
    expect(await inFeed()).toMatchObject({ title: 'Renamed', sharedWith: ['bob'] });
    await alice.client.notes.unshare.mutate({ id: note.id, userId: 'bob' });
    expect(await inFeed()).toMatchObject({ title: 'Renamed', sharedWith: [] });
    await alice.client.notes.delete.mutate({ id: note.id });
    expect(await inFeed()).toBeUndefined();
  });

  it('sends X-Cache, Cache-Control, Vary and a strong ETag, and 304 for a current If-None-Match over REST and tRPC', async () => {
    const { url } = await launch();
    const miss = await rest(url, 'bob', '/notes/1');
    expect(miss.headers.get('x-cache')).toBe('MISS');
    expect(miss.headers.get('cache-control')).toBe('private, max-age=0');
    expect(miss.headers.get('vary')).toBe('Authorization');
    const etag = miss.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);

    const notModified = await rest(url, 'bob', '/notes/1', { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBeUndefined();
    expect(notModified.headers.get('x-cache')).toBe('HIT');
    expect(notModified.headers.get('etag')).toBe(etag);

    const trpcUrl = `${url}/trpc/notes.byId?input=${encodeURIComponent(JSON.stringify({ id: 1 }))}`;
    const auth = { authorization: 'Bearer bob-token' };
    const first = await fetch(trpcUrl, { headers: auth });
    const trpcEtag = first.headers.get('etag') ?? '';
    await first.text();
    const trpc304 = await fetch(trpcUrl, { headers: { ...auth, 'if-none-match': trpcEtag } });
    expect(trpc304.status).toBe(304);
    expect(await trpc304.text()).toBe('');

    await rest(url, 'alice', '/notes/1', { method: 'PATCH', body: { body: 'changed' } });
    const changed = await rest(url, 'bob', '/notes/1', { headers: { 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('x-cache')).toBe('MISS');
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(changed.body).toMatchObject({ body: 'changed' });
  });
});

describe('the example app documentation', () => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('serves an OpenAPI document that validates and documents caching and invalidation', async () => {
    app = await start({ port: 0, dbDelayMs: 0 });
    const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as OpenAPIV3_1.Document;
    await SwaggerParser.validate(structuredClone(document));
    const operation = (path: string, method: 'get' | 'post' | 'patch') =>
      (document.paths?.[path] as Record<string, Record<string, unknown>> | undefined)?.[method];
    expect(operation('/notes/{id}', 'get')?.['x-cache']).toEqual({ scope: 'user', ttl: 60_000, tags: 'derived from input' });
    expect(operation('/feed', 'get')?.['x-cache']).toEqual({ scope: 'public', ttl: 30_000, tags: ['feed'], sMaxAge: 600_000 });
    expect(operation('/me', 'patch')?.['x-cache-invalidates']).toMatchObject({
      paths: ['notes', 'feed'],
      operations: ['notes-list', 'notes-byId', 'feed-list'],
    });
    expect(operation('/feed', 'get')?.security).toBeUndefined();
    // The documented Cache-Control is the one the server sends (maxAge 0 for per-user data, the TTL for the feed).
    const documentedCacheControl = (path: string) =>
      (operation(path, 'get')?.responses as Record<string, OpenAPIV3_1.ResponseObject> | undefined)?.['200']?.headers?.['Cache-Control'];
    expect(documentedCacheControl('/notes/{id}')).toMatchObject({ schema: { example: 'private, max-age=0' } });
    expect(documentedCacheControl('/feed')).toMatchObject({ schema: { example: 'public, max-age=30' } });
  });

  it('lists every operation on /docs in headless Chromium, loading nothing from another origin', async () => {
    app = await start({ port: 0, dbDelayMs: 0 });
    const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as OpenAPIV3_1.Document;
    const expected = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item ?? {}).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const foreign: string[] = [];
      const origin = new URL(app.url).origin;
      page.on('request', (request) => {
        if (new URL(request.url()).origin !== origin && !request.url().startsWith('data:')) foreign.push(request.url());
      });
      const response = await page.goto(`${app.url}/docs`);
      expect(response?.status()).toBe(200);
      await page.locator('.opblock').first().waitFor({ timeout: 15_000 });
      const listed = await page
        .locator('.opblock-summary')
        .evaluateAll((blocks) =>
          blocks.map(
            (block) =>
              `${block.querySelector('.opblock-summary-method')?.textContent ?? ''} ${block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''}`,
          ),
        );
      expect([...listed].sort()).toEqual([...expected].sort());
      expect(await page.locator('.info .title').textContent()).toContain('Notes API');
      expect(foreign).toEqual([]);

      // "Try it out" on the public feed: the live response shows the cache headers.
      const feed = page.locator('.opblock-get', { has: page.locator('[data-path="/feed"]') });
      await feed.locator('.opblock-summary').click();
      await feed.getByRole('button', { name: 'Try it out' }).click();
      await feed.getByRole('button', { name: 'Execute' }).click();
      const xCache = feed.locator('.live-responses-table .headerline', { hasText: /x-cache:/i });
      await xCache.waitFor({ timeout: 15_000 });
      expect((await xCache.textContent())?.trim().toLowerCase()).toBe('x-cache: miss');
    } finally {
      await browser.close();
    }
  });
});

/** The environment of the demo: in-process server, in-memory store, no delay. */
function demoEnv(): NodeJS.ProcessEnv {
  const { REDIS_URL: _redis, DEMO_URL: _url, ...rest } = process.env;
  return { ...rest, DB_DELAY_MS: '0' };
}

describe('npm run demo', () => {
  it('prints a MISS, a HIT, the mutation and the invalidated read, with their headers, and a 304', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), ['example-app/src/demo.ts'], {
      cwd: root,
      env: demoEnv(),
      timeout: 60_000,
    });
    const lines = stdout.split('\n').filter((line) => /^\s*\d+\. /.test(line));
    const statusOf = (line: string | undefined) =>
      /(\d{3}) {2}X-Cache: (\S+)/
        .exec(line ?? '')
        ?.slice(1)
        .join(' ');
    expect(lines.map(statusOf)).toEqual([
      '200 MISS',
      '200 HIT',
      '200 MISS',
      '200 HIT',
      '200 -',
      '200 MISS',
      '200 HIT',
      '200 MISS',
      '200 HIT',
      '200 MISS',
      '304 HIT',
      '200 -',
      '200 MISS',
    ]);
    expect(lines[4]).toContain('Cache-Control: no-store');
    expect(lines[0]).toMatch(/Cache-Control: private, max-age=0 +ETag: "[0-9a-f]{10}…"/);
    expect(stdout).toContain('title: "Edited by bob" (invalidated: read again)');
  });
});
