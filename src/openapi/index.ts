// `trpc-caching/openapi`: caching described in an OpenAPI document made by trpc-to-openapi.
export {
  type DocumentCachingOptions,
  documentCaching,
  type OpenApiCacheExtension,
  type OpenApiDocumentLike,
  type OpenApiInvalidatesExtension,
} from './document.js';
