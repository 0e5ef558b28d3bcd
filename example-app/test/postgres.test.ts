// The example app in Postgres mode (DATABASE_URL), on a real PostgreSQL (wal_level=logical) and a real Redis: an
// UPDATE made outside the app, with a plain `pg` client as psql would, reaches a client holding the cached query
// over the live stream, and its next read is fresh; a rolled-back UPDATE moves nothing.
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import pg from 'pg';
import { type InvalidationEvent, invalidationLink } from 'trpc-caching/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestEventSource } from '../../test/live/event-source.js';
import { rest } from '../../test/support/clients.js';
import { type PostgresServer, startPostgres } from '../../test/support/postgres.js';
import { type RedisServer, startRedis } from '../../test/support/redis.js';
import type { Note } from '../src/db.js';
import type { AppRouter } from '../src/router.js';
import { type RunningApp, start } from '../src/server.js';

// Generous: the machine is shared; the listener's bound on loopback is milliseconds (docs/postgres.md).
const EVENT_TIMEOUT = 20_000;

let postgres: PostgresServer;
let redis: RedisServer;
let app: RunningApp;
const stops: (() => void)[] = [];

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  app = await start({ port: 0, databaseUrl: postgres.url, redisUrl: redis.url, dbDelayMs: 0, cacheTimeout: 2_000 });
}, 60_000);

afterAll(async () => {
  for (const stop of stops) stop();
  await app?.close();
  await Promise.all([postgres?.dispose(), redis?.dispose()]);
});

/** Runs SQL on a connection of its own, outside the app, as `psql` would. */
async function outside(...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * One user's page, as the browser page builds it: a TanStack Query cache with invalidationLink in front, the live
 * stream over SSE with the token as a connection parameter, and observers holding the queries.
 */
async function pageOf(token: string) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
  const live: InvalidationEvent[] = [];
  let streaming = false;
  const client = createTRPCClient<AppRouter>({
    links: [
      invalidationLink({
        queryClient,
        onInvalidate: (event) => {
          if (event.source === 'live') live.push(event);
        },
        live: (handlers) => {
          client.invalidations.subscribe(undefined, {
            ...handlers,
            onData(value) {
              streaming = true;
              handlers.onData(value);
            },
          });
        },
      }),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url: `${app.url}/trpc`, connectionParams: { token }, EventSource: TestEventSource }),
        false: httpLink({ url: `${app.url}/trpc`, headers: { authorization: `Bearer ${token}` } }),
      }),
    ],
  });
  const trpc = createTRPCOptionsProxy<AppRouter>({ client, queryClient });
  const note = new QueryObserver(queryClient, trpc.notes.byId.queryOptions({ id: 1 }) as ConstructorParameters<typeof QueryObserver>[1]);
  const list = new QueryObserver(
    queryClient,
    trpc.notes.list.queryOptions({ page: 1, pageSize: 50 }) as ConstructorParameters<typeof QueryObserver>[1],
  );
  stops.push(
    note.subscribe(() => {}),
    list.subscribe(() => {}),
    () => queryClient.clear(),
  );
  await until(() => streaming && note.getCurrentResult().isSuccess && list.getCurrentResult().isSuccess, 'the page to load');
  return {
    live,
    note: () => note.getCurrentResult().data as Note | undefined,
    /** How many times the note's query got data: 1 until something invalidates it. */
    noteFetches: () => queryClient.getQueryCache().find({ queryKey: trpc.notes.byId.queryKey({ id: 1 }) })?.state.dataUpdateCount ?? 0,
    listTitles: () => ((list.getCurrentResult().data as { items: Note[] } | undefined)?.items ?? []).map((item) => item.title),
  };
}

/** Waits for `check` to hold, up to `EVENT_TIMEOUT`. */
async function until(check: () => boolean, what: string): Promise<void> {
  await vi.waitFor(
    () => {
      if (!check()) throw new Error(`still waiting for ${what}`);
    },
    { timeout: EVENT_TIMEOUT, interval: 20 },
  );
}

const movesNote = (id: number) => (event: InvalidationEvent) => event.tags.includes(`note:${id}`);

