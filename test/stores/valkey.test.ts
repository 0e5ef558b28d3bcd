import KeyvValkey from '@keyv/valkey';
import { describe, expect, it } from 'vitest';
import { CachingConfigError, createRawStringStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring } from '../support/inspect.js';
import { expectHitThenInvalidated } from '../support/probes.js';
import { fileRedis } from '../support/redis-file.js';

// Valkey speaks the Redis protocol: @keyv/valkey runs here against Debian's redis-server.
describe('@keyv/valkey', () => {
  const redis = fileRedis();
  const adapter = (options: { useRedisSets?: boolean } = {}): KeyvValkey => redis.track(new KeyvValkey(redis.url, options));

  it('is refused by createRawStringStore with its default useRedisSets, with an error that says to turn it off', () => {
    const made = adapter();
    expect(() => createRawStringStore(made)).toThrow(CachingConfigError);
    expect(() => createRawStringStore(made)).toThrow(/useRedisSets: true.*never expires.*\{ useRedisSets: false \}/);
  });

  it('caches, serves a hit in one MGET and invalidates with useRedisSets false, leaving no key set and no key without a TTL', async () => {
    await redis.server.command('FLUSHALL');
    const app = createContractApp(createRawStringStore(adapter({ useRedisSets: false })));
    const alice = app.caller('alice');
    const first = await alice.post.list({ page: 1 });
    expect(await redisCommandsDuring(redis.server, () => alice.post.list({ page: 1 }))).toEqual({ mget: 1 });
    await expectHitThenInvalidated(app, first);
    for (let page = 2; page <= 20; page++) await app.caller(`user${page}`).post.list({ page });
    expect(app.errors).toEqual([]);

    const keys = (await redis.server.command('KEYS', '*')) as string[];
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) {
      // A set indexing the keys would be the one key of another type, and it would have no TTL.
      expect(await redis.server.command('TYPE', key)).toBe('string');
      expect(Number(await redis.server.command('PTTL', key))).toBeGreaterThan(0);
    }
    expect(await redis.server.command('SCARD', 'namespace:')).toBe(0);
  });
});
