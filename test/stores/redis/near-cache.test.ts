import { createClient } from '@keyv/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError } from '../../../src/errors.js';
import { NearCache, type NearRow } from '../../../src/stores/redis/near-cache.js';
import { resolveNearCacheOptions } from '../../../src/stores/redis/near-cache-options.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type ProxiedConnection, startTcpProxy, type TcpProxy, trackingConnection } from '../../support/tcp-proxy.js';

const MAX_STALENESS = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds, up to a generous deadline (the box is shared). */
async function until(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

describe('near cache', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  /** The store's own connection (the near cache's fallback) and another process's writer, both direct. */
  let main: ReturnType<typeof createClient>;
  let other: ReturnType<typeof createClient>;
  const opened: NearCache[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
    main = createClient({ url: redis.url });
    other = createClient({ url: redis.url });
    main.on('error', () => {});
    other.on('error', () => {});
    await main.connect();
    await other.connect();
  });
  afterEach(() => {
    proxy.forward();
    for (const near of opened.splice(0)) near.close();
  });
  afterAll(async () => {
    main.destroy();
    other.destroy();
    await proxy.close();
    await redis.dispose();
  });

  const fallback = async (keys: string[]): Promise<NearRow[]> => (await main.mGet(keys)).map((row) => row ?? undefined);
  /** A near cache whose tracking connection goes through the proxy, ready to serve. */
  async function nearCache(options: { maxEntries?: number; maxBytes?: number } = {}): Promise<NearCache> {
    const near = new NearCache({ url: proxy.url }, fallback, resolveNearCacheOptions({ maxStaleness: MAX_STALENESS, ...options }));
    opened.push(near);
    await until(() => near.stats().live, 'the near cache is live');
    return near;
  }
  /** Reads until a read is answered from memory. */
  async function warm(near: NearCache, keys: string[]): Promise<NearRow[]> {
    for (;;) {
      const hits = near.stats().hits;
      const rows = await near.getMany(keys);
      if (near.stats().hits > hits) return rows;
      await sleep(1);
    }
  }

  it('answers a hot read from memory: no Redis command for any of 10 000 near hits, apart from its heartbeat', async () => {
    await redis.command('FLUSHALL');
    await main.mSet({ 'e:1': 'entry', 'v:all': 'a1', 'v:t:x': 't1' });
    const near = await nearCache();
    const keys = ['e:1', 'v:all', 'v:t:x'];
    await warm(near, keys);
    await redis.resetStats();
    const startedAt = performance.now();
    const before = near.stats();
    let synchronous = 0;
    for (let i = 0; i < 10_000; i++) {
      // Answered synchronously: no round trip.
      if (Array.isArray(near.getMany(keys))) synchronous++;
      // Let the heartbeat run, as a server's event loop would between requests.
      if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    const elapsed = performance.now() - startedAt;
    const after = near.stats();
    const counts = await redis.commandCounts();
    // One MGET for each read it could not answer (none, unless a starved event loop let its proof expire); no other command
    // but the heartbeat and this test's own CONFIG RESETSTAT and INFO.
    const unanswered = after.loads + after.fallbacks - before.loads - before.fallbacks;
    const { ping = 0, mget = 0, ...others } = counts;
    expect(Object.keys(others).filter((name) => !/^(config\|resetstat|info)$/.test(name))).toEqual([]);
    expect(mget).toBe(unanswered);
    expect(after.hits - before.hits).toBe(synchronous);
    expect(synchronous).toBeGreaterThan(9_000);
    // The heartbeat is per unit of time, never per read: at most one PING a third of maxStaleness.
    expect(ping).toBeLessThanOrEqual(2 + Math.ceil(elapsed / (MAX_STALENESS / 3)));
  });

  it("sees this process's own write on its very next read, even with a read of the old value in flight", async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    const keys = ['e:own', 'v:own'];
    await main.mSet({ 'e:own': 'entry-0', 'v:own': 'v0' });
    await warm(near, keys);
    for (let i = 1; i <= 300; i++) {
      // A read that misses here is in flight on the tracking connection while the write is sent.
      const racing = near.getMany(['v:own', `miss:${i}`]);
      await near.write(['v:own'], () => main.set('v:own', `v${i}`));
      const rows = await near.getMany(keys);
      expect(rows[1]).toBe(`v${i}`);
      await racing;
    }
    // Hot again once Redis tracked the key anew: copies are still served between writes.
    await warm(near, keys);
    expect(near.stats().hits).toBeGreaterThan(0);
  });

  it("sees its own write at once, before Redis's invalidation of it has arrived", async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await main.set('v:mine', 'old');
    await warm(near, ['v:mine']);
    const tracking = new Set(proxy.connections().filter(trackingConnection));
    await near.write(['v:mine'], async () => {
      // A read of this process that ran on the server before the write and came back while it was under way.
      expect(await near.getMany(['v:mine'])).toEqual(['old']);
      // Redis's invalidation of the write is held on its way here.
      proxy.blackhole((connection) => tracking.has(connection), 'to-client');
      await main.set('v:mine', 'new');
    });
    expect(await near.getMany(['v:mine'])).toEqual(['new']);
  });

  it('does not keep what a read brought back when the invalidation of it arrives in the same breath', async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await other.set('k', 'old');
    const tracking = new Set(proxy.connections().filter(trackingConnection));
    // The read runs on the server, its reply is held; then a write queues its invalidation right behind that reply.
    proxy.blackhole((connection) => tracking.has(connection), 'to-client');
    const invalidations = near.stats().invalidations;
    const reading = near.getMany(['k']);
    await sleep(20);
    await other.set('k', 'new');
    await sleep(10);
    proxy.forward();
    await reading;
    await until(() => near.stats().invalidations > invalidations && near.stats().live, 'the invalidation arrived');
    expect(await near.getMany(['k'])).toEqual(['new']);
  });

  it('drops a copy when another connection writes its key, long before maxStaleness', async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await other.set('v:shared', 'old');
    await warm(near, ['v:shared']);
    const invalidations = near.stats().invalidations;
    await other.set('v:shared', 'new');
    const returnedAt = performance.now();
    await until(() => near.stats().invalidations > invalidations, 'Redis invalidated the key');
    expect(performance.now() - returnedAt).toBeLessThan(MAX_STALENESS);
    expect(await near.getMany(['v:shared'])).toEqual(['new']);
  });

  it('stops serving copies within maxStaleness when its connection goes silent without closing, reads Redis instead, then reconnects', async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await other.set('v:held', 'before');
    await warm(near, ['v:held']);
    const silenced = new Set<ProxiedConnection>(proxy.connections().filter(trackingConnection));
    expect(silenced.size).toBe(1);
    expect(proxy.blackhole((connection) => silenced.has(connection))).toBe(1);
    await other.set('v:held', 'after');
    const returnedAt = performance.now();
    // Reads may still see the old copy, but never once maxStaleness has passed since the write returned.
    let lastStale = returnedAt;
    while (performance.now() - returnedAt < MAX_STALENESS * 3) {
      const startedAt = performance.now();
      const [row] = await near.getMany(['v:held']);
      if (row === 'before') lastStale = startedAt;
      await sleep(2);
    }
    expect(lastStale - returnedAt).toBeLessThan(MAX_STALENESS);
    expect(near.stats().live).toBe(false);
    expect(near.stats().fallbacks).toBeGreaterThan(0);
    // The silent connection is replaced (after max(1 s, 4 x maxStaleness)) and copies are served again.
    await until(() => near.stats().live, 'a new tracking connection proves itself');
    expect(await warm(near, ['v:held'])).toEqual(['after']);
    expect(near.stats().entries).toBe(1);
  });

  it('drops every copy when its connection is lost, reads Redis meanwhile, and serves again once reconnected', async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await other.mSet({ a: '1', b: '2' });
    await warm(near, ['a', 'b']);
    expect(near.stats().entries).toBe(2);
    const clears = near.stats().clears;
    await redis.command('CLIENT', 'KILL', 'ID', String(await trackingClientId()));
    await until(() => near.stats().clears > clears, 'the near cache noticed the lost connection');
    expect(near.stats().entries).toBe(0);
    await other.set('a', '3');
    expect(await near.getMany(['a', 'b'])).toEqual(['3', '2']);
    await until(() => near.stats().live, 'reconnected');
    expect(await warm(near, ['a', 'b'])).toEqual(['3', '2']);
  });

  it('drops every copy on FLUSHALL and a copy whose key expired in Redis', async () => {
    await redis.command('FLUSHALL');
    const near = await nearCache();
    await other.mSet({ a: '1', b: '2' });
    await warm(near, ['a', 'b']);
    await other.flushAll();
    await until(() => near.stats().entries === 0, 'the flush emptied the near cache');
    expect(await near.getMany(['a', 'b'])).toEqual([undefined, undefined]);
    await other.set('short', 'lived', { PX: 50 });
    await warm(near, ['short']);
    await until(async () => (await near.getMany(['short']))[0] === undefined, 'the expired key is gone here too');
  });

  it('holds at most maxEntries keys and maxBytes bytes, dropping the least recently used first', async () => {
    await redis.command('FLUSHALL');
    const byEntries = await nearCache({ maxEntries: 3 });
    await other.mSet({ k1: 'a', k2: 'b', k3: 'c', k4: 'd' });
    for (const key of ['k1', 'k2', 'k3']) await warm(byEntries, [key]);
    await warm(byEntries, ['k1']); // k1 used again: k2 is now the least recently used
    await warm(byEntries, ['k4']);
    expect(byEntries.stats()).toMatchObject({ entries: 3, evictions: 1 });
    const hits = byEntries.stats().hits;
    await byEntries.getMany(['k2']);
    expect(byEntries.stats().hits).toBe(hits); // k2 was the one dropped
    await byEntries.getMany(['k1']);
    expect(byEntries.stats().hits).toBe(hits + 1);

    // Each value of 100 characters under a 2-character key counts 204 bytes: two fit in 500, not three.
    const byBytes = await nearCache({ maxBytes: 500 });
    await other.mSet({ b1: 'x'.repeat(100), b2: 'y'.repeat(100), b3: 'z'.repeat(100), big: 'w'.repeat(300) });
    for (const key of ['b1', 'b2', 'b3']) await warm(byBytes, [key]);
    expect(byBytes.stats()).toMatchObject({ entries: 2, bytes: 408 });
    await byBytes.getMany(['big']);
    expect(byBytes.stats().entries).toBeLessThanOrEqual(2);
    expect(byBytes.stats().bytes).toBeLessThanOrEqual(500);
  });

  it('refuses options that cannot bound staleness or memory, naming them', () => {
    expect(resolveNearCacheOptions(true)).toEqual({ maxStaleness: 250, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 });
    expect(() => resolveNearCacheOptions({ maxStaleness: 10 })).toThrow(/nearCache\.maxStaleness: expected at least 30 ms/);
    expect(() => resolveNearCacheOptions({ maxStaleness: 1.5 })).toThrow(CachingConfigError);
    expect(() => resolveNearCacheOptions({ maxEntries: 0 })).toThrow(/nearCache\.maxEntries/);
    expect(() => resolveNearCacheOptions({ maxBytes: Number.NaN })).toThrow(/nearCache\.maxBytes/);
    expect(() => resolveNearCacheOptions({ maxStalenes: 100 } as never)).toThrow(/nearCache\.maxStalenes: unknown option/);
    expect(() => resolveNearCacheOptions(null as never)).toThrow(/nearCache: expected true or an object/);
  });

  async function trackingClientId(): Promise<number> {
    const list = String(await redis.command('CLIENT', 'LIST'));
    const line = list.split('\n').find((entry) => /flags=\S*t/.test(entry));
    const id = line?.match(/id=(\d+)/)?.[1];
    if (id === undefined) throw new Error(`no tracking client in\n${list}`);
    return Number(id);
  }
});
