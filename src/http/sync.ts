import { formatSyncHeader, inputDigest, SYNC_HEADER, type SyncCall } from '../protocol/index.js';
import type { CacheLog, CacheLogEntry, CallSlot } from './cache-log.js';

/** A call whose description is unknown, in words every reader of version 1 takes conservatively. */
function unknownCall(path: string, type: string): SyncCall {
  // A mutation that may have moved anything moved everything; a query that may depend on anything is per user
  // with no tags known (any scope or tag move reaches it).
  return type === 'mutation' ? { path, moved: { all: true } } : { path, scope: 'user' };
}

/**
 * A call of a response as the client may learn it: a cached query's scope kind and tags (no tags when its key
 * could not be derived: it may depend on any), or what a mutation moved for its caller. Only its path when the
 * call did not go through the cache (`meta.cache: false`, a plain procedure, a failed or plain mutation).
 */
function syncCallOf(path: string, slot: CallSlot, input: unknown): SyncCall {
  const digest = inputDigest(slot.input === undefined ? input : slot.input);
  const base = digest === undefined ? { path } : { path, in: digest };
  const entry: CacheLogEntry = slot.entry;
  if (entry.type === 'mutation') return entry.moved === undefined ? base : { ...base, moved: entry.moved };
  if (slot.unkeyed === true) return { ...base, scope: entry.scope };
  if (entry.tags === undefined) return base;
  return { ...base, scope: entry.scope, tags: entry.tags };
}

/**
 * What the sync header needs of a response: its calls' paths in request order, their type, and whether it streams.
 *
 * @example
 * ```ts
 * const request: SyncRequest = { paths: ['post.byId', 'post.byId'], type: 'query', eager: false };
 * ```
 */
export interface SyncRequest {
  readonly paths: readonly string[];
  readonly type: string;
  /** Headers leave before any call ran (tRPC's streamed responses): nothing is known of any call. */
  readonly eager: boolean;
}

/**
 * `X-Cache-Sync` for the calls of a response, in request order (one entry per call, an errored call included),
 * when asked for. A call's entry is the one noted at its position; a call without one is plain, or unknown when
 * some call's position could not be told or the headers left before the calls ran. See docs/client.md.
 *
 * @example
 * ```ts
 * syncHeaders(true, { paths: ['post.byId'], type: 'query', eager: false }, log); // { 'X-Cache-Sync': '{"v":1,…}' }
 * ```
 */
export function syncHeaders(enabled: boolean | undefined, request: SyncRequest, log: CacheLog): Record<string, string> {
  const { paths, type, eager } = request;
  if (enabled !== true || paths.length === 0) return {};
  const calls = paths.map((path, i): SyncCall => {
    if (eager) return unknownCall(path, type);
    const slot = log.slots.get(i);
    if (slot !== undefined && slot.entry.path === path) return syncCallOf(path, slot, log.inputs.get(i));
    if (log.unplaced || slot !== undefined) return unknownCall(path, type);
    const digest = log.inputs.has(i) ? inputDigest(log.inputs.get(i)) : undefined;
    return digest === undefined ? { path } : { path, in: digest };
  });
  return { [SYNC_HEADER]: formatSyncHeader(calls) };
}
