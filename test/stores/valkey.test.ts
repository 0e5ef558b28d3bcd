import KeyvValkey from '@keyv/valkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError, createRawStringStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring } from '../support/inspect.js';
import { type RedisServer, startRedis } from '../support/redis.js';

// Valkey speaks the Redis protocol: @keyv/valkey runs here against Debian's redis-server.
describe('@keyv/valkey', () => {
  let server: RedisServer;
  const adapters: KeyvValkey[] = [];
  const adapter = (options: { useRedisSets?: boolean } = {}): KeyvValkey => {
    const made = new KeyvValkey(server.url, options);
    adapters.push(made);
    return made;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const made of adapters) await made.disconnect().catch(() => {});
    await server.dispose();
  });

  it('is refused by createRawStringStore with its default useRedisSets, with an error that says to turn it off', () => {
    const made = adapter();
    expect(() => createRawStringStore(made)).toThrow(CachingConfigError);
    expect(() => createRawStringStore(made)).toThrow(/useRedisSets: true.*never expires.*\{ useRedisSets: false \}/);
  });

  it('caches, serves a hit in one MGET and invalidates with useRedisSets false, leaving no key set and no key without a TTL', async () => {
    await server.command('FLUSHALL');
    const app = createContractApp(createRawStringStore(adapter({ useRedisSets: false })));
    const alice = app.caller('alice');
    const first = await alice.post.list({ page: 1 });
    expect(await redisCommandsDuring(server, () => alice.post.list({ page: 1 }))).toEqual({ mget: 1 });
    expect(await alice.post.list({ page: 1 })).toEqual(first);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    await alice.post.touch();
    expect((await alice.post.list({ page: 1 })).rev).toBe(first.rev + 1);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    for (let page = 2; page <= 20; page++) await app.caller(`user${page}`).post.list({ page });
    expect(app.errors).toEqual([]);

    const keys = (await server.command('KEYS', '*')) as string[];
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) {
      // A set indexing the keys would be the one key of another type, and it would have no TTL.
      expect(await server.command('TYPE', key)).toBe('string');
      expect(Number(await server.command('PTTL', key))).toBeGreaterThan(0);
    }
    expect(await server.command('SCARD', 'namespace:')).toBe(0);
  });
});
