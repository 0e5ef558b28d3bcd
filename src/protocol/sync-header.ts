// The `X-Cache-Sync` header: per call of a response, in request order, what a query depended on or what a
// mutation moved. Positions pair entries with calls; `in` lets a client find its call's position.
import { isStringList, type Moved, PROTOCOL_VERSION, parseJsonObject, readMoved } from './moved.js';

/**
 * Response header that describes each call of a response, in request order (one entry per call of a batch):
 * `{"v":1,"calls":[…]}` as ASCII JSON. Sent by `cacheResponseMeta({ sync: true })`.
 *
 * @example
 * ```ts
 * const calls = parseSyncHeader(response.headers.get(SYNC_HEADER));
 * ```
 */
export const SYNC_HEADER = 'X-Cache-Sync';

/**
 * What every entry carries: the procedure's path, and `in`, the digest of the call's input as the server received
 * it ({@link inputDigest}), absent when the server does not know it. A client finds its call's entry by position:
 * the entry of its path and input digest, each entry taken once; a call with no such entry is "unknown".
 *
 * @example
 * ```ts
 * const call: CallEntry = { path: 'notes.byId', in: '3b1f09a2' };
 * ```
 */
export interface CallEntry {
  readonly path: string;
  readonly in?: string;
}

/**
 * What a cached query's response depended on: the kind of scope it was cached in and its tags.
 * `tags` is absent when the server could not derive them (an input it cannot key, a streamed response whose
 * headers left before the call ran): any tag move then reaches the query.
 *
 * @example
 * ```ts
 * const call: QueryCall = { path: 'notes.byId', scope: 'user', tags: ['note:1'] };
 * ```
 */
export interface QueryCall extends CallEntry {
  readonly scope: 'user' | 'anon' | 'public';
  readonly tags?: readonly string[];
}

/**
 * What an invalidating mutation moved, for the caller.
 *
 * @example
 * ```ts
 * const call: MutationCall = { path: 'notes.update', moved: { id: '5f0c…', self: true, tags: ['note:1'] } };
 * ```
 */
export interface MutationCall extends CallEntry {
  readonly moved: Moved;
}

/**
 * A call that did not go through the cache (a plain procedure, `meta.cache: false`, a call refused before the
 * cache, a failed or non-invalidating mutation): no move of the server concerns its result.
 *
 * @example
 * ```ts
 * const call: PlainCall = { path: 'health' };
 * ```
 */
export type PlainCall = CallEntry;

/**
 * One call of a response: a cached query, an invalidating mutation, or a call that did not use the cache.
 * Entries are in the order of the request's calls, an errored call included (one entry per call).
 *
 * @example
 * ```ts
 * const calls: SyncCall[] = [{ path: 'feed.list', scope: 'public', tags: ['feed'] }, { path: 'health' }];
 * ```
 */
export type SyncCall = QueryCall | MutationCall | PlainCall;

/** Longest header value sent; a description that would not fit is coarsened (see {@link formatSyncHeader}). */
export const MAX_SYNC_HEADER = 4096;

const NON_ASCII = /[\u007f-\uffff]/g;

/** JSON as printable ASCII: a header value must not carry other bytes, so everything else is `\uXXXX`. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(NON_ASCII, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The `X-Cache-Sync` value for the calls of a response. When it would exceed {@link MAX_SYNC_HEADER},
 * queries lose their tags (a client then treats any tag move as theirs) and mutations say `all`:
 * coarser, never missing a move.
 *
 * @example
 * ```ts
 * formatSyncHeader([{ path: 'notes.byId', scope: 'user', tags: ['note:1'] }]);
 * // '{"v":1,"calls":[{"path":"notes.byId","scope":"user","tags":["note:1"]}]}'
 * ```
 */
export function formatSyncHeader(calls: readonly SyncCall[]): string {
  const text = asciiJson({ v: PROTOCOL_VERSION, calls });
  if (text.length <= MAX_SYNC_HEADER) return text;
  const coarse = calls.map((call): SyncCall => {
    const entry: CallEntry = call.in === undefined ? { path: call.path } : { path: call.path, in: call.in };
    if ('moved' in call) return { ...entry, moved: call.moved.id === undefined ? { all: true } : { id: call.moved.id, all: true } };
    return 'scope' in call ? { ...entry, scope: call.scope } : entry;
  });
  return asciiJson({ v: PROTOCOL_VERSION, calls: coarse });
}

function readCall(value: unknown): SyncCall | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  if (typeof raw.path !== 'string') return undefined;
  const entry: CallEntry = typeof raw.in === 'string' ? { path: raw.path, in: raw.in } : { path: raw.path };
  if ('moved' in raw) {
    const moved = readMoved(raw.moved);
    return moved === undefined ? undefined : { ...entry, moved };
  }
  if (!('scope' in raw)) return entry;
  if (raw.scope !== 'user' && raw.scope !== 'anon' && raw.scope !== 'public') return undefined;
  return isStringList(raw.tags) ? { ...entry, scope: raw.scope, tags: raw.tags } : { ...entry, scope: raw.scope };
}

/**
 * The calls of an `X-Cache-Sync` value; undefined when the value is absent or not version 1 JSON.
 * A call that cannot be read is `undefined` in the list (the reader knows nothing of it).
 *
 * @example
 * ```ts
 * parseSyncHeader(response.headers.get('x-cache-sync'))?.[0];
 * ```
 */
export function parseSyncHeader(value: string | null | undefined): readonly (SyncCall | undefined)[] | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  const parsed = parseJsonObject(value);
  if (parsed === undefined) return undefined;
  const { v, calls } = parsed as { v?: unknown; calls?: unknown };
  if (v !== PROTOCOL_VERSION || !Array.isArray(calls)) return undefined;
  return calls.map(readCall);
}
