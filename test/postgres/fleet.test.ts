// Writes the app never sees, made straight in PostgreSQL, reach every app server's cache through the change-stream
// listener: several real OS processes on one real Redis and one real PostgreSQL.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaching } from '../../src/index.js';
import { createPostgresListener, type PostgresListener, type PostgresListenerEvent } from '../../src/postgres/index.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';
import { type PgWorker, pgFleet } from '../support/procs/pg-fleet.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { destroyStore, eventually, readyRedisStore } from '../support/redis-store.js';
import { SCHEMA, type Tables } from './schema.js';

const POSTS = 200;
const WRITES = 3_000;
const ids = Array.from({ length: POSTS }, (_, n) => n + 1);

let postgres: PostgresServer;
let redis: RedisServer;
let workers: PgWorker[];
let listener: PostgresListener;
let close: () => Promise<void>;
const events: PostgresListenerEvent[] = [];
/** Every `rev` a write set, once the listener's invalidation carrying it was written (from its `applied` events). */
const applied = new Set<number>();

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  await postgres.query(SCHEMA);
  await postgres.query(`INSERT INTO posts (id, owner_id, title) SELECT g, 'u' || g, 'post ' || g FROM generate_series(1, ${POSTS}) g`);
  const store = await readyRedisStore(redis.url);
  const caching = createCaching({ user: () => null, store });
  listener = createPostgresListener<Tables>(caching, {
    connection: postgres.url,
    maxRetryDelay: 200,
    // A tag per write too, so that the test can count which writes' moves were written.
    tables: { posts: ({ row }) => ({ tags: [`post:${row.id}`, `rev:${row.rev}`] }) },
    onEvent: (event) => {
      events.push(event);
      if (event.type !== 'applied') return;
      for (const tag of event.targets.tags ?? []) if (tag.startsWith('rev:')) applied.add(Number(tag.slice(4)));
    },
  });
  close = async () => {
    await listener.close();
    caching.close();
    await destroyStore(store);
  };
  [workers] = await Promise.all([pgFleet(3, { cacheUrl: redis.url, dbUrl: postgres.url }), listener.ready]);
}, 60_000);

afterAll(async () => {
  for (const worker of workers ?? []) worker.kill();
  await close?.();
  await Promise.all([postgres?.dispose(), redis?.dispose()]);
});

/** Reads `ids` on every worker, then again: resolves once the second round was served from the cache everywhere. */
async function warm(list: readonly number[]): Promise<void> {
  for (const worker of workers) await worker.read(list);
  for (const worker of workers) expect((await worker.read(list)).every((reply) => reply.cached)).toBe(true);
}

/** Reads every post on every worker beside the row PostgreSQL holds: the answers that differ from it. */
async function staleReads(): Promise<string[]> {
  const truth = new Map((await postgres.query<{ id: number; rev: number }>('SELECT id, rev FROM posts')).map((row) => [row.id, row.rev]));
  const stale: string[] = [];
  for (const worker of workers) {
    for (const reply of await worker.read(ids)) {
      if (reply.rev !== truth.get(reply.id))
        stale.push(`${worker.name} post ${reply.id}: rev ${reply.rev}, database ${truth.get(reply.id)}`);
    }
  }
  return stale;
}

describe('invalidation from the PostgreSQL change stream, across app servers', () => {
  it('serves a row changed with psql fresh in every process once the listener applied it, and keeps other entries cached', async () => {
    await warm([1, 2]);
    postgres.psql(`UPDATE posts SET title = 'edited in psql' WHERE id = 1`);
    await listener.caughtUp();
    // The first process to read refills the shared entry; the others are served that fresh copy.
    for (const worker of workers) {
      const [edited, other] = await worker.read([1, 2]);
      expect(edited).toMatchObject({ id: 1, title: 'edited in psql' });
      expect(other).toMatchObject({ id: 2, title: 'post 2', cached: true });
    }
  });

  it("misses none of thousands of writes while the listener's connection is killed and PostgreSQL restarts", async () => {
    await warm(ids);
    const committed: number[] = [];
    let seq = 0;
    const writer = async () => {
      let client: pg.Client | undefined;
      while (committed.length < WRITES) {
        const rev = ++seq;
        try {
          if (client === undefined) {
            const fresh = new pg.Client({ connectionString: postgres.url });
            fresh.on('error', () => {});
            await fresh.connect();
            client = fresh;
          }
          await client.query('UPDATE posts SET rev = $1 WHERE id = $2', [rev, 1 + ((rev * 7919) % POSTS)]);
          committed.push(rev);
        } catch {
          // Down or cut: whether this one committed is unknown, so it is not counted; the next write has a new rev.
          await client?.end().catch(() => {});
          client = undefined;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await client?.end().catch(() => {});
    };
    const faults = async () => {
      await eventually('a third of the writes committed', () => committed.length >= WRITES / 3, 60_000);
      const killed = await postgres.query(
        `SELECT pg_terminate_backend(active_pid) AS done FROM pg_replication_slots WHERE slot_name = 'trpc_caching' AND active`,
      );
      expect(killed).toEqual([{ done: true }]);
      await eventually('two thirds of the writes committed', () => committed.length >= (2 * WRITES) / 3, 60_000);
      await postgres.stop();
      await postgres.restart();
    };
    const disconnectedBefore = events.filter((event) => event.type === 'disconnected').length;
    await Promise.all([writer(), writer(), writer(), writer(), faults()]);
    await listener.caughtUp(60_000);

    const missed = committed.filter((rev) => !applied.has(rev));
    expect(committed.length).toBeGreaterThanOrEqual(WRITES);
    expect({ missed: missed.length, examples: missed.slice(0, 5) }).toEqual({ missed: 0, examples: [] });
    // Both faults cut the stream (the kill, then the restart), and it came back each time.
    expect(events.filter((event) => event.type === 'disconnected').length - disconnectedBefore).toBeGreaterThanOrEqual(2);
    expect(await staleReads()).toEqual([]);
  });
});
