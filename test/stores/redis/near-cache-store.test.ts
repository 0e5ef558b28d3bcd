import { createClient } from '@keyv/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError } from '../../../src/errors.js';
import { createRedisStore, nearCacheStats, type RedisStore } from '../../../src/stores/redis/index.js';
import { createContractApp } from '../../support/apps/contract.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { startTcpProxy, type TcpProxy, trackingConnection } from '../../support/tcp-proxy.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The store once connected: a call before that would bypass the cache (no offline queue). */
async function connected(store: RedisStore): Promise<RedisStore> {
  await store.ready();
  return store;
}

describe('createRedisStore({ nearCache })', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  const stores: RedisStore[] = [];
  const open = (nearCache?: { maxStaleness: number }, url = redis.url): RedisStore => {
    const store = createRedisStore({ url, ...(nearCache ? { nearCache } : {}) });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
  });
  afterAll(async () => {
    for (const store of stores) await store.close().catch(() => {});
    await proxy.close();
    await redis.dispose();
  });

  it('serves a hot cached query with no Redis command, and a mutation of this process is seen by its next query', async () => {
    // Through the proxy, so that Redis's own invalidations can be held back below.
    const store = await connected(open({ maxStaleness: 250 }, proxy.url));
    const app = createContractApp(store);
    const alice = app.caller('alice');
    const first = await alice.post.list({ page: 1 });
    for (let i = 0; i < 100 && (nearCacheStats(store)?.hits ?? 0) === 0; i++) {
      await alice.post.list({ page: 1 });
      await sleep(5);
    }
    expect(nearCacheStats(store)?.hits).toBeGreaterThan(0);

    await redis.resetStats();
    const startedAt = performance.now();
    const before = nearCacheStats(store);
    for (let i = 0; i < 2_000; i++) {
      await alice.post.list({ page: 1 });
      // Let the heartbeat run, as a server's event loop would between requests.
      if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    const elapsed = performance.now() - startedAt;
    const after = nearCacheStats(store);
    const counts = await redis.commandCounts();
    // One MGET per call the near cache could not answer (none, unless a starved event loop let its proof expire);
    // nothing else but the heartbeat (per unit of time, not per hit) and this test's own CONFIG RESETSTAT and INFO.
    const { ping = 0, mget = 0, ...others } = counts;
    expect(Object.keys(others).filter((name) => !/^(config\|resetstat|info)$/.test(name))).toEqual([]);
    expect(mget).toBe((after?.loads ?? 0) + (after?.fallbacks ?? 0) - (before?.loads ?? 0) - (before?.fallbacks ?? 0));
    expect((after?.hits ?? 0) - (before?.hits ?? 0)).toBeGreaterThan(1_800);
    expect(ping).toBeLessThanOrEqual(2 + Math.ceil(elapsed / (250 / 3)));
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);

    // This process's own mutation is seen by its next query even while Redis's invalidation of it is held back.
    proxy.blackhole(trackingConnection, 'to-client');
    try {
      for (let i = 0; i < 5; i++) {
        await alice.post.touch();
        expect((await alice.post.list({ page: 1 })).rev).toBe(first.rev + 1 + i);
      }
    } finally {
      proxy.forward();
    }
    expect(app.errors).toEqual([]);
  });

  it("drops its copy on another process's mutation long before maxStaleness while the tracking connection is healthy", async () => {
    const here = await connected(open({ maxStaleness: 250 }));
    const mineApp = createContractApp(here);
    const mine = mineApp.caller('bob');
    const theirs = createContractApp(await connected(open())).caller('bob');
    await mine.post.list({ page: 1 });
    for (let i = 0; i < 100 && (nearCacheStats(here)?.hits ?? 0) === 0; i++) {
      await mine.post.list({ page: 1 });
      await sleep(5);
    }
    expect(nearCacheStats(here)?.hits).toBeGreaterThan(0);
    // Each app keeps its own data: a miss here shows as a second run of this app's resolver.
    await theirs.post.touch();
    const returnedAt = performance.now();
    while (mineApp.runs('post.list', 'bob', { page: 1 }) === 1 && performance.now() - returnedAt < 2_000) {
      await mine.post.list({ page: 1 });
    }
    expect(mineApp.runs('post.list', 'bob', { page: 1 })).toBe(2);
    expect(performance.now() - returnedAt).toBeLessThan(250);
  });

  it('says nothing of near caches for a store without one, and refuses a near cache on a Cluster or with bad options', async () => {
    expect(nearCacheStats(open())).toBeUndefined();
    expect(() => createRedisStore({ cluster: { rootNodes: [{ url: redis.url }] }, nearCache: true })).toThrow(
      /createRedisStore\.nearCache: one server only/,
    );
    expect(() => createRedisStore({ url: redis.url, nearCache: { maxStaleness: 5 } })).toThrow(CachingConfigError);
    // The bad option is refused before any connection is opened.
    const clients = String(await redis.command('CLIENT', 'LIST'))
      .trim()
      .split('\n').length;
    expect(() => createRedisStore({ url: redis.url, nearCache: { maxEntries: -1 } })).toThrow(/nearCache\.maxEntries/);
    await sleep(50);
    expect(
      String(await redis.command('CLIENT', 'LIST'))
        .trim()
        .split('\n').length,
    ).toBe(clients);
  });

  it('drops its copies when Redis is flushed by another client', async () => {
    const store = await connected(open({ maxStaleness: 250 }));
    const other = createClient({ url: redis.url });
    await other.connect();
    try {
      const app = createContractApp(store);
      const carol = app.caller('carol');
      await carol.post.list({ page: 1 });
      for (let i = 0; i < 100 && (nearCacheStats(store)?.entries ?? 0) === 0; i++) {
        await carol.post.list({ page: 1 });
        await sleep(5);
      }
      expect(nearCacheStats(store)?.entries).toBeGreaterThan(0);
      await other.flushAll();
      for (let i = 0; i < 200 && (nearCacheStats(store)?.entries ?? 0) > 0; i++) await sleep(5);
      expect(nearCacheStats(store)?.entries).toBe(0);
      await carol.post.list({ page: 1 });
      expect(app.runs('post.list', 'carol', { page: 1 })).toBe(2);
    } finally {
      other.destroy();
    }
  });
});
