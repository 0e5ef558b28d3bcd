// `trpc-caching/redis`: a Keyv on Redis, Valkey or a Redis Cluster, built for trpc-caching.
export {
  createRedisStore,
  type RedisConnection,
  RedisStore,
  type RedisStoreOptions,
  type RedisStoreSettings,
} from './store.js';
export { type NearCacheOptions, type NearCacheStats, nearCacheStats } from './near-cache.js';
