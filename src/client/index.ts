// `trpc-caching/client`: keeps client-side caches (TanStack Query, or your own) in step with the server's invalidations.
// Runs in browsers: nothing here imports Node.
export { invalidationLink } from './link.js';
export type { InvalidationEvent, InvalidationLinkOptions, LiveHandlers, QueryClientLike, QueryLike } from './link-options.js';
export {
  type CallEntry,
  inputDigest,
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
