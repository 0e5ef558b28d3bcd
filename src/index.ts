export { createAdapterStore } from './adapter-store.js';
export { type Caching, type CachingOptions, createCaching } from './caching.js';
export { CachingConfigError, CachingError, type CachingOperation } from './errors.js';
export {
  type CacheHeadersOptions,
  cacheHeaders,
  cacheResponseMeta,
  etagMatches,
  type ResponseHeaders,
  type ResponseMetaInput,
  type ResponseMetaResult,
  withCacheLog,
  withNotModified,
  withNotModifiedFetch,
} from './http.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
export type { CacheMeta, CacheTagArgs, CachingMeta, InputRecord, InvalidateArgs, InvalidateMeta } from './meta.js';
export type { InvalidationTargets } from './mutation.js';
export {
  type DocumentCachingOptions,
  documentCaching,
  type OpenApiCacheExtension,
  type OpenApiDocumentLike,
  type OpenApiInvalidatesExtension,
} from './openapi.js';
export type { CacheLogEntry } from './status.js';
