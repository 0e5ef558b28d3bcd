// The live invalidation stream: moves made by others reach a user's open page over SSE, within one process and
// across two createCaching instances on one real Redis; a page that comes back after missing events resumes or is
// told to invalidate everything; nobody learns another user's scope; anonymous connections get public moves only.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import KeyvRedis from '@keyv/redis';
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { createRedisStore } from 'trpc-caching/redis';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvalidationEvent, LiveEvent } from '../../src/client/index.js';
import { scopeSegment } from '../../src/engine/keys.js';
import { LiveHub } from '../../src/live/hub.js';
import { createRawStringStore } from '../../src/stores/raw-string.js';
import { clientApp, clientFor, type ServedApp, seedPosts, serve, until } from '../client/app.js';
import { fileRedis } from '../support/redis-file.js';

const redis = fileRedis();

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

/** A served app, closed after the test. */
async function served(app: ReturnType<typeof clientApp>, port = 0): Promise<ServedApp> {
  const server = await serve(app, port);
  open.push({ close: () => server.close() }, { close: () => app.caching.close() });
  return server;
}

/** A user's page: a QueryClient with post.byId 1 and 2, post.list and feed active, and the live stream. */
async function page(url: string, user: string, extra: { onConnect?: (lastEventId: string | undefined) => void } = {}) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
  const abort = new AbortController();
  const events: InvalidationEvent[] = [];
  const live: unknown[] = [];
  const client = clientFor(url, user, {
    queryClient,
    live: true,
    signal: abort.signal,
    onInvalidate: (event) => events.push(event),
    onLive: (value) => live.push(value),
    ...extra,
  });
  open.push({
    close: () => {
      abort.abort();
      queryClient.clear();
    },
  });
  const trpc = createTRPCOptionsProxy({ client, queryClient });
  const queries = {
    one: trpc.post.byId.queryOptions({ id: 1 }),
    two: trpc.post.byId.queryOptions({ id: 2 }),
    list: trpc.post.list.queryOptions(),
    feed: trpc.feed.queryOptions(),
  };
  const observers = Object.fromEntries(
    Object.entries(queries).map(([name, options]) => {
      const observer = new QueryObserver(queryClient, options as ConstructorParameters<typeof QueryObserver>[1]);
      observer.subscribe(() => {});
      return [name, observer];
    }),
  ) as Record<keyof typeof queries, QueryObserver>;
  await until(() => Object.values(observers).every((observer) => observer.getCurrentResult().isSuccess), 10_000, 'first fetches');
  await until(() => live.length > 0, 10_000, 'the live stream to be ready');
  return {
    client,
    events,
    live,
    data: (name: keyof typeof queries) => observers[name].getCurrentResult().data,
    updatedAt: (name: keyof typeof queries) => observers[name].getCurrentResult().dataUpdatedAt,
    settled: () => until(() => queryClient.isFetching() === 0, 10_000, 'refetches'),
  };
}

/** A raw subscription to the stream as `user` (null: anonymous), collecting its events. */
function listen(url: string, user: string | null, input?: { lastEventId: string }) {
  const events: LiveEvent[] = [];
  const ids: string[] = [];
  const client = clientFor(url, user, {});
  const subscription = client.invalidations.subscribe(input, {
    onData: ({ id, data }) => {
      ids.push(id);
      events.push(data);
    },
  });
  open.push({ close: () => subscription.unsubscribe() });
  return { events, ids, ready: () => until(() => events.length > 0, 10_000, `${user}'s stream`) };
}

const moved = (events: LiveEvent[]) => events.filter((event) => event.type === 'moved').map((event) => event.moved);

