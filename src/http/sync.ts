import { formatSyncHeader, SYNC_HEADER, type SyncCall } from '../client/protocol.js';
import type { CacheLogEntry } from './cache-log.js';

/**
 * A call of a response as the client may learn it: a cached query's scope kind and tags, or what a mutation
 * moved for its caller. Only its path when the call did not go through the cache, or its key was never derived
 * (`meta.cache: false`, an input that cannot be keyed): no move of the server's concerns its result.
 */
function syncCallOf(path: string, entry: CacheLogEntry | undefined): SyncCall {
  if (entry === undefined) return { path };
  if (entry.type === 'mutation') return entry.moved === undefined ? { path } : { path, moved: entry.moved };
  if (entry.tags === undefined) return { path };
  return { path, scope: entry.scope, tags: entry.tags };
}

/**
 * `X-Cache-Sync` for the calls of a response, in request order (one entry per call of a batch), when asked for.
 * See README "Client caches" for the format.
 */
export function syncHeaders(
  enabled: boolean | undefined,
  paths: readonly string[],
  calls: readonly (CacheLogEntry | undefined)[],
): Record<string, string> {
  if (enabled !== true || paths.length === 0) return {};
  return { [SYNC_HEADER]: formatSyncHeader(paths.map((path, i) => syncCallOf(path, calls[i]))) };
}
