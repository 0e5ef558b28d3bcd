import type { RedisClientOptions } from '@keyv/redis';
import type { RedisBackend } from './backend.js';
import { NearCache, type ResolvedNearCacheOptions } from './near-cache.js';

/**
 * A single-node backend with a near cache in front: reads go through the near
 * cache (memory when it can vouch for its copies, Redis otherwise), and every
 * write or delete of this process drops the copies of its keys before it is
 * sent and again once it settled, so that this process reads its own writes.
 *
 * @param tracking the client options of the near cache's own tracking connection: the store's URL,
 *   credentials and socket options (RESP3 and client tracking are added by the near cache).
 */
export function withNearCache(
  backend: RedisBackend,
  tracking: RedisClientOptions,
  options: ResolvedNearCacheOptions,
): { backend: RedisBackend; near: NearCache } {
  const near = new NearCache(tracking, (keys) => backend.read(keys), options);
  return {
    near,
    backend: {
      read: async (keys) => near.getMany(keys as string[]),
      set: (key, value, ttl) => near.write([key], () => backend.set(key, value, ttl)),
      setMany: (entries) =>
        near.write(
          entries.map((entry) => entry.key),
          () => backend.setMany(entries),
        ),
      delete: (keys) => near.write(keys, () => backend.delete(keys)),
      leases: backend.leases,
      async close() {
        near.close();
        await backend.close();
      },
    },
  };
}
