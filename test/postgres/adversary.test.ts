// Attacks on the PostgreSQL change-stream listener with a real PostgreSQL and a real Redis: each test is a way a
// committed change could fail to reach the cache, checked by reading through a real cached query afterwards.
import { initTRPC } from '@trpc/server';
import type { Keyv } from 'keyv';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CachingMeta, createCaching, type InvalidationTargets } from '../../src/index.js';
import {
  createPostgresListener,
  dropSlot,
  inspectSlot,
  type PostgresListener,
  type PostgresListenerEvent,
  type PostgresListenerOptions,
} from '../../src/postgres/index.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { connecting, destroyStore, eventually, readyRedisStore } from '../support/redis-store.js';
import { SCHEMA, type Tables } from './schema.js';

let postgres: PostgresServer;
let redis: RedisServer;
let readerStore: Keyv;
let pool: pg.Pool;

beforeAll(async () => {
  // Redis keeps its data across a restart (AOF), as a production Redis does: an outage, not a wipe.
  [postgres, redis] = await Promise.all([startPostgres(), startRedis({ appendonly: true })]);
  await postgres.query(SCHEMA);
  await postgres.query(`INSERT INTO posts (id, owner_id, title) SELECT g, 'u' || g, 'post ' || g FROM generate_series(1, 50) g`);
  readerStore = await readyRedisStore(redis.url);
  ({ caching: reader, call } = app(readerStore));
  pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  pool.on('error', () => {});
}, 60_000);

afterAll(async () => {
  await pool?.end();
  reader?.close();
  if (readerStore) await destroyStore(readerStore);
  await Promise.all([postgres?.dispose(), redis?.dispose()]);
});

// The reader: an app server whose cached queries read posts from PostgreSQL (a public one tagged by post, and a
// user-scoped one: the posts a user owns). It never invalidates anything itself.
interface Ctx {
  user: string | null;
  trace: { ran: boolean };
}
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
function app(store: Keyv) {
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user ?? undefined, store });
  const router = t.router({
    post: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { scope: 'public', ttl: 600_000, tags: ({ input }) => [`post:${Number(input.id)}`] } })
      .input(z.object({ id: z.number().int() }))
      .query(async ({ ctx, input }) => {
        ctx.trace.ran = true;
        const { rows } = await pool.query<{ title: string }>('SELECT title FROM posts WHERE id = $1', [input.id]);
        return rows[0]?.title ?? null;
      }),
    comments: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { scope: 'public', ttl: 600_000, tags: ({ input }) => [`post:${Number(input.id)}`] } })
      .input(z.object({ id: z.number().int() }))
      .query(async ({ ctx, input }) => {
        ctx.trace.ran = true;
        const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM comments WHERE post_id = $1', [input.id]);
        return rows[0]?.n ?? 0;
      }),
    mine: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { ttl: 600_000 } })
      .query(async ({ ctx }) => {
        ctx.trace.ran = true;
        const { rows } = await pool.query<{ id: number }>('SELECT id FROM posts WHERE owner_id = $1 ORDER BY id', [ctx.user]);
        return rows.map((row) => row.id);
      }),
  });
  return { caching, call: t.createCallerFactory(router) };
}
let reader: ReturnType<typeof app>['caching'];
let call: ReturnType<typeof app>['call'];
const readPost = async (id: number) => {
  const trace = { ran: false };
  return { title: await call({ user: null, trace }).post({ id }), cached: !trace.ran };
};
const readComments = async (id: number) => {
  const trace = { ran: false };
  return { count: await call({ user: null, trace }).comments({ id }), cached: !trace.ran };
};
const readMine = async (user: string) => {
  const trace = { ran: false };
  return { ids: await call({ user, trace }).mine(), cached: !trace.ran };
};

/** The mapping of docs/postgres.md: a post's tag and its owners (old and new); comments map to their post. */
const tables: PostgresListenerOptions<Tables>['tables'] = {
  posts: ({ row, old }) => ({
    tags: [`post:${row.id}`],
    users: old && old.owner_id !== row.owner_id ? [row.owner_id, old.owner_id] : [row.owner_id],
  }),
  comments: ({ row }) => {
    if (row.body === 'boom') throw new Error('a row the mapping cannot read');
    return { tags: [`post:${row.post_id}`] };
  },
};

const listeners: PostgresListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.close()));
});

function listen(
  caching: { invalidate(targets: InvalidationTargets): Promise<boolean>; store: Keyv },
  options: Partial<PostgresListenerOptions<Tables>>,
) {
  const events: PostgresListenerEvent[] = [];
  const listener = createPostgresListener<Tables>(caching, {
    connection: postgres.url,
    tables,
    maxRetryDelay: 100,
    onEvent: (event) => events.push(event),
    ...options,
  });
  listeners.push(listener);
  return { listener, events };
}

