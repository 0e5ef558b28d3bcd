import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring } from '../support/inspect.js';
import { type RedisServer, startRedis } from '../support/redis.js';

let server: RedisServer | undefined;
const opened: Keyv[] = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const keyv of opened) await keyv.disconnect().catch(() => {});
  await server?.dispose();
});

/** A Keyv whose namespace is `namespace`, on each kind of store a user may hand the cache. */
/** `namespace` undefined: the Keyv as its constructor makes it (Keyv's default namespace is `keyv`). */
const stores: Array<{ name: string; redis: boolean; open(namespace: string | undefined): Promise<Keyv> }> = [
  { name: 'a plain in-memory Keyv', redis: false, open: async (namespace) => new Keyv(namespace === undefined ? {} : { namespace }) },
  {
    name: 'the default memory store',
    redis: false,
    async open(namespace) {
      const keyv = createMemoryStore();
      if (namespace !== undefined) keyv.namespace = namespace;
      return keyv;
    },
  },
  {
    name: 'a plain Keyv on Redis',
    redis: true,
    async open(namespace) {
      if (!server) throw new Error('redis-server not started');
      await server.command('FLUSHALL');
      const keyv = new Keyv(new KeyvRedis(server.url), namespace === undefined ? {} : { namespace });
      opened.push(keyv);
      return keyv;
    },
  },
];

// Keyv 5 prefixes `getMany` keys with `{namespace}:` always, `set` keys only when they do not start with it yet.
describe.each(stores)('any Keyv namespace, on $name', (store) => {
  it.each([
    { prefix: 'app', namespace: 'app' },
    { prefix: undefined, namespace: 'trpc-caching' },
    { prefix: undefined, namespace: undefined },
  ])('serves a hit after a miss and still invalidates, with prefix $prefix and namespace $namespace', async ({ prefix, namespace }) => {
    const app = createContractApp(await store.open(namespace), prefix === undefined ? {} : { prefix });
    const alice = app.caller('alice');
    const first = await alice.post.list({ page: 1 });
    if (store.redis && server) {
      // A hit stays one round trip: the fix costs reads nothing.
      expect(await redisCommandsDuring(server, () => alice.post.list({ page: 1 }))).toEqual({ mget: 1 });
    }
    expect(await alice.post.list({ page: 1 })).toEqual(first);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    await alice.post.touch();
    expect((await alice.post.list({ page: 1 })).rev).toBe(first.rev + 1);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: first.rev + 1, page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    expect(app.errors).toEqual([]);
  });
});

describe('a Keyv namespace on Redis', () => {
  it('keeps the stored key of an entry that the cache wrote before this fix, when prefix and namespace differ', async () => {
    if (!server) throw new Error('redis-server not started');
    await server.command('FLUSHALL');
    const keyv = new Keyv(new KeyvRedis(server.url), { namespace: 'ns' });
    opened.push(keyv);
    const app = createContractApp(keyv);
    await app.caller('alice').post.list({ page: 1 });
    const keys = (await server.command('KEYS', '*')) as string[];
    // Keyv's own `ns:` then KeyvRedis' `ns::`: the layout every earlier release wrote, so no entry is orphaned.
    expect(keys.filter((key) => key.includes(':q:'))).toEqual([expect.stringMatching(/^ns::ns:trpc-caching:q:post\.list:/)]);
  });
});