describe('the live stream, in one process', () => {
  it("refetches the queries of bob's move on alice's open page, and only those", async () => {
    const app = clientApp();
    const server = await served(app);
    const alice = await page(server.url, 'alice');
    const bob = clientFor(server.url, 'bob', {});
    const feedAt = alice.updatedAt('feed');
    const twoAt = alice.updatedAt('two');
    // Bob renames alice's post 1 (shared with him): both scopes move, and the post's tag.
    await bob.post.rename.mutate({ id: 1, title: 'renamed by bob' });
    await until(() => alice.data('one') === 'renamed by bob', 5_000, "alice's page to show bob's title");
    await alice.settled();
    expect(alice.events).toMatchObject([{ source: 'live', self: true, tags: ['post:1'], all: false }]);
    // Her other per-user queries moved with her scope; the public feed did not.
    expect(alice.updatedAt('two')).not.toBe(twoAt);
    expect(alice.updatedAt('feed')).toBe(feedAt);
  });

  it('applies a move once when both the response and the stream tell the client', async () => {
    const app = clientApp();
    const server = await served(app);
    const alice = await page(server.url, 'alice');
    server.resetCalls();
    await alice.client.post.retitle.mutate({ id: 1, title: 'once' });
    // The stream's copy of the move (same id) arrives too.
    await until(() => alice.live.length >= 2, 5_000, 'the live copy of the move');
    await alice.settled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alice.events.map((event) => event.source)).toEqual(['response']);
    expect(server.count('alice', 'post.byId')).toBe(1);
  });

  it("streams no user's scope to anyone else, and only public moves to anonymous connections", async () => {
    const app = clientApp();
    const server = await served(app);
    const streams = {
      alice: listen(server.url, 'alice'),
      bob: listen(server.url, 'bob'),
      carol: listen(server.url, 'carol'),
      anon: listen(server.url, null),
    };
    for (const stream of Object.values(streams)) await stream.ready();
    const bob = clientFor(server.url, 'bob', {});
    await bob.post.rename.mutate({ id: 1, title: 'x' }); // alice's and bob's scopes, tag post:1
    await bob.post.touch.mutate(); // bob's scope only
    await app.caching.invalidate({ users: ['carol'], paths: ['counter'] }); // a job: carol's scope and a path
    await until(() => moved(streams.carol.events).length === 2 && moved(streams.bob.events).length === 3, 5_000, 'the moves');
    await new Promise((resolve) => setTimeout(resolve, 100));

    // A path is public: every connection gets it.
    expect(moved(streams.alice.events)).toEqual([
      { id: expect.any(String), self: true, tags: ['post:1'] },
      { id: expect.any(String), paths: ['counter'] },
    ]);
    expect(moved(streams.bob.events)).toEqual([
      { id: expect.any(String), self: true, tags: ['post:1'] },
      { id: expect.any(String), self: true },
      { id: expect.any(String), paths: ['counter'] },
    ]);
    expect(moved(streams.carol.events)).toEqual([
      { id: expect.any(String), tags: ['post:1'] },
      { id: expect.any(String), self: true, paths: ['counter'] },
    ]);
    expect(moved(streams.anon.events)).toEqual([
      { id: expect.any(String), tags: ['post:1'] },
      { id: expect.any(String), paths: ['counter'] },
    ]);
    const everything = JSON.stringify(Object.values(streams).map((stream) => stream.events));
    for (const user of ['alice', 'bob', 'carol']) {
      expect(everything).not.toContain(user);
      expect(everything).not.toContain(scopeSegment('trpc-caching', { kind: 'user', id: user }));
    }
  });

  it('replays what a page missed while its connection was down, without invalidating anything else', async () => {
    const app = clientApp();
    const server = await served(app);
    const reconnects: Array<string | undefined> = [];
    const alice = await page(server.url, 'alice', { onConnect: (lastEventId) => reconnects.push(lastEventId) });
    const listAt = alice.updatedAt('list');
    server.dropConnections();
    // While alice's stream is down (it retries after 200 ms), a tag of hers moves.
    await clientFor(server.url, 'bob', {}).post.retitle.mutate({ id: 1, title: 'while away' });
    await until(() => alice.data('one') === 'while away', 5_000, 'the missed move to be replayed');
    await alice.settled();
    expect(reconnects.length).toBeGreaterThanOrEqual(2);
    expect(reconnects.at(-1)).toMatch(/^[0-9a-f]{12}\.\d+\.\d+$/);
    expect(alice.events).toMatchObject([{ source: 'live', tags: ['post:1'] }]);
    expect(alice.events[0]?.reset).toBeUndefined();
    expect(alice.updatedAt('list')).toBe(listAt);
  });

  it('tells a page that comes back to another server (a restart) to invalidate everything it holds', async () => {
    const first = await serve(clientApp());
    const alice = await page(first.url, 'alice');
    const at = { one: alice.updatedAt('one'), list: alice.updatedAt('list'), feed: alice.updatedAt('feed') };
    const port = Number(new URL(first.url).port);
    await first.close();
    // A new process on the same address: a new hub, which cannot know what happened in between.
    const second = await served(clientApp(), port);
    await until(() => alice.events.length > 0, 10_000, 'the reset');
    await alice.settled();
    expect(alice.events).toMatchObject([{ source: 'live', all: true, reset: 'resume' }]);
    expect(alice.updatedAt('one')).not.toBe(at.one);
    expect(alice.updatedAt('list')).not.toBe(at.list);
    expect(alice.updatedAt('feed')).not.toBe(at.feed);
    expect(second.count('alice', 'feed')).toBe(1);
  });

  it('over httpBatchStreamLink, invalidates everything for its own mutation before it resolves, then learns the exact move from the stream, and counts streamed queries as depending on any move', async () => {
    const app = clientApp();
    const server = await served(app);
    const events: InvalidationEvent[] = [];
    const live: unknown[] = [];
    const abort = new AbortController();
    open.push({ close: () => abort.abort() });
    const client = clientFor(server.url, 'alice', {
      transport: 'httpBatchStreamLink',
      live: true,
      signal: abort.signal,
      onInvalidate: (event) => events.push(event),
      onLive: (value) => live.push(value),
    });
    await client.post.byId.query({ id: 2 });
    await until(() => live.length > 0, 5_000, 'the stream');
    // Headers of a streamed response leave before its results: the response says "unknown", so the caller's own
    // mutation invalidates everything before it resolves; the stream's move (with its id) follows.
    await client.post.retitle.mutate({ id: 1, title: 'streamed' });
    expect(events[0]).toMatchObject({ source: 'response', all: true });
    await until(() => events.length > 1, 5_000, 'the move');
    expect(events[1]).toMatchObject({ source: 'live', tags: ['post:1'] });
    // The streamed response of post.byId 2 said nothing of its tags: any tag may be one of them.
    expect(events[1]?.affects('post.byId', { id: 2 })).toBe(true);
  });

  it('answers a lastEventId it cannot replay with a reset right after ready', async () => {
    const app = clientApp();
    const server = await served(app);
    const stream = listen(server.url, 'alice', { lastEventId: '0123456789ab.7.0' });
    await until(() => stream.events.length >= 2, 5_000, 'ready and reset');
    expect(stream.events).toEqual([
      { v: 1, type: 'ready' },
      { v: 1, type: 'reset', reason: 'resume' },
    ]);
  });
});

