import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRawStringStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring } from '../support/inspect.js';
import { type RedisServer, startRedis } from '../support/redis.js';

// The contract suites run on createRawStringStore, as README recommends for Redis; any Keyv must work as well.
describe('Keyv on Redis', () => {
  let server: RedisServer;
  const opened: Keyv[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const keyv of opened) await keyv.disconnect().catch(() => {});
    await server.dispose();
  });
  const open = (keyv: Keyv): Keyv => {
    opened.push(keyv);
    return keyv;
  };

  it('caches and invalidates through a plain Keyv with its default serializer, a hit still one MGET', async () => {
    await server.command('FLUSHALL');
    const app = createContractApp(open(new Keyv({ store: new KeyvRedis(server.url), namespace: '' })));
    const alice = app.caller('alice');
    const miss = await alice.value('rich');
    expect(await redisCommandsDuring(server, () => alice.value('rich'))).toEqual({ mget: 1 });
    expect(await alice.value('rich')).toEqual(miss);
    expect(app.runs('value', 'alice', 'rich')).toBe(1);
    await alice.post.touch();
    await alice.value('rich');
    expect(app.runs('value', 'alice', 'rich')).toBe(2);
    expect(app.errors).toEqual([]);
  });

  it('stores entries as their own text under createRawStringStore, expired by Redis itself', async () => {
    await server.command('FLUSHALL');
    const app = createContractApp(open(createRawStringStore(new KeyvRedis(server.url))));
    await app.caller('alice').post.list({ page: 1 });
    const [key] = (await server.command('KEYS', 'trpc-caching:q:*')) as string[];
    expect(key).toBeDefined();
    const text = String(await server.command('GET', String(key)));
    // No JSON envelope: the entry header is the first thing stored.
    expect(text.startsWith('2 ')).toBe(true);
    const pttl = Number(await server.command('PTTL', String(key)));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(300_000);
  });

  it('reads what a plain Keyv wrote as a miss, never as a hit or an error, when a deployment switches stores', async () => {
    await server.command('FLUSHALL');
    const before = createContractApp(open(new Keyv({ store: new KeyvRedis(server.url), namespace: '' })));
    await before.caller('alice').post.list({ page: 1 });
    const after = createContractApp(open(createRawStringStore(new KeyvRedis(server.url))));
    await after.caller('alice').post.list({ page: 1 });
    await after.caller('alice').post.list({ page: 1 });
    expect(after.runs('post.list', 'alice', { page: 1 })).toBe(1);
    expect(after.errors).toEqual([]);
  });
});
