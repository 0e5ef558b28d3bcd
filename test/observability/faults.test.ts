// Stats and diagnostics channels while a real redis-server fails: errors, the breaker's states, deferred invalidations.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Keyv } from 'keyv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CacheBreakerMessage, type CacheStoreErrorMessage, cachingChannels } from '../../src/index.js';
import { during, erroring, pausedAll, startAppRedis } from '../support/faults.js';
import type { RedisServer } from '../support/redis.js';
import { destroyStore, eventually, readyRedisStore } from '../support/redis-store.js';
import { createNotesApp, SECRET_INPUT, SECRET_USER } from './app.js';

const TIMEOUT = 150;
const THRESHOLD = 3;
const COOLDOWN = 1_000;

let server: RedisServer;
let appUrl: string;
const opened: Keyv[] = [];
const apps: Array<{ caching: { close(): void } }> = [];
const listeners: Array<[string, (message: unknown) => void]> = [];

beforeAll(async () => {
  ({ server, url: appUrl } = await startAppRedis());
});
afterAll(() => server.dispose());
afterEach(async () => {
  for (const [name, listener] of listeners.splice(0)) unsubscribe(name, listener);
  for (const app of apps.splice(0)) app.caching.close();
  for (const store of opened.splice(0)) await destroyStore(store);
});

async function newApp(options: Parameters<typeof createNotesApp>[1]) {
  await server.command('FLUSHALL');
  const store = await readyRedisStore(appUrl);
  opened.push(store);
  const app = createNotesApp(store, { timeout: TIMEOUT, ...options });
  apps.push(app);
  return app;
}

/** Messages published on a channel from now on, until the test ends. */
function listen<T>(name: string): T[] {
  const messages: T[] = [];
  const listener = (message: unknown) => messages.push(message as T);
  subscribe(name, listener);
  listeners.push([name, listener]);
  return messages;
}

describe.each([erroring, pausedAll])('when Redis $name', (fault) => {
  it(`counts ${THRESHOLD} store errors, then breaker-open bypasses, and shows the breaker open, half-open, then closed`, async () => {
    const app = await newApp({ breakerThreshold: THRESHOLD, breakerCooldown: COOLDOWN });
    const breaker = listen<CacheBreakerMessage>(cachingChannels.breaker);
    const bob = app.caller('bob');
    await bob.notes.list();
    await bob.notes.list();
    expect(app.caching.stats()).toMatchObject({ hits: 1, misses: 1, breaker: 'closed' });

    await during(fault, server, async () => {
      // Reads until the breaker opens. An error counts towards it at once; a timeout whose timer fired late (a
      // loaded machine delays timers by tens to hundreds of ms) is blamed on this process's event loop and does
      // not count, so against a paused Redis a busy machine may need a few more reads than THRESHOLD.
      let failed = 0;
      while (app.caching.stats().breaker !== 'open' && failed < 20) await bob.notes.list({ q: `during ${failed++}` });
      if (fault === erroring) expect(failed).toBe(THRESHOLD);
      else expect(failed).toBeGreaterThanOrEqual(THRESHOLD);
      for (let i = 0; i < 2; i++) await bob.notes.list({ q: `open ${i}` });
      const stats = app.caching.stats();
      expect(stats.bypassReasons).toMatchObject({ 'store-error': failed, 'breaker-open': 2 });
      expect(stats.bypasses).toBe(failed + 2);
      expect(stats.storeErrors).toBe(failed);
      expect(stats.breaker).toBe('open');
      expect(stats.paths[0]).toMatchObject({ path: 'notes.list', bypasses: failed + 2 });
    });

    await eventually('the breaker is half-open after its cool-down', () => app.caching.stats().breaker === 'half-open');
    // The trial call finds Redis back: the breaker closes and the cache serves again.
    await bob.notes.list();
    expect(app.caching.stats()).toMatchObject({ hits: 2, breaker: 'closed' });
    expect(breaker.map((message) => message.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('counts an invalidation it could not write as deferred, and the reads it covers as pending-invalidation bypasses', async () => {
    // A high threshold keeps the breaker closed: reads go on trying the store.
    const app = await newApp({ breakerThreshold: 100, invalidationTimeout: 300, retryDelay: 50 });
    const storeErrors = listen<CacheStoreErrorMessage>(cachingChannels.storeError);
    const secret = app.caller(SECRET_USER);
    await secret.notes.list({ q: SECRET_INPUT });

    await during(fault, server, async () => {
      await secret.notes.add({ text: SECRET_INPUT });
      const stats = app.caching.stats();
      expect(stats).toMatchObject({ invalidations: 0, deferredInvalidations: 1 });
      expect(stats.pendingInvalidations).toBeGreaterThan(0);
      // The pending move covers this user's entries: the read does not even try the store.
      await secret.notes.list({ q: SECRET_INPUT });
      expect(app.caching.stats().bypassReasons['pending-invalidation']).toBe(1);
    });

    expect(await app.caching.flush(10_000)).toBe(true);
    expect(app.caching.stats().pendingInvalidations).toBe(0);
    expect(storeErrors.length).toBeGreaterThan(0);
    expect(storeErrors.map((message) => message.operation)).toContain('invalidate');
    for (const message of storeErrors) {
      const text = `${message.operation} ${message.path} ${message.error.message} ${message.error.key} ${String(message.error.cause)}`;
      expect(text).not.toContain(SECRET_USER);
      expect(text).not.toContain(SECRET_INPUT);
    }
  });
});
