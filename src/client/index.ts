// `trpc-caching/client`: keeps client-side caches (TanStack Query, or your own) in step with the server's invalidations.
// Runs in browsers: nothing here imports Node.
export {
  type InvalidationEvent,
  type InvalidationLinkOptions,
  invalidationLink,
  type LiveHandlers,
  type QueryClientLike,
  type QueryLike,
} from './link.js';
export {
  type LiveEvent,
  type Moved,
  type MutationCall,
  type PlainCall,
  PROTOCOL_VERSION,
  parseSyncHeader,
  type QueryCall,
  readLiveEvent,
  SYNC_HEADER,
  type SyncCall,
} from './protocol.js';
