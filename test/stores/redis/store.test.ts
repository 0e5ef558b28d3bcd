import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError, type CachingError } from '../../../src/index.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../../../src/stores/redis/index.js';
import { createContractApp } from '../../support/apps/contract.js';
import { SERVERS, type StandaloneServer, startStandalone } from '../../support/cluster.js';
import { eventually } from '../../support/redis-store.js';

/** Commands a server counted during `action`, minus what measuring costs (INFO on a fresh connection). */
async function commandsDuring(server: StandaloneServer, action: () => Promise<unknown>): Promise<Record<string, number>> {
  const a = await server.commandCounts();
  const b = await server.commandCounts();
  await action();
  const c = await server.commandCounts();
  const delta: Record<string, number> = {};
  for (const name of new Set([...Object.keys(a), ...Object.keys(c)])) {
    const used = (c[name] ?? 0) - (b[name] ?? 0) - ((b[name] ?? 0) - (a[name] ?? 0));
    if (used !== 0) delta[name] = used;
  }
  return delta;
}

for (const { binary, skip } of SERVERS) {
  if (skip !== undefined) console.log(`[redis store] skipping the ${binary} suite: ${skip}`);
  describe.skipIf(skip !== undefined)(`createRedisStore on ${binary}`, () => {
    let server: StandaloneServer;
    const stores: RedisStore[] = [];
    beforeAll(async () => {
      server = await startStandalone(binary);
    });
    afterAll(async () => {
      for (const store of stores) await store.close().catch(() => {});
      await server?.dispose();
    });
    /** A store on the file's server, connected (a call before that bypasses the cache). */
    const connected = async (options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> => {
      const store = createRedisStore({ url: server.url, ...options } as RedisStoreOptions);
      stores.push(store);
      await store.ready();
      return store;
    };

    it('serves a hit in one MGET, and stores each key as README names it, as plain text with a TTL', async () => {
      await server.command('FLUSHALL');
      const app = createContractApp(await connected());
      const alice = app.caller('alice');
      const first = await alice.post.list({ page: 1 });
      expect(await commandsDuring(server, () => alice.post.list({ page: 1 }))).toEqual({ mget: 1 });
      expect(await alice.post.list({ page: 1 })).toEqual(first);
      expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
      const keys = ((await server.command('KEYS', 'trpc-caching:*')) as string[]).sort();
      // No Keyv namespace, no doubled prefix: the engine's keys are the Redis keys.
      expect(keys).toEqual([
        expect.stringMatching(/^trpc-caching:q:post\.list:u\.[0-9a-f]{32}:[0-9a-f]{32}$/),
        'trpc-caching:v:all',
        'trpc-caching:v:p:post',
        'trpc-caching:v:p:post.list',
        expect.stringMatching(/^trpc-caching:v:s:u\.[0-9a-f]{32}$/),
      ]);
      const entry = String(await server.command('GET', keys[0] as string));
      // The entry's own format (`{format} {etag} …`), not a Keyv JSON envelope.
      expect(entry).toMatch(/^\d+ [0-9a-f]{32} /);
      expect(entry.startsWith('{')).toBe(false);
      for (const key of keys) expect(Number(await server.command('PTTL', key))).toBeGreaterThan(0);
    });

    it('invalidates through every target, and writes each version move as one MULTI', async () => {
      await server.command('FLUSHALL');
      const app = createContractApp(await connected());
      const [alice, bob] = [app.caller('alice'), app.caller('bob')];
      const moves = [() => alice.post.touch(), () => bob.post.share({ with: ['alice'] }), () => bob.post.reset(), () => bob.jobs.wipe()];
      for (const move of moves) {
        const before = await alice.post.list({ page: 1 });
        const used = await commandsDuring(server, move);
        expect(used).toMatchObject({ multi: 1, exec: 1 });
        expect((await alice.post.list({ page: 1 })).rev).toBe(before.rev + 1);
      }
      const tagged = await alice.post.byId({ id: 1 });
      await bob.post.retag({ id: 1 });
      expect((await alice.post.byId({ id: 1 })).rev).toBe(tagged.rev + 1);
    });

    it('fails open while Redis is down, reports it as store errors, and serves hits again once Redis is back', async () => {
      await server.command('FLUSHALL');
      const store = await connected({ maxReconnectDelay: 200 });
      const heard: unknown[] = [];
      store.on('error', (error: unknown) => heard.push(error));
      const app = createContractApp(store, { breakerCooldown: 300 });
      const alice = app.caller('alice');
      await alice.post.list({ page: 1 });
      await server.stop();
      // Without the offline queue, calls fail at once instead of waiting for Redis: the resolver answers.
      const started = performance.now();
      expect((await alice.post.list({ page: 1 })).page).toBe(1);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(heard.length).toBeGreaterThan(0);
      expect(app.errors.map((error: CachingError) => error.operation)).toContain('read');
      await server.restart();
      await eventually('hits are served again', async () => {
        await alice.post.list({ page: 1 });
        const runs = app.runs('post.list', 'alice', { page: 1 });
        await alice.post.list({ page: 1 });
        return app.runs('post.list', 'alice', { page: 1 }) === runs;
      });
    });

    it('starts while Redis is down without holding anything up, and connects once it is up', async () => {
      // Stores of earlier tests would see the restart below as a server switch and renew the global version, which
      // makes this store's first entry miss once more: this test is about one store, so they go first.
      for (const earlier of stores.splice(0)) await earlier.close().catch(() => {});
      await server.stop();
      const store = createRedisStore({ url: server.url, maxReconnectDelay: 200 });
      stores.push(store);
      store.on('error', () => {});
      const app = createContractApp(store);
      const started = performance.now();
      expect((await app.caller('alice').post.list({ page: 1 })).page).toBe(1);
      expect(performance.now() - started).toBeLessThan(1_000);
      await server.restart();
      await store.ready({ timeout: 10_000 });
      await app.caller('alice').post.list({ page: 2 });
      await app.caller('alice').post.list({ page: 2 });
      expect(app.runs('post.list', 'alice', { page: 2 })).toBe(1);
    });

    it('counts an invalidation as written only once replicaAcks replicas have it', async () => {
      await server.command('FLUSHALL');
      const store = await connected({ replicaAcks: 1, replicaAckTimeout: 50 });
      const app = createContractApp(store, { invalidationTimeout: 500 });
      // No replica: the move reached the primary only, so it stays pending and this process bypasses what it covers.
      expect(await app.caching.invalidate({ tags: ['a'] })).toBe(false);
      expect(app.caching.pendingInvalidations).toBe(1);
      const replica = await startStandalone(binary);
      try {
        // Sync at once (diskless replication waits 5 s by default for more replicas to join).
        await server.command('CONFIG', 'SET', 'repl-diskless-sync-delay', '0');
        await replica.command('REPLICAOF', '127.0.0.1', String(server.port));
        await eventually('the primary sees its replica online', async () =>
          /slave0:.*state=online/.test(String(await server.command('INFO', 'replication'))),
        );
        // A replica that just came online may take a moment to acknowledge (a loaded machine): moves then land.
        await eventually('a move is acknowledged by the replica', () => app.caching.invalidate({ tags: ['b'] }), 10_000);
        expect(await app.caching.flush(5_000)).toBe(true);
        expect(app.caching.pendingInvalidations).toBe(0);
      } finally {
        await replica.dispose();
      }
    });

    it('closes its connections on close()', async () => {
      const clients = async () =>
        String(await server.command('CLIENT', 'LIST'))
          .trim()
          .split('\n').length;
      const before = await clients();
      const store = createRedisStore({ url: server.url, replicaAcks: 1 });
      await store.ready();
      // One connection for reads and writes, one more for writes that wait for replicas.
      expect(await clients()).toBe(before + 2);
      await store.close();
      await eventually('its connections are gone', async () => (await clients()) === before);
    });
  });
}

describe('createRedisStore options', () => {
  it('refuses bad options with a CachingConfigError that names them', () => {
    const refused = (options: unknown, option: RegExp) => {
      expect(() => createRedisStore(options as RedisStoreOptions)).toThrow(CachingConfigError);
      expect(() => createRedisStore(options as RedisStoreOptions)).toThrow(option);
    };
    refused({ url: undefined }, /url: expected a redis:\/\/ or rediss:\/\/ URL, got undefined \(is REDIS_URL set\?\)/);
    refused({ url: 'http://localhost' }, /createRedisStore\.url/);
    refused({ url: 'redis://a', cluster: { rootNodes: [{ url: 'redis://b' }] } }, /either url .* or cluster/);
    refused({ cluster: { rootNodes: [] } }, /cluster\.rootNodes/);
    refused({ url: 'redis://a', replicaAcks: -1 }, /replicaAcks/);
    refused({ url: 'redis://a', connectTimeout: 0 }, /connectTimeout/);
    refused({ url: 'redis://a', hashTags: 'yes' }, /hashTags/);
    refused({ url: 'redis://a', timeout: 5 }, /createRedisStore\.timeout: unknown option/);
  });

  it('refuses to clear (an error event), which would take every other key of the database with it', async () => {
    const store = createRedisStore({ url: 'redis://127.0.0.1:1', maxReconnectDelay: 5_000 });
    const heard: unknown[] = [];
    store.on('error', (error: unknown) => heard.push(error));
    try {
      // Keyv turns the adapter's refusal into an error event, as it does every store fault.
      await store.clear();
      expect(heard.map(String)).toContainEqual(expect.stringMatching(/does not clear: call caching\.invalidate\(\{ all: true \}\)/));
    } finally {
      await store.close();
    }
  });
});
