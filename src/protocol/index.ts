// The wire format shared by the server (src/http, src/live, src/trpc) and the browser client (src/client).
export { inputDigest, inputText, isPlainObject } from './input-digest.js';
export { type LiveEvent, readLiveEvent } from './live-event.js';
export { isStringList, type Moved, PROTOCOL_VERSION, parseJsonObject, pathCovers, readMoved } from './moved.js';
export {
  type CallEntry,
  formatSyncHeader,
  MAX_SYNC_HEADER,
  type MutationCall,
  type PlainCall,
  parseSyncHeader,
  type QueryCall,
  SYNC_HEADER,
  type SyncCall,
} from './sync-header.js';
