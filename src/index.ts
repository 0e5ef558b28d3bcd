export { type Caching, type CachingOptions, createCaching, type ProcedureCaching } from './caching.js';
export { CachingConfigError, CachingError, type CachingOperation } from './errors.js';
export type { CacheLogEntry } from './http/cache-log.js';
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
} from './http/headers.js';
export {
  type DocumentCachingOptions,
  documentCaching,
  type OpenApiCacheExtension,
  type OpenApiDocumentLike,
  type OpenApiInvalidatesExtension,
} from './openapi/document.js';
export { createMemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { createAdapterStore } from './stores/raw-string.js';
export type {
  CacheMeta,
  CacheTagArgs,
  CachingMeta,
  InputRecord,
  InvalidateArgs,
  InvalidateMeta,
  ResolvedCacheMeta,
  ResolvedInvalidateMeta,
} from './trpc/meta.js';
export type { InvalidationTargets } from './trpc/mutation.js';
