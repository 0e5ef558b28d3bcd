import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CachingError, type CachingOptions } from '../../src/index.js';
import { type CounterCtx, CounterDb, createCounterApp } from '../support/apps/counter.js';
import { during, erroring, killed, pausedAll, startAppRedis, stopped } from '../support/faults.js';
import { freePort, type RedisServer } from '../support/redis.js';
import { destroyStore, eventually, productionRedisStore, readyRedisStore } from '../support/redis-store.js';

const TIMEOUT = 150;
const THRESHOLD = 3;
const settings: Partial<CachingOptions<CounterCtx>> = { timeout: TIMEOUT, breakerThreshold: THRESHOLD, breakerCooldown: 60_000 };

let server: RedisServer;
let appUrl: string;
const opened: Keyv[] = [];
const apps: Array<{ caching: { close(): void } }> = [];

beforeAll(async () => {
  ({ server, url: appUrl } = await startAppRedis());
});
afterAll(() => server.dispose());
afterEach(async () => {
  // A closed app stops retrying: its retries would otherwise reconnect and move versions under the next test.
  for (const app of apps.splice(0)) app.caching.close();
  for (const store of opened.splice(0)) await destroyStore(store);
});

function newApp(...args: Parameters<typeof createCounterApp>): ReturnType<typeof createCounterApp> {
  const app = createCounterApp(...args);
  apps.push(app);
  return app;
}

async function freshStore(): Promise<Keyv> {
  await server.command('FLUSHALL');
  const store = await readyRedisStore(appUrl);
  opened.push(store);
  return store;
}

/** Store calls made through the Keyv, counted on the real instance. */
function countCalls(store: Keyv): () => number {
  const reads = vi.spyOn(store, 'getMany');
  const writes = vi.spyOn(store, 'set');
  const moves = vi.spyOn(store, 'setMany');
  return () => reads.mock.calls.length + writes.mock.calls.length + moves.mock.calls.length;
}

/**
 * Reads until a read is a hit: a hit proves the last store call succeeded, so
 * the breaker starts closed with no failure counted, whatever a loaded machine
 * did to the warm-up's timing. Clears the errors the warm-up may have caused.
 */
async function warmUp(app: ReturnType<typeof createCounterApp>, db: CounterDb, name: string): Promise<void> {
  const alice = app.caller('alice');
  await eventually(`a hit on ${name}`, async () => {
    const before = db.runs['counter.get'] ?? 0;
    await alice.counter.get({ name });
    return (db.runs['counter.get'] ?? 0) === before;
  });
  app.errors.length = 0;
}

