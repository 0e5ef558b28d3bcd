// `trpc-caching/http`: cache headers and 304 answers for tRPC's and trpc-to-openapi's HTTP adapters.
export type { CacheLogEntry } from './cache-log.js';
export { withCacheHeaders } from './context.js';
export { type FastInfo, type FastPathOptions, fastPathTried } from './fast-path.js';
export { type FastPathFetchContextOptions, type FastPathFetchOptions, fastPathFetch } from './fast-path-fetch.js';
export { type FastPathNode, type FastPathNodeContextOptions, type FastPathNodeOptions, fastPath } from './fast-path-node.js';
export { fastifyNotModified } from './fastify.js';
export { withNotModifiedFetch } from './fetch.js';
export {
  type CacheHeadersOptions,
  cacheResponseMeta,
  type ResponseHeaders,
  type ResponseMetaInput,
  type ResponseMetaResult,
} from './headers.js';
export { type LambdaHttpEventLike, type LambdaHttpResultLike, withNotModifiedLambda } from './lambda.js';
export { withNotModified } from './node.js';
