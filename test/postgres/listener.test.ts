import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCaching, type InvalidationTargets } from '../../src/index.js';
import {
  createPostgresListener,
  dropSlot,
  inspectSlot,
  type PostgresListener,
  type PostgresListenerEvent,
  type PostgresListenerOptions,
  watchSlot,
} from '../../src/postgres/index.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';
import { eventually } from '../support/redis-store.js';
import { mapping, SCHEMA, sorted, type Tables } from './schema.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
  await server.query(SCHEMA);
  await server.query(`INSERT INTO posts (id, owner_id, title) SELECT g, 'u' || g, 'post ' || g FROM generate_series(1, 20) g`);
});
afterAll(async () => {
  await server?.dispose();
});

// One cache for every listener of the file, as an app's store outlives its listener's restarts (the mapping's
// fingerprint is kept there).
const caching = createCaching({ user: () => null });
afterAll(() => caching.close());

/** The file's caching instance with its invalidations recorded; `refuse` makes the store refuse those it matches. */
function recorded() {
  const calls: InvalidationTargets[] = [];
  const written: InvalidationTargets[] = [];
  let refuse: (targets: InvalidationTargets) => boolean = () => false;
  return {
    calls,
    written,
    refuseWhile(rule: (targets: InvalidationTargets) => boolean) {
      refuse = rule;
    },
    caching: {
      store: caching.store,
      async invalidate(targets: InvalidationTargets) {
        calls.push(sorted(targets));
        if (refuse(targets)) return false;
        written.push(sorted(targets));
        return caching.invalidate(targets);
      },
    },
  };
}

const listeners: PostgresListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((listener) => listener.close()));
});

function listen(target: ReturnType<typeof recorded>, options: Partial<PostgresListenerOptions<Tables>> = {}) {
  const events: PostgresListenerEvent[] = [];
  const listener = createPostgresListener<Tables>(target.caching, {
    connection: server.url,
    tables: mapping,
    maxRetryDelay: 200,
    onEvent: (event) => events.push(event),
    ...options,
  });
  listeners.push(listener);
  return { listener, events };
}

const tagged = (calls: InvalidationTargets[], tag: string) => calls.filter((call) => call.tags?.includes(tag));

