import type { RedisClientOptions } from '@keyv/redis';
import { type BackendOptions, backoff, type RedisBackend } from './backend.js';
import { NearCache } from './near-cache.js';
import type { ResolvedNearCacheOptions } from './near-cache-options.js';

/**
 * A single-node backend with a near cache in front: reads go through the near
 * cache (memory when it can vouch for its copies, Redis otherwise), and every
 * write or delete of this process drops the copies of its keys before it is
 * sent and again once it settled, so that this process reads its own writes.
 *
 * The near cache's tracking connection goes to the same server with the store's
 * client options and the same connect timeout and reconnection backoff; its
 * errors stay its own (reads fall back), so they never reach the store guard.
 */
export function withNearCache(
  backend: RedisBackend,
  url: string,
  client: RedisClientOptions | undefined,
  settings: Pick<BackendOptions, 'connectTimeout' | 'maxReconnectDelay'>,
  options: ResolvedNearCacheOptions,
): { backend: RedisBackend; near: NearCache } {
  const tracking = {
    ...client,
    url,
    socket: { ...client?.socket, connectTimeout: settings.connectTimeout, reconnectStrategy: backoff(settings.maxReconnectDelay) },
  } as RedisClientOptions;
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
      // Publish/subscribe goes to the server itself: the live stream crosses processes with a near cache too.
      pubsub: backend.pubsub,
      async close() {
        near.close();
        await backend.close();
      },
    },
  };
}
