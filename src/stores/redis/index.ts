// `trpc-caching/redis`: a Keyv on Redis, Valkey or a Redis Cluster, built for trpc-caching.

export { type NearCacheOptions, type NearCacheStats, nearCacheStats } from './near-cache.js';
export {
  createRedisStore,
  type RedisConnection,
  type RedisStore,
  type RedisStoreOptions,
  type RedisStoreSettings,
} from './store.js';