describe.each([
  { form: 'createRawStringStore(new KeyvRedis(...))', open: () => createRawStringStore(new KeyvRedis(redis.url)) },
  { form: 'createRedisStore', open: () => createRedisStore({ url: redis.url }) },
  { form: 'createRedisStore with a near cache', open: () => createRedisStore({ url: redis.url, nearCache: true }) },
])('the live stream across processes, on $form', ({ open: openStore }) => {
  it('carries a move made through one createCaching instance to a page served by another, over Redis', async () => {
    const store = () => redis.track(openStore());
    await redis.server.command('FLUSHALL');
    // One database behind both instances, as behind two processes.
    const posts = seedPosts();
    const one = await served(clientApp(store(), { posts }));
    const two = await served(clientApp(store(), { posts }));
    const alice = await page(one.url, 'alice');
    const feedAt = alice.updatedAt('feed');
    // Bob's rename goes to the other server: his move reaches alice's page through Redis pub/sub.
    await clientFor(two.url, 'bob', {}).post.rename.mutate({ id: 1, title: 'from the other server' });
    await until(() => alice.data('one') === 'from the other server', 5_000, "alice's page to show bob's title");
    await alice.settled();
    expect(alice.events).toMatchObject([{ source: 'live', self: true, tags: ['post:1'] }]);
    expect(alice.updatedAt('feed')).toBe(feedAt);
    // A job through a third instance reaches her too, once that instance publishes (it made a stream).
    const job = clientApp(store(), { posts });
    open.push({ close: () => job.caching.close() });
    await job.caching.invalidate({ tags: ['feed'] });
    await until(() => alice.events.length > 1, 5_000, "the job's move");
    expect(alice.events[1]).toMatchObject({ source: 'live', tags: ['feed'], self: false });
  });
});