describe('PostgreSQL change stream listener', () => {
  it('resyncs once on a new slot, then moves the targets the mapping names for a row changed outside the app', async () => {
    const target = recorded();
    const { listener, events } = listen(target);
    await listener.ready;
    expect(events.filter((event) => event.type === 'resync').map((event) => event.type === 'resync' && event.reason)).toEqual([
      'slot-created',
    ]);
    expect(target.calls).toEqual([{ all: true }]);

    server.psql(`UPDATE posts SET title = 'edited', owner_id = 'u99' WHERE id = 3`);
    server.psql(`UPDATE unrelated SET note = 'x' WHERE id = 1`);
    await listener.caughtUp();
    // The owner moved: both the new and the old owner's scope move, with the post's tag, in one call.
    expect(target.calls.slice(1)).toEqual([{ tags: ['post:3'], users: ['u3', 'u99'] }]);
  });

  it('moves nothing for a rolled-back transaction', async () => {
    const target = recorded();
    const { listener } = listen(target);
    await listener.ready;
    server.psql(`BEGIN; UPDATE posts SET title = 'never' WHERE id = 4; INSERT INTO comments VALUES (400, 4, 'never'); ROLLBACK;`);
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 5`);
    await listener.caughtUp();
    expect(tagged(target.calls, 'post:4')).toEqual([]);
    expect(tagged(target.calls, 'comments:4')).toEqual([]);
    expect(tagged(target.calls, 'post:5')).toHaveLength(1);
  });

  it("moves a transaction's three tables in one invalidation, and only once it has committed", async () => {
    const target = recorded();
    const { listener } = listen(target);
    await listener.ready;
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE posts SET title = 'three' WHERE id = 6`);
      await client.query(`INSERT INTO comments VALUES (600, 6, 'hi')`);
      await client.query(`INSERT INTO likes VALUES (6, 'fan')`);
      // A transaction committed after those rows were written is applied; none of the open one's rows may move before its COMMIT.
      server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 16`);
      await listener.caughtUp();
      expect(tagged(target.calls, 'post:16')).toHaveLength(1);
      const before = target.calls.length;
      expect(tagged(target.calls, 'post:6')).toEqual([]);
      await client.query('COMMIT');
      await listener.caughtUp();
      expect(target.calls.slice(before)).toEqual([{ tags: ['comments:6', 'likes:6', 'post:6'], users: ['fan', 'u6'] }]);
    } finally {
      await client.end();
    }
  });

  it('does not acknowledge a transaction whose invalidation failed: it is read again and applied after a reconnect', async () => {
    const target = recorded();
    const { listener, events } = listen(target);
    await listener.ready;
    let refusals = 0;
    target.refuseWhile((targets) => targets.tags?.includes('post:7') === true && refusals++ < 2);
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 7`);
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 8`);
    await listener.caughtUp();
    expect(events.filter((event) => event.type === 'apply-failed')).toHaveLength(2);
    // Two refused, the third written; the later transaction was not applied before it (nothing acknowledged past the gap).
    expect(tagged(target.calls, 'post:7')).toHaveLength(3);
    const firstWritten = (tag: string) => target.written.findIndex((call) => call.tags?.includes(tag));
    expect(firstWritten('post:7')).toBeGreaterThanOrEqual(0);
    expect(firstWritten('post:8')).toBeGreaterThanOrEqual(firstWritten('post:7'));
  });

  it('applies on resume what was committed while it was stopped, and resyncs when its mapping changed or its slot was dropped', async () => {
    const first = recorded();
    const a = listen(first);
    await a.listener.ready;
    await a.listener.caughtUp();
    await a.listener.close();
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 9`);

    const second = recorded();
    const b = listen(second);
    await b.listener.ready;
    await b.listener.caughtUp();
    expect(b.events.some((event) => event.type === 'resync')).toBe(false);
    expect(tagged(second.calls, 'post:9')).toHaveLength(1);
    await b.listener.close();

    const third = recorded();
    const c = listen(third, { mappingVersion: 'v2' });
    await c.listener.ready;
    expect(c.events.filter((event) => event.type === 'resync').map((event) => event.type === 'resync' && event.reason)).toEqual([
      'mapping-changed',
    ]);
    await c.listener.close();

    expect(await dropSlot(server.url, 'trpc_caching')).toBe(true);
    const fourth = recorded();
    const d = listen(fourth, { mappingVersion: 'v2' });
    await d.listener.ready;
    expect(d.events.filter((event) => event.type === 'resync').map((event) => event.type === 'resync' && event.reason)).toEqual([
      'slot-created',
    ]);
  });

  it('invalidates everything covered when a mapping throws or a mapped table is truncated', async () => {
    const target = recorded();
    const covers = { tags: ['posts-all'] };
    const { listener, events } = listen(target, {
      covers,
      mappingVersion: 'throws',
      tables: {
        ...mapping,
        comments: ({ row }) => {
          if (row.body === 'boom') throw new Error('bad row');
          return { tags: [`comments:${row.post_id}`] };
        },
      },
    });
    await listener.ready;
    const resyncs = () => events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []));
    expect(resyncs()).toEqual(['mapping-changed']);
    server.psql(`INSERT INTO comments VALUES (1000, 10, 'boom')`);
    server.psql('TRUNCATE likes');
    await listener.caughtUp();
    expect(resyncs()).toEqual(['mapping-changed', 'mapping-failed', 'truncate']);
    expect(target.calls.filter((call) => call.tags?.[0] === 'posts-all')).toHaveLength(3);
  });

  it('reports a slot nobody has followed for longer than the bound, and how much WAL it holds', async () => {
    const target = recorded();
    const { listener } = listen(target, { mappingVersion: 'watch' });
    await listener.ready;
    await listener.close();
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id BETWEEN 1 AND 20`);
    const reports: string[] = [];
    const watch = watchSlot({ connection: server.url, maxInactiveMs: 0, interval: 20, onReport: (report) => reports.push(report.problem) });
    try {
      await eventually('the watch reports the inactive slot', () => reports.includes('inactive'));
    } finally {
      watch.stop();
    }
    const state = await inspectSlot(server.url, 'trpc_caching');
    expect(state).toMatchObject({ exists: true, active: false, walStatus: 'reserved' });
    expect(state.lagBytes).toBeGreaterThan(0);
  });
});

describe('PostgreSQL change stream listener, two processes on one slot', () => {
  it('lets one listener follow the slot while a second waits, and the second takes over, missing nothing, when the first stops', async () => {
    const a = listen(recorded(), { slot: 'shared_slot' });
    await a.listener.ready;
    const standby = recorded();
    const b = listen(standby, { slot: 'shared_slot' });
    // The second is refused the slot while the first streams from it, and says so.
    await eventually('the second listener is refused the slot', () => b.events.some((event) => event.type === 'disconnected'));
    expect(b.listener.connected).toBe(false);
    await a.listener.close();
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 12`);
    await b.listener.ready;
    await b.listener.caughtUp();
    expect(tagged(standby.calls, 'post:12')).toHaveLength(1);
  });
});