describe.each([erroring, pausedAll, stopped, killed])('when Redis $name', (fault) => {
  it('queries answer from their resolver with current data and mutations succeed', async () => {
    const db = new CounterDb();
    const app = newApp(db, await freshStore(), settings);
    const alice = app.caller('alice');
    await warmUp(app, db, 'a');
    expect(await alice.counter.get({ name: 'a' })).toMatchObject({ user: 'alice', name: 'a', value: 0 });
    expect(db.runs['counter.get']).toBe(1);

    await during(fault, server, async () => {
      for (let i = 1; i <= 5; i++) {
        expect(await alice.counter.bump({ name: 'a' })).toMatchObject({ user: 'alice', name: 'a', value: i });
        expect(await alice.counter.get({ name: 'a' })).toMatchObject({ user: 'alice', name: 'a', value: i });
        expect(await app.caller('bob').counter.get({ name: 'a' })).toMatchObject({ user: 'bob', name: 'a', value: 0 });
        expect(await alice.board()).toEqual({ total: i });
      }
    });
    expect(app.errors.length).toBeGreaterThan(0);
  });

  it(`stops calling the store after ${THRESHOLD} failures, so requests no longer wait for it`, async () => {
    const db = new CounterDb();
    const store = await freshStore();
    const app = newApp(db, store, settings);
    const alice = app.caller('alice');
    await warmUp(app, db, 'warm');
    const calls = countCalls(store);
    const runs = db.runs['counter.get'] ?? 0;

    await during(fault, server, async () => {
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await alice.counter.get({ name: `n${i}` }));
      expect(answers.map((answer) => answer.name)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
      expect(db.runs['counter.get']).toBe(runs + 20);
      // Every request after the breaker opened answered without touching the store.
      expect(calls()).toBe(THRESHOLD);
      // One report per failed call (a connection's own error, reported once per outage, is not a call).
      const failed = app.errors.filter((error) => !isConnectionReport(error));
      expect(failed).toHaveLength(THRESHOLD);
      expect(failed.at(-1)?.message).toMatch(/skipping the store for 60000 ms/);
    });
  });

  it('after the cool-down lets a single request try the store, and serves from the cache again once Redis is back', async () => {
    const db = new CounterDb();
    const store = await freshStore();
    const cooldown = 300;
    const app = newApp(db, store, { ...settings, breakerCooldown: cooldown });
    const alice = app.caller('alice');
    await warmUp(app, db, 'warm');
    const calls = countCalls(store);

    await during(fault, server, async () => {
      for (let i = 0; i < THRESHOLD; i++) await alice.counter.get({ name: 'trip' });
      expect(calls()).toBe(THRESHOLD);
      await new Promise((resolve) => setTimeout(resolve, cooldown + 50));
      const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => alice.counter.get({ name: `c${i}` })));
      expect(concurrent.every((answer) => answer.value === 0 && answer.user === 'alice')).toBe(true);
      // One trial call, not one per request that arrived while the store was still dead.
      expect(calls()).toBe(THRESHOLD + 1);
    });

    // Once Redis answers, a trial call closes the breaker and hits come back.
    app.errors.length = 0;
    await eventually(
      () =>
        `the cache serves hits again; faults since Redis came back: ${app.errors.map((e) => `${e.operation}: ${e.message}`).join(' | ') || 'none'}`,
      async () => {
        const before = db.runs['counter.get'] ?? 0;
        await alice.counter.get({ name: 'back' });
        await alice.counter.get({ name: 'back' });
        return (db.runs['counter.get'] ?? 0) - before === 1;
      },
      15_000,
    );
  });

  it('tells onError of every fault with its operation and key, and a throwing onError breaks nothing', async () => {
    const db = new CounterDb();
    const seen: CachingError[] = [];
    const app = newApp(db, await freshStore(), {
      ...settings,
      breakerThreshold: 100,
      onError: (error) => {
        seen.push(error);
        throw new Error('the logging hook itself failed');
      },
    });
    const alice = app.caller('alice');
    await warmUp(app, db, 'a');
    seen.length = 0;

    await during(fault, server, async () => {
      expect(await alice.counter.get({ name: 'b' })).toMatchObject({ value: 0 });
      expect(await alice.counter.bump({ name: 'a' })).toMatchObject({ value: 1 });
      expect(await alice.board()).toEqual({ total: 1 });
    });
    expect(new Set(seen.map((error) => error.operation))).toEqual(new Set(['invalidate', 'read']));
    for (const error of seen) {
      expect(error).toBeInstanceOf(CachingError);
      expect(error.cause).toBeDefined();
      // A connection's own error concerns no key: reported once for the outage, it names the server instead.
      if (isConnectionReport(error)) continue;
      expect(error.key).toMatch(/^trpc-caching:(q|v):/);
    }
    const calls = seen.filter((error) => !isConnectionReport(error));
    expect(calls.find((error) => error.operation === 'read')?.path).toBe('counter.get');
    expect(calls.find((error) => error.operation === 'invalidate')?.key).toMatch(/^trpc-caching:v:/);
  });
});

/** A report of the store connection's own error (operation `read`, no key), as opposed to a failed call's. */
function isConnectionReport(error: Error): boolean {
  return error.message.startsWith('store connection failed');
}

describe('when nothing listens on the Redis port (connection refused)', () => {
  it('queries and mutations answer correctly, reads skip the store after the threshold, and every invalidation is still tried', async () => {
    const port = await freePort();
    const store = productionRedisStore(`redis://127.0.0.1:${port}`);
    opened.push(store);
    const reads = vi.spyOn(store, 'getMany');
    const moves = vi.spyOn(store, 'setMany');
    const db = new CounterDb();
    // No background retry during the test, so that every store call counted comes from a request.
    const app = newApp(db, store, { ...settings, timeout: 1_000, retryDelay: 60_000, invalidationTimeout: 200 });
    const alice = app.caller('alice');
    for (let i = 1; i <= 10; i++) {
      expect(await alice.counter.get({ name: 'a' })).toMatchObject({ user: 'alice', name: 'a', value: i - 1 });
      expect(await alice.counter.bump({ name: 'a' })).toMatchObject({ user: 'alice', value: i });
    }
    // The breaker protects reads: they stop once it opens...
    expect(reads.mock.calls.length).toBeLessThanOrEqual(THRESHOLD);
    // ...but a move is never skipped by it: each mutation tries to write its versions, again and again until
    // invalidationTimeout, and reports its failure once.
    expect(moves.mock.calls.length).toBeGreaterThan(10);
    expect(app.errors.filter((error) => error.operation === 'invalidate')).toHaveLength(10);
    expect(app.caching.pendingInvalidations).toBeGreaterThan(0);
    // The client's own error, with the address, is reported once for the outage, however many reconnection attempts
    // it made; each failed call says it too, after the client's bare "offline".
    const outage = app.errors.filter((error) => error.message.startsWith('store connection failed'));
    expect(outage.map((error) => error.message)).toEqual([`store connection failed: connect ECONNREFUSED 127.0.0.1:${port}`]);
    expect(app.errors.filter((error) => error.message.includes(`(connect ECONNREFUSED 127.0.0.1:${port})`)).length).toBeGreaterThanOrEqual(
      5,
    );
  });
});