describe('PostgreSQL listener under attack', () => {
  it("still moves the other transactions' own targets when a backlog batch holds one transaction that resyncs", async () => {
    // covers names the public path the mapping reaches, as docs/postgres.md advises; a user's scope lies outside it.
    const covers = { paths: ['post'] };
    const first = listen(reader, { slot: 'batch_slot', covers });
    await first.listener.ready;
    await first.listener.close();

    expect(await readMine('u2')).toEqual({ ids: [2], cached: false });
    expect(await readMine('u2')).toEqual({ ids: [2], cached: true });
    // While no listener runs: a comment the mapping throws on, then post 2 given to another owner.
    postgres.psql(`INSERT INTO comments VALUES (1, 1, 'boom')`);
    postgres.psql(`UPDATE posts SET owner_id = 'u3' WHERE id = 2`);

    const second = listen(reader, { slot: 'batch_slot', covers });
    await second.listener.ready;
    await second.listener.caughtUp();
    expect(second.events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []))).toEqual(['mapping-failed']);
    // u2 no longer owns post 2: its cached list must not say so.
    expect(await readMine('u2')).toEqual({ ids: [], cached: false });
  });

  it('resyncs after its slot was dropped even when the cache store was down while the new slot was made and that process died', async () => {
    const slot = 'lost_while_down';
    const first = listen(reader, { slot });
    await first.listener.ready;
    await first.listener.close();
    expect(await readPost(5)).toEqual({ title: 'post 5', cached: false });
    expect(await readPost(5)).toEqual({ title: 'post 5', cached: true });

    // The slot goes (dropped by an operator, or lost past max_slot_wal_keep_size): this change is in no slot.
    expect(await dropSlot(postgres.url, slot)).toBe(true);
    postgres.psql(`UPDATE posts SET title = 'changed while no slot' WHERE id = 5`);

    // A listener process starts while Redis is down: it makes the new slot, cannot resync, and is killed.
    await redis.stop();
    const down = connecting(redis.url);
    const dying = createCaching({ user: () => null, store: down.store });
    const doomed = listen(dying, { slot });
    // Two sessions tried (the first makes the slot on the unchanged code, then fails to resync; so does the second).
    await eventually('two sessions failed', () => doomed.events.filter((event) => event.type === 'disconnected').length >= 2);
    await doomed.listener.close();
    dying.close();
    await destroyStore(down.store);

    await redis.restart();
    // The store answers again (the mapping's fingerprint key is read back, whatever it holds).
    await eventually(
      'the reader reads Redis again',
      async () => (await readerStore.get(`trpc-caching:postgres:${slot}:mapping`)) !== undefined,
    );
    const next = listen(reader, { slot });
    await next.listener.ready;
    await next.listener.caughtUp();
    expect(await readPost(5)).toEqual({ title: 'changed while no slot', cached: false });
    expect(next.events.some((event) => event.type === 'resync')).toBe(true);
    expect((await inspectSlot(postgres.url, slot)).exists).toBe(true);
  });

  it('resyncs once a mapped table the publication lacked is added to it while the listener runs', async () => {
    await postgres.query('CREATE PUBLICATION late_running FOR TABLE posts');
    const { listener, events } = listen(reader, { slot: 'late_running', publication: 'late_running' });
    await listener.ready;
    expect(events.filter((event) => event.type === 'warning').map((event) => event.type === 'warning' && event.table)).toEqual([
      'public.comments',
    ]);
    expect(await readComments(30)).toEqual({ count: 0, cached: false });
    // Reported by the warning: this comment's change never arrives.
    postgres.psql(`INSERT INTO comments VALUES (30, 30, 'unpublished')`);
    // The operator follows the warning; a later comment on another post arrives.
    postgres.psql('ALTER PUBLICATION late_running ADD TABLE comments');
    postgres.psql(`INSERT INTO comments VALUES (31, 31, 'published')`);
    await listener.caughtUp();
    expect(await readComments(30)).toEqual({ count: 1, cached: false });
    expect(events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []))).toEqual(['slot-created', 'publication-changed']);
  });

  it('resyncs at its next start once a mapped table the publication lacked was added to it while it was stopped', async () => {
    await postgres.query('CREATE PUBLICATION late_stopped FOR TABLE posts');
    const first = listen(reader, { slot: 'late_stopped', publication: 'late_stopped' });
    await first.listener.ready;
    expect(await readComments(32)).toEqual({ count: 0, cached: false });
    postgres.psql(`INSERT INTO comments VALUES (32, 32, 'unpublished')`);
    await first.listener.caughtUp();
    await first.listener.close();
    postgres.psql('ALTER PUBLICATION late_stopped ADD TABLE comments');

    const second = listen(reader, { slot: 'late_stopped', publication: 'late_stopped' });
    await second.listener.ready;
    expect(await readComments(32)).toEqual({ count: 1, cached: false });
    expect(second.events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []))).toEqual(['mapping-changed']);
  });

  it('resyncs rather than missing a deleted row whose mapped column a table without REPLICA IDENTITY FULL did not send', async () => {
    await postgres.query(`INSERT INTO comments VALUES (33, 33, 'to delete'); ALTER TABLE comments REPLICA IDENTITY DEFAULT`);
    const { listener, events } = listen(reader, { slot: 'identity_default' });
    await listener.ready;
    expect(await readComments(33)).toEqual({ count: 1, cached: false });
    expect(await readComments(33)).toEqual({ count: 1, cached: true });
    // The delete carries only the key (id): the comment's post_id, which its mapping reads, is not in it.
    postgres.psql('DELETE FROM comments WHERE id = 33');
    await listener.caughtUp();
    expect(await readComments(33)).toEqual({ count: 0, cached: false });
    expect(events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []))).toEqual(['slot-created', 'mapping-failed']);
    expect(events.some((event) => event.type === 'warning' && event.table === 'public.comments')).toBe(true);
  });
});