describe('PostgreSQL change stream listener, as the role docs/postgres.md sets up', () => {
  it('follows changes as a LOGIN REPLICATION role that holds no privilege on the tables, with a publication made by their owner', async () => {
    await server.query(`CREATE ROLE cache_listener WITH LOGIN REPLICATION; CREATE PUBLICATION as_owner FOR TABLE posts;`);
    const target = recorded();
    const { listener, events } = listen(target, {
      connection: server.url.replace('postgres://postgres@', 'postgres://cache_listener@'),
      slot: 'as_role',
      publication: 'as_owner',
      tables: { posts: mapping.posts },
    });
    await listener.ready;
    expect(events.filter((event) => event.type === 'warning')).toEqual([]);
    server.psql(`UPDATE posts SET rev = rev + 1 WHERE id = 11`);
    await listener.caughtUp();
    expect(tagged(target.calls, 'post:11')).toHaveLength(1);
    await expect(server.query(`SELECT usename FROM pg_stat_replication`)).resolves.toContainEqual({
      usename: 'cache_listener',
    });
  });
});

describe('PostgreSQL change stream listener, past max_slot_wal_keep_size', () => {
  it('makes a new slot and resyncs when PostgreSQL removed WAL its slot still needed', async () => {
    const first = listen(recorded(), { slot: 'bounded' });
    await first.listener.ready;
    await first.listener.close();
    await server.query(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
    await server.query('SELECT pg_reload_conf()');
    try {
      // Past the bound while nobody follows the slot: the next checkpoint invalidates it.
      const reports: string[] = [];
      await eventually(
        'PostgreSQL marks the slot lost',
        async () => {
          await server.query(
            `INSERT INTO unrelated SELECT g, repeat('x', 500) FROM generate_series(1, 20000) g ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note`,
          );
          await server.query('SELECT pg_switch_wal()');
          await server.query('CHECKPOINT');
          return (await inspectSlot(server.url, 'bounded')).walStatus === 'lost';
        },
        20_000,
      );
      const watch = watchSlot({ connection: server.url, slot: 'bounded', onReport: (report) => reports.push(report.problem) });
      expect((await watch.check())?.problem).toBe('lost');
      watch.stop();

      const second = listen(recorded(), { slot: 'bounded' });
      await second.listener.ready;
      expect(second.events.flatMap((event) => (event.type === 'resync' ? [event.reason] : []))).toEqual(['slot-lost']);
      expect((await inspectSlot(server.url, 'bounded')).walStatus).toBe('reserved');
    } finally {
      await server.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
      await server.query('SELECT pg_reload_conf()');
    }
  });
});
