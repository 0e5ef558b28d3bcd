import type { Keyv } from 'keyv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CachingOptions } from '../../src/index.js';
import { type CounterCtx, CounterDb, createCounterApp } from '../support/apps/counter.js';
import { killed, pausedAll, pausedWrites, startAppRedis, stopped } from '../support/faults.js';
import type { RedisServer } from '../support/redis.js';
import { destroyStore, eventually, productionRedisStore, readyRedisStore } from '../support/redis-store.js';

const settings: Partial<CachingOptions<CounterCtx>> = { timeout: 400, breakerThreshold: 3, breakerCooldown: 200, retryDelay: 20 };

let server: RedisServer;
let appUrl: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  ({ server, url: appUrl } = await startAppRedis());
});
afterAll(() => server.dispose());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A caching app over the shared db and its own connection to the shared Redis: one "process". */
async function processOn(db: CounterDb, redisIsUp = true): Promise<ReturnType<typeof createCounterApp>> {
  const store: Keyv = redisIsUp ? await readyRedisStore(appUrl) : productionRedisStore(appUrl);
  const app = createCounterApp(db, store, settings);
  cleanups.push(
    () => destroyStore(store),
    () => app.caching.close(),
  );
  return app;
}

async function entryKeys(): Promise<string[]> {
  return (await server.command('KEYS', 'trpc-caching:q:counter.get:*')) as string[];
}

describe.each([pausedWrites, pausedAll, stopped, killed])('a mutation while Redis $name', (fault) => {
  it('succeeds, is never undone by the cache of this process or of another one, and is applied once Redis is back', async () => {
    await server.command('FLUSHALL');
    const db = new CounterDb();
    const a = await processOn(db);
    const b = await processOn(db);
    const aliceOnA = a.caller('alice');
    const aliceOnB = b.caller('alice');

    // Both processes share the entry: B's read is a hit on what A stored. (Polled: on a loaded machine a
    // healthy call may still outlast the timeout, and a hit is what proves the entry is there.)
    expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 0 });
    await eventually('B hits the entry A stored', async () => {
      const runs = db.runs['counter.get'];
      expect(await aliceOnB.counter.get({ name: 'x' })).toMatchObject({ value: 0 });
      return db.runs['counter.get'] === runs;
    });
    expect(await aliceOnA.board()).toEqual({ total: 0 });
    expect(await entryKeys()).toHaveLength(1);

    await fault.inject(server);
    const injected = Date.now();
    // A fault that ends by itself (CLIENT PAUSE ALL) may be over on a loaded machine: its retries may then have landed.
    const pendingWhileHeld = () => {
      const held = fault.holdsFor === undefined || Date.now() - injected < fault.holdsFor;
      const pending = a.caching.pendingInvalidations;
      if (held) expect(pending).toBe(2);
      else expect(pending).toBeLessThanOrEqual(2);
    };
    try {
      expect(await aliceOnA.counter.bump({ name: 'x' })).toMatchObject({ value: 1 });
      // Alice's scope and the board tag wait to be written.
      pendingWhileHeld();
      expect(a.errors.some((error) => error.operation === 'invalidate' && error.key?.startsWith('trpc-caching:v:'))).toBe(true);
      for (let i = 0; i < 5; i++) {
        expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ user: 'alice', value: 1 });
        expect(await aliceOnA.board()).toEqual({ total: 1 });
      }
      // Let retries run against the dead store for a while: they must neither stop nor break anything.
      await new Promise((resolve) => setTimeout(resolve, 400));
      pendingWhileHeld();
    } finally {
      await fault.heal(server);
    }

    // The entry from before the mutation survived (AOF): only its versions keep it from being served.
    expect(await entryKeys()).toHaveLength(1);
    expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 1 });
    // Nobody calls flush: the background retry applies the move by itself.
    await eventually('the pending moves are written', () => a.caching.pendingInvalidations === 0, 15_000);
    expect(await a.caching.flush()).toBe(true);

    expect(await aliceOnB.counter.get({ name: 'x' })).toMatchObject({ user: 'alice', value: 1 });
    expect(await aliceOnB.board()).toEqual({ total: 1 });
    expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 1 });
    // And the cache works again: the entry written under the new versions is a hit in both processes. (Polled, as
    // above: on a loaded machine one healthy call may outlast the timeout and run the resolver.)
    for (const caller of [aliceOnB, aliceOnA]) {
      await eventually('a hit on the entry written under the new versions', async () => {
        const runs = db.runs['counter.get'];
        expect(await caller.counter.get({ name: 'x' })).toMatchObject({ value: 1 });
        return db.runs['counter.get'] === runs;
      });
    }
  });
});

describe('a process that starts while nothing listens on the Redis port', () => {
  it('serves current data, keeps its invalidations, and writes them once Redis listens again', async () => {
    await server.command('FLUSHALL');
    const db = new CounterDb();
    const b = await processOn(db);
    const aliceOnB = b.caller('alice');
    expect(await aliceOnB.counter.get({ name: 'x' })).toMatchObject({ value: 0 });

    await server.stop(true);
    try {
      const a = await processOn(db, false);
      const aliceOnA = a.caller('alice');
      expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 0 });
      expect(await aliceOnA.counter.bump({ name: 'x' })).toMatchObject({ value: 1 });
      expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 1 });
      expect(a.caching.pendingInvalidations).toBe(2);
      expect(a.errors.length).toBeGreaterThan(0);
      await killed.heal(server);
      await eventually('the pending moves are written', () => a.caching.pendingInvalidations === 0, 15_000);
    } finally {
      if (server.process.exitCode !== null || server.process.signalCode !== null) await killed.heal(server);
    }
    expect(await entryKeys()).toHaveLength(1);
    expect(await aliceOnB.counter.get({ name: 'x' })).toMatchObject({ value: 1 });
  });
});

describe('flush() at shutdown', () => {
  it('writes pending invalidations even while the circuit breaker is still open', async () => {
    await server.command('FLUSHALL');
    const db = new CounterDb();
    const store = await readyRedisStore(appUrl);
    // One failure opens the breaker for a minute, and no background retry comes before the flush.
    const a = createCounterApp(db, store, { ...settings, breakerThreshold: 1, breakerCooldown: 60_000, retryDelay: 60_000 });
    cleanups.push(
      () => destroyStore(store),
      () => a.caching.close(),
    );
    const aliceOnA = a.caller('alice');
    expect(await aliceOnA.counter.get({ name: 'x' })).toMatchObject({ value: 0 });

    await killed.inject(server);
    try {
      expect(await aliceOnA.counter.bump({ name: 'x' })).toMatchObject({ value: 1 });
      expect(a.caching.pendingInvalidations).toBe(2);
    } finally {
      await killed.heal(server);
    }
    expect(await a.caching.flush(10_000)).toBe(true);
    expect(a.caching.pendingInvalidations).toBe(0);

    // Another process sees the move: the entry from before it, still in Redis, is never served.
    expect(await entryKeys()).toHaveLength(1);
    const b = await processOn(db);
    expect(await b.caller('alice').counter.get({ name: 'x' })).toMatchObject({ value: 1 });
  });
});
