import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError } from '../../../src/errors.js';
import { type CacheStoreErrorMessage, cachingChannels } from '../../../src/index.js';
import { createRedisStore, RedisConnectionError, type RedisStore } from '../../../src/stores/redis/index.js';
import { createContractApp } from '../../support/apps/contract.js';
import { freePort, type RedisServer, startRedis } from '../../support/redis.js';
import { eventually } from '../../support/redis-store.js';

const stores: RedisStore[] = [];
const open = (url: string, settings: { maxReconnectDelay?: number } = {}): RedisStore => {
  const store = createRedisStore({ url, ...settings });
  stores.push(store);
  return store;
};
afterAll(async () => {
  for (const store of stores) await store.close().catch(() => {});
});

/** The reports of a connection's own error (not those of the calls that failed meanwhile). */
const connectionReports = (errors: readonly Error[]) => errors.filter((error) => error.message.startsWith('store connection failed'));

describe('createRedisStore: readiness', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.dispose());

  it('ready() resolves once connected; a call before it bypasses the cache without an error report or a store error', async () => {
    const store = open(server.url);
    const app = createContractApp(store);
    const alice = app.caller('alice');
    // Made at once: most likely before the connection is up (either way, nothing may be reported).
    await alice.post.list();
    const early = app.caching.stats();
    expect(early.bypasses + early.misses).toBe(1);
    expect(app.errors).toEqual([]);
    expect(early.storeErrors).toBe(0);

    await store.ready();
    await alice.post.list();
    await alice.post.list();
    const after = app.caching.stats();
    expect(after.hits).toBeGreaterThanOrEqual(1);
    expect(app.errors).toEqual([]);
    expect(after.storeErrors).toBe(0);
  });

  it('ready() rejects after its timeout with a RedisConnectionError naming host:port and the cause, never the password', async () => {
    const port = await freePort();
    const store = open(`redis://app:hunter2@127.0.0.1:${port}`);
    const error = await store.ready({ timeout: 300 }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(RedisConnectionError);
    const message = (error as RedisConnectionError).message;
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).toContain('ECONNREFUSED');
    expect(message).not.toContain('hunter2');
    expect((error as RedisConnectionError).address).toBe(`127.0.0.1:${port}`);
  });

  it('ready() refuses a timeout that is not a positive number of milliseconds', async () => {
    const store = open(server.url);
    await expect(store.ready({ timeout: 0 })).rejects.toBeInstanceOf(CachingConfigError);
  });
});

describe('createRedisStore: an unreachable Redis', () => {
  it('is reported once per outage with its address and the connection’s own error, and every failed call counts in storeErrors', async () => {
    const server = await startRedis();
    const published: string[] = [];
    const listener = (message: unknown) => published.push((message as CacheStoreErrorMessage).error.message);
    subscribe(cachingChannels.storeError, listener);
    try {
      // Reconnection attempts every 50 ms: many of them during each outage, each an error of the client.
      const store = open(server.url, { maxReconnectDelay: 50 });
      const app = createContractApp(store, { breakerThreshold: 1_000 });
      const alice = app.caller('alice');
      await store.ready();
      await alice.post.list();
      expect(app.errors).toEqual([]);

      await server.stop();
      await eventually('the outage is reported', () => connectionReports(app.errors).length > 0);
      const before = app.caching.stats().storeErrors;
      for (let i = 0; i < 5; i++) {
        await alice.post.list();
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      expect(app.caching.stats().storeErrors - before).toBe(5);
      const failedCalls = app.errors.filter((error) => error.message.startsWith('store read failed'));
      expect(failedCalls).toHaveLength(5);
      for (const error of failedCalls) expect(error.message).toContain(`Redis at 127.0.0.1:${server.port} is unreachable`);
      const [report, ...more] = connectionReports(app.errors);
      expect(more).toEqual([]);
      expect(report?.message).toContain(`127.0.0.1:${server.port}`);
      expect(report?.cause).toBeInstanceOf(RedisConnectionError);
      // The diagnostics channel carries what onError got.
      expect(connectionReports(published.map((message) => new Error(message)))).toHaveLength(1);

      // Back: served again, and the next outage is reported again, once.
      await server.restart();
      await store.ready();
      await alice.post.list();
      await server.stop();
      await eventually('the second outage is reported', () => connectionReports(app.errors).length > 1);
      await alice.post.list();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(connectionReports(app.errors)).toHaveLength(2);
    } finally {
      unsubscribe(cachingChannels.storeError, listener);
      await server.dispose();
    }
  });

  it('names a misspelt host and the resolver’s error, once', async () => {
    const store = open('redis://no-such-host.invalid:6379', { maxReconnectDelay: 50 });
    const app = createContractApp(store, { breakerThreshold: 1_000 });
    const alice = app.caller('alice');
    await eventually('the failure is reported', () => connectionReports(app.errors).length > 0);
    for (let i = 0; i < 3; i++) await alice.post.list();
    const [report, ...more] = connectionReports(app.errors);
    expect(more).toEqual([]);
    expect(report?.message).toMatch(/Redis at no-such-host\.invalid:6379 is unreachable: getaddrinfo/);
    expect(app.caching.stats().storeErrors).toBe(3);
  });
});
