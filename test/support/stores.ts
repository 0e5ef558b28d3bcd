import KeyvRedis from '@keyv/redis';
import type { Keyv } from 'keyv';
import { afterAll, beforeAll } from 'vitest';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createAdapterStore } from '../../src/stores/raw-string.js';
import { type RedisServer, startRedis } from './redis.js';

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
  let server: RedisServer | undefined;
  const opened: Keyv[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const keyv of opened) await keyv.disconnect().catch(() => {});
    await server?.dispose();
  });
  return [
    { name: 'memory', fresh: async () => createMemoryStore({ maxEntries: 10_000 }), redis: undefined },
    {
      name: 'redis',
      async fresh() {
        if (!server) throw new Error('redis-server not started');
        await server.command('FLUSHALL');
        // What README recommends for Redis; test/core/keyv-default.test.ts covers a plain Keyv too.
        const keyv = createAdapterStore(new KeyvRedis(server.url));
        opened.push(keyv);
        return keyv;
      },
      get redis() {
        return server;
      },
    },
  ];
}
