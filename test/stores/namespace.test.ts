import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring } from '../support/inspect.js';
import { expectHitThenInvalidated } from '../support/probes.js';
import { fileRedis } from '../support/redis-file.js';

const redis = fileRedis();

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
      await redis.server.command('FLUSHALL');
      return redis.track(new Keyv(new KeyvRedis(redis.url), namespace === undefined ? {} : { namespace }));
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
    if (store.redis) {
      // A hit stays one round trip: the fix costs reads nothing.
      expect(await redisCommandsDuring(redis.server, () => alice.post.list({ page: 1 }))).toEqual({ mget: 1 });
    }
    await expectHitThenInvalidated(app, first);
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: first.rev + 1, page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    expect(app.errors).toEqual([]);
  });
});

describe('a Keyv namespace on Redis', () => {
  it('keeps the stored key of an entry that the cache wrote before this fix, when prefix and namespace differ', async () => {
    await redis.server.command('FLUSHALL');
    const app = createContractApp(redis.track(new Keyv(new KeyvRedis(redis.url), { namespace: 'ns' })));
    await app.caller('alice').post.list({ page: 1 });
    const keys = (await redis.server.command('KEYS', '*')) as string[];
    // Keyv's own `ns:` then KeyvRedis' `ns::`: the layout every earlier release wrote, so no entry is orphaned.
    expect(keys.filter((key) => key.includes(':q:'))).toEqual([expect.stringMatching(/^ns::ns:trpc-caching:q:post\.list:/)]);
  });
});
