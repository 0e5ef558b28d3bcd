export { type Caching, type CachingOptions, createCaching } from './caching.js';
export { CachingConfigError, CachingError, type CachingOperation } from './errors.js';
export { createMemoryStore } from './memory.js';
export type { CacheMeta, CacheTagArgs, CachingMeta, InputRecord, InvalidateArgs, InvalidateMeta } from './meta.js';
export type { InvalidationTargets } from './mutation.js';
