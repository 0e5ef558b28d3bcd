import KeyvRedis from '@keyv/redis';
import type { Keyv } from 'keyv';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createRawStringStore } from '../../src/stores/raw-string.js';
import type { RedisServer } from './redis.js';
import { fileRedis } from './redis-file.js';

/** One store the contract suites run against. `fresh()` gives an empty Keyv; `redis` is set for the Redis kind. */
export interface StoreKind {
  readonly name: 'memory' | 'redis';
  fresh(): Promise<Keyv>;
  readonly redis: RedisServer | undefined;
}

/**
 * The stores every contract suite loops over: the embedded default and a real
 * redis-server started for this test file. Call at the top level of a test file.
 */
export function storeKinds(): StoreKind[] {
  const redis = fileRedis();
  return [
    { name: 'memory', fresh: async () => createMemoryStore({ maxEntries: 10_000 }), redis: undefined },
    {
      name: 'redis',
      async fresh() {
        await redis.server.command('FLUSHALL');
        // What docs/stores.md recommends for Redis; test/contract/keyv-default.test.ts covers a plain Keyv too.
        return redis.track(createRawStringStore(new KeyvRedis(redis.url)));
      },
      get redis() {
        return redis.running;
      },
    },
  ];
}
