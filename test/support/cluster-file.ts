import { createRedisStore, type RedisStore, type RedisStoreSettings } from '../../src/stores/redis/index.js';
import { type RedisCluster, startCluster } from './cluster.js';
import { fileServer } from './redis-file.js';

/** The Redis Cluster of one describe block; see {@link fileCluster}. */
export interface FileCluster {
  /** The cluster; throws before the block's `beforeAll` started it. */
  readonly cluster: RedisCluster;
  /** A new store on the cluster, once it knows the topology; closed (disconnected) after the block's tests. */
  connected(): Promise<RedisStore>;
}

/**
 * Starts a Redis Cluster (see {@link startCluster}) before the tests of a describe block, and after them closes every
 * store made by `connected` and removes the cluster. `store` is what every store is created with besides the cluster.
 *
 * @example
 * ```ts
 * const redis = fileCluster({ masters: 3 });
 * it('hits', async () => {
 *   const store = await redis.connected();
 * });
 * ```
 */
export function fileCluster(options: Parameters<typeof startCluster>[0], store: RedisStoreSettings = {}): FileCluster {
  const file = fileServer(() => startCluster(options), 'Redis Cluster not started: call fileCluster() in the describe block', 60_000);
  return {
    get cluster() {
      return file.server;
    },
    async connected() {
      const made = file.track(createRedisStore({ cluster: { rootNodes: file.server.rootNodes }, ...store }));
      made.on('error', () => {});
      await made.ready({ timeout: 30_000 });
      return made;
    },
  };
}
