// `trpc-caching/http`: cache headers and 304 answers for tRPC's and trpc-to-openapi's HTTP adapters.
export type { CacheLogEntry } from './cache-log.js';
export { withCacheHeaders } from './context.js';
export {
  type CloudflarePurgerOptions,
  cloudflarePurger,
} from './edge/cloudflare.js';
export { createEdge, type Edge, type EdgeOptions } from './edge/edge.js';
export { type FastlyPurgerOptions, fastlyPurger } from './edge/fastly.js';
export { purgeKeysOf, type SurrogateHeader, surrogateKeysOf } from './edge/keys.js';
export { PurgeRefused, type Purger } from './edge/purger.js';
export { type VarnishPurgerOptions, varnishPurger } from './edge/varnish.js';
export { type FastInfo, type FastPathOptions, fastPathTried } from './fast-path.js';
export { type FastPathFetchContextOptions, type FastPathFetchOptions, fastPathFetch } from './fast-path-fetch.js';
export { type FastPathNode, type FastPathNodeContextOptions, type FastPathNodeOptions, fastPath } from './fast-path-node.js';
export { fastifyNotModified } from './fastify.js';
export { withNotModifiedFetch } from './fetch.js';
export {
  type CacheHeadersOptions,
  cacheResponseMeta,
  type EdgeHeaders,
  type ProcedureEdgeInfo,
  type ResponseHeaders,
  type ResponseMetaInput,
  type ResponseMetaResult,
} from './headers.js';
export { type LambdaHttpEventLike, type LambdaHttpResultLike, withNotModifiedLambda } from './lambda.js';
export { withNotModified } from './node.js';