describe('retries of invalidations that could not be written', () => {
  it('keep going while Redis refuses connections, and stop once the app closes the caching instance', async () => {
    const port = await freePort();
    const store = productionRedisStore(`redis://127.0.0.1:${port}`);
    opened.push(store);
    const calls = countCalls(store);
    const app = newApp(new CounterDb(), store, { ...settings, breakerCooldown: 100, retryDelay: 10 });
    await app.caller('alice').counter.bump({ name: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Retried in the background (through the half-open breaker) while nothing answers...
    expect(calls()).toBeGreaterThan(2);
    expect(app.caching.pendingInvalidations).toBe(2);
    app.caching.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const afterClose = calls();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // ...and not once more after close().
    expect(calls()).toBe(afterClose);
  });
});

describe('when Redis is out of memory under maxmemory-policy noeviction', () => {
  it('answers reads, refuses writes: results are correct, uncached, and each refused write is reported', async () => {
    const db = new CounterDb();
    const store = await freshStore();
    const app = newApp(db, store, { ...settings, timeout: 1_000, breakerThreshold: 100, retryDelay: 60_000 });
    const alice = app.caller('alice');
    await warmUp(app, db, 'a');
    await server.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await server.command('CONFIG', 'SET', 'maxmemory', '1');
    try {
      expect(await alice.counter.get({ name: 'a' })).toMatchObject({ value: 0 });
      expect(db.runs['counter.get']).toBe(1);
      expect(await alice.counter.get({ name: 'fresh' })).toMatchObject({ value: 0 });
      expect(await alice.counter.get({ name: 'fresh' })).toMatchObject({ value: 0 });
      expect(db.runs['counter.get']).toBe(3);
      expect(app.errors.map((error) => [error.operation, error.path])).toEqual([
        ['write', 'counter.get'],
        ['write', 'counter.get'],
      ]);
      expect(app.errors[0]?.message).toMatch(/OOM/);

      // The move cannot be written, yet the entry that is still readable is never served again.
      expect(await alice.counter.bump({ name: 'a' })).toMatchObject({ value: 1 });
      expect(app.errors.at(-1)?.operation).toBe('invalidate');
      expect(app.caching.pendingInvalidations).toBe(2);
      expect(await alice.counter.get({ name: 'a' })).toMatchObject({ value: 1 });
      expect(await alice.counter.get({ name: 'a' })).toMatchObject({ value: 1 });
    } finally {
      await server.command('CONFIG', 'SET', 'maxmemory', '0');
    }
    expect(await app.caching.flush()).toBe(true);
    expect(await alice.counter.get({ name: 'a' })).toMatchObject({ value: 1 });
  });
});

describe('the recommended Redis client options', () => {
  it('keep a write issued while Redis is down from landing after it restarts, which the defaults let happen', async () => {
    await server.command('FLUSHALL');
    const defaults = new Keyv({ store: new KeyvRedis(appUrl), namespace: '' });
    defaults.on('error', () => {});
    opened.push(defaults);
    await defaults.set('probe', 'up');
    const recommended = await readyRedisStore(appUrl);
    recommended.on('error', () => {});
    opened.push(recommended);

    await killed.inject(server);
    const settledSoon = (call: Promise<unknown>) =>
      Promise.race([call.then(() => 'settled'), new Promise((resolve) => setTimeout(resolve, 300, 'pending'))]);
    // A first call tells the default client that its connection is gone (it may already know).
    await settledSoon(defaults.get('probe'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The defaults queue the write offline: it neither fails nor lands. The recommended client fails it at once.
    expect(await settledSoon(defaults.set('written-while-down', 'default client'))).toBe('pending');
    expect(await settledSoon(recommended.set('refused-while-down', 'recommended client'))).toBe('settled');
    await killed.heal(server);

    await eventually('the queued write lands', async () => (await server.command('EXISTS', 'written-while-down')) === 1, 15_000);
    expect(await server.command('EXISTS', 'refused-while-down')).toBe(0);
  });
});