describe('the live stream when Redis drops its subscription', () => {
  it('tells every page of the process to invalidate everything: moves made meanwhile may have been lost', async () => {
    await redis.server.command('FLUSHALL');
    const server = await served(clientApp(redis.track(createRawStringStore(new KeyvRedis(redis.url)))));
    const alice = await page(server.url, 'alice');
    const feedAt = alice.updatedAt('feed');
    // The subscriber connection goes; @redis/client reconnects and subscribes again by itself.
    await redis.server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => alice.events.length > 0, 10_000, 'the reset');
    await alice.settled();
    expect(alice.events).toMatchObject([{ source: 'live', all: true, reset: 'bus' }]);
    expect(alice.updatedAt('feed')).not.toBe(feedAt);
  });
});

describe('the live stream across OS processes', () => {
  it('carries a move made in another process to a page served by this one, over Redis', async () => {
    await redis.server.command('FLUSHALL');
    const here = await served(clientApp(redis.track(createRawStringStore(new KeyvRedis(redis.url)))));
    const child = fork(fileURLToPath(new URL('./server-process.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    open.push({
      close: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.disconnect();
        }),
    });
    const there = await new Promise<string>((resolve, reject) => {
      child.once('message', (message: { url: string }) => resolve(message.url));
      child.once('exit', (code) => reject(new Error(`the server process exited with ${code}`)));
    });
    const alice = await page(here.url, 'alice');
    const at = alice.updatedAt('one');
    // Bob's rename in the other process: its data is its own, the move reaches alice's page through Redis.
    await clientFor(there, 'bob', {}).post.rename.mutate({ id: 1, title: 'from another process' });
    await until(() => alice.updatedAt('one') !== at, 10_000, "alice's refetch");
    await alice.settled();
    expect(alice.events).toMatchObject([{ source: 'live', self: true, tags: ['post:1'] }]);
  });
});

describe('a live connection', () => {
  it('keeps at most bufferSize events for a reader that does not read, then tells it to reset', async () => {
    const hub = new LiveHub({ bufferSize: 4, historySize: 16, report: () => {} });
    open.push({ close: () => hub.close() });
    const reader = scopeSegment('trpc-caching', { kind: 'user', id: 'alice' });
    const slow = hub.connect(reader, 4);
    for (let i = 0; i < 50; i++) hub.publish({ id: `m${i}`, all: false, scopes: [], paths: [], tags: [`t${i}`] });
    expect(slow.waiting).toBeLessThanOrEqual(4);
    const first = await slow.next();
    expect(first?.event).toEqual({ v: 1, type: 'reset', reason: 'overflow' });
    // What follows the reset is newer than it; the reset covered everything before.
    const rest: LiveEvent[] = [];
    while (slow.waiting > 0) rest.push((await slow.next())?.event as LiveEvent);
    expect(rest.every((event) => event.type === 'moved')).toBe(true);
  });
});

describe('a resumed connection', () => {
  it('still gets what it missed when it is cut again right after ready, before the replay', async () => {
    const hub = new LiveHub({ bufferSize: 64, historySize: 16, report: () => {} });
    open.push({ close: () => hub.close() });
    const reader = scopeSegment('trpc-caching', { kind: 'user', id: 'alice' });
    const first = hub.connect(reader);
    const ready = (await first.next())?.id as string;
    first.close();
    hub.publish({ id: 'tag', all: false, scopes: [], paths: [], tags: ['t'] });
    hub.publish({ id: 'mine', all: false, scopes: [reader], paths: [], tags: [] });
    // Cut after its ready: it comes back with that ready's id.
    const cut = hub.connect(reader, 64, ready);
    const readyAgain = (await cut.next())?.id as string;
    cut.close();
    const last = hub.connect(reader, 64, readyAgain);
    const events: LiveEvent[] = [];
    while (last.waiting > 0) events.push((await last.next())?.event as LiveEvent);
    expect(events).toEqual([
      { v: 1, type: 'ready' },
      { v: 1, type: 'moved', moved: { id: 'mine', self: true } },
      { v: 1, type: 'moved', moved: { id: 'tag', tags: ['t'] } },
    ]);
  });
});
