export { type Caching, createCaching, type ProcedureCaching } from './caching.js';
export type { CachingOptions, LockOptions } from './caching-options.js';
export type { AuditOptions } from './engine/audit-options.js';
export type { AuditEvent, AuditReason, BypassReason, Divergence, PurgeEvent } from './engine/events.js';
export type { MoveTerms } from './engine/move.js';
export type { MoveSink, MoveSinkHooks } from './engine/sinks.js';
export type { InvalidationTargets } from './engine/targets.js';
export { CachingConfigError, CachingError, type CachingOperation } from './errors.js';
export type { AuditCounts, AuditPathStats, AuditStats } from './observability/audit-stats.js';
export {
  type CacheBreakerMessage,
  type CacheDivergenceMessage,
  type CacheInvalidateMessage,
  type CachePurgeMessage,
  type CacheReadMessage,
  type CacheStoreErrorMessage,
  type CacheStoreMessage,
  cachingChannels,
} from './observability/channels.js';
export type { CachingStats, LatencySummary, PathStats, PurgeStats, StatsOptions, StoreNodeStats } from './observability/stats.js';
export { createMemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { createRawStringStore } from './stores/raw-string.js';
export type { CachingBuilder } from './trpc/builder.js';
export type { CacheMeta, CacheTagArgs, CachingMeta, InputRecord, InvalidateArgs, InvalidateMeta } from './trpc/caching-meta.js';
export type { InvalidationStreamInput, InvalidationStreamOptions, InvalidationStreamProcedure } from './trpc/invalidation-stream.js';
export type { ResolvedCacheMeta, ResolvedInvalidateMeta } from './trpc/meta.js';