describe('the example app in Postgres mode', () => {
  it('stores its notes in PostgreSQL, seeded, with REPLICA IDENTITY FULL on its tables', async () => {
    expect(app.database).toBe(postgres.url);
    const totals = await Promise.all(
      ['alice-token', 'bob-token', 'carol-token'].map(
        async (token) => ((await rest(app.url, token, '/notes')).body as { total: number }).total,
      ),
    );
    expect(totals).toEqual([24, 13, 7]);
    const identity = await postgres.query<{ relname: string; relreplident: string }>(
      "SELECT relname, relreplident FROM pg_class WHERE relname IN ('users', 'notes') ORDER BY relname",
    );
    expect(identity).toEqual([
      { relname: 'notes', relreplident: 'f' },
      { relname: 'users', relreplident: 'f' },
    ]);
  });

  it("shows an UPDATE made outside the app in bob's cached note and list over the live stream, and serves every reader fresh data", async () => {
    const bob = await pageOf('bob-token');
    expect(bob.note()?.title).toBe("alice's note 1");
    // alice's copy is cached too (REST), and carol's note, which the UPDATE does not concern.
    await rest(app.url, 'alice-token', '/notes/1');
    await rest(app.url, 'carol-token', '/notes/37');
    expect((await rest(app.url, 'alice-token', '/notes/1')).headers.get('x-cache')).toBe('HIT');

    await outside("UPDATE notes SET title = 'Edited in psql' WHERE id = 1");

    await until(() => bob.note()?.title === 'Edited in psql', "the edit in bob's cached note");
    await until(() => bob.listTitles().includes('Edited in psql'), "the edit in bob's cached list");
    expect(bob.live.some(movesNote(1))).toBe(true);
    const alice = await rest(app.url, 'alice-token', '/notes/1');
    expect((alice.body as Note).title).toBe('Edited in psql');
    expect(alice.headers.get('x-cache')).toBe('MISS');
    expect((await rest(app.url, 'carol-token', '/notes/37')).headers.get('x-cache')).toBe('HIT');
  });

  it('moves nothing for a rolled-back UPDATE', async () => {
    const bob = await pageOf('bob-token');
    const title = bob.note()?.title;
    const fetches = bob.noteFetches();

    await outside('BEGIN', "UPDATE notes SET title = 'Rolled back' WHERE id = 1", 'ROLLBACK');
    // A committed change of another note after it: the listener applies transactions in commit order, so once this
    // one's move has reached bob, a move for the rolled-back one would have come before it.
    await outside("UPDATE notes SET body = 'After the rollback' WHERE id = 37");
    await until(() => bob.live.some(movesNote(37)), 'the move of the later commit');

    expect(bob.live.filter(movesNote(1))).toEqual([]);
    expect(bob.noteFetches()).toBe(fetches);
    expect(bob.note()?.title).toBe(title);
    expect((await rest(app.url, 'alice-token', '/notes/1')).body).toMatchObject({ title });
  });
  it("keeps the app's own mutations read-your-writes on PostgreSQL: share, unshare, publish and delete", async () => {
    const total = async (token: string, path = '/notes') => ((await rest(app.url, token, path)).body as { total: number }).total;
    const before = { carol: await total('carol-token'), feed: await total('carol-token', '/feed') };
    expect((await rest(app.url, 'alice-token', '/notes/2/shares', { method: 'POST', body: { userId: 'carol' } })).status).toBe(200);
    expect(await total('carol-token')).toBe(before.carol + 1);
    expect((await rest(app.url, 'alice-token', '/notes/2/shares/carol', { method: 'DELETE' })).status).toBe(200);
    expect(await total('carol-token')).toBe(before.carol);
    expect((await rest(app.url, 'alice-token', '/notes/2', { method: 'PATCH', body: { published: true } })).status).toBe(200);
    expect(await total('carol-token', '/feed')).toBe(before.feed + 1);
    expect((await rest(app.url, 'alice-token', '/notes/2', { method: 'DELETE' })).status).toBe(200);
    expect(await total('carol-token', '/feed')).toBe(before.feed);
    expect((await rest(app.url, 'carol-token', '/notes/2/shares', { method: 'POST', body: { userId: 'carol' } })).status).toBe(404);
  });

  it("shows a note shared in psql (its shared_with column) in the new participant's cached list, and a rename in psql in the cached feed", async () => {
    const carol = async () => (await rest(app.url, 'carol-token', '/notes?pageSize=50')).body as { items: Note[] };
    const feed = async () => (await rest(app.url, null, '/feed?pageSize=50')).body as { items: Note[] };
    expect((await carol()).items.some((note) => note.id === 4)).toBe(false);
    expect((await feed()).items.some((note) => note.ownerName === 'Alice')).toBe(true);

    await outside(
      "UPDATE notes SET shared_with = array_append(shared_with, 'carol') WHERE id = 4",
      "UPDATE users SET name = 'Alice P.' WHERE id = 'alice'",
    );

    await vi.waitFor(async () => expect((await carol()).items.some((note) => note.id === 4)).toBe(true), {
      timeout: EVENT_TIMEOUT,
      interval: 50,
    });
    await vi.waitFor(async () => expect((await feed()).items.every((note) => note.ownerName !== 'Alice')).toBe(true), {
      timeout: EVENT_TIMEOUT,
      interval: 50,
    });
  });
});
