// `trpc-caching/redis`: a Keyv on Redis, Valkey or a Redis Cluster, built for trpc-caching.

export { RedisConnectionError } from './connection.js';
export { type NearCacheStats, nearCacheStats } from './near-cache.js';
export type { NearCacheOptions } from './near-cache-options.js';
export type { ReadyOptions } from './ready.js';
export {
  createRedisStore,
  type RedisConnection,
  type RedisStore,
  type RedisStoreOptions,
  type RedisStoreSettings,
} from './store.js';
