/**
 * The invalidation protocol, version 1: what the server tells a client about its cache, in a form any
 * client can read (README "Client caches" documents it for non-TypeScript clients). Shared by the server
 * (`trpc-caching`, `trpc-caching/http`) and the browser (`trpc-caching/client`): no imports, no Node APIs.
 */

/**
 * The protocol version this library speaks. A reader that meets another version treats every move as `all`.
 *
 * @example
 * ```ts
 * if (JSON.parse(header).v !== PROTOCOL_VERSION) invalidateEverything();
 * ```
 */
export const PROTOCOL_VERSION = 1;

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
 * What one move of versions invalidated, as one client may learn it: its own scope (`self`, never another
 * user's id or scope digest), procedure paths or router prefixes, tags, or everything.
 *
 * @example
 * ```ts
 * const moved: Moved = { id: '5f0c…', self: true, tags: ['note:1'] };
 * ```
 */
export interface Moved {
  /** Names the move: the same in a mutation's response and on the live stream, so a client applies it once. */
  readonly id?: string;
  /** Every entry of the reader's own scope (its user, or every anonymous caller when it is anonymous). @default false */
  readonly self?: boolean;
  /** Procedure paths or router prefixes: `notes` covers `notes.list`. @default [] */
  readonly paths?: readonly string[];
  /** Tags declared by cached queries. @default [] */
  readonly tags?: readonly string[];
  /** Everything. @default false */
  readonly all?: boolean;
}

/**
 * What a cached query's response depended on: the kind of scope it was cached in and its tags.
 * `tags` is absent when the server could not derive them (the call bypassed the cache before its key was known).
 *
 * @example
 * ```ts
 * const call: QueryCall = { path: 'notes.byId', scope: 'user', tags: ['note:1'] };
 * ```
 */
export interface QueryCall {
  readonly path: string;
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
export interface MutationCall {
  readonly path: string;
  readonly moved: Moved;
}

/**
 * A call that did not go through the cache (a plain procedure, `meta.cache: false`, an input that cannot be keyed,
 * a failed or non-invalidating mutation): no move of the server concerns its result.
 *
 * @example
 * ```ts
 * const call: PlainCall = { path: 'health' };
 * ```
 */
export interface PlainCall {
  readonly path: string;
}

/**
 * One call of a response: a cached query, an invalidating mutation, or a call that did not use the cache.
 * Each names its procedure, so a client pairs the entries of a batch with its calls by path, in order.
 *
 * @example
 * ```ts
 * const calls: SyncCall[] = [{ path: 'feed.list', scope: 'public', tags: ['feed'] }, { path: 'health' }];
 * ```
 */
export type SyncCall = QueryCall | MutationCall | PlainCall;

/**
 * An event of the live stream (`caching.invalidationStream(base)`), sent as a tracked event whose id a
 * reconnecting client sends back as `lastEventId`:
 * - `ready`: first event of every connection;
 * - `moved`: a move that affects this connection's user, filtered as for a mutation's caller;
 * - `reset`: events were missed (a reconnect the server cannot replay, a full buffer, a lost bus
 *   connection): invalidate everything held.
 *
 * @example
 * ```ts
 * const event: LiveEvent = { v: 1, type: 'moved', moved: { self: true } };
 * ```
 */
export type LiveEvent =
  | { readonly v: 1; readonly type: 'ready' }
  | { readonly v: 1; readonly type: 'moved'; readonly moved: Moved }
  | { readonly v: 1; readonly type: 'reset'; readonly reason: 'resume' | 'overflow' | 'bus' };

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
    if ('moved' in call) return { path: call.path, moved: call.moved.id === undefined ? { all: true } : { id: call.moved.id, all: true } };
    return 'scope' in call ? { path: call.path, scope: call.scope } : { path: call.path };
  });
  return asciiJson({ v: PROTOCOL_VERSION, calls: coarse });
}

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** A {@link Moved} read from untrusted JSON; undefined when it is not one. */
export function readMoved(value: unknown): Moved | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  const moved: { id?: string; self?: boolean; paths?: string[]; tags?: string[]; all?: boolean } = {};
  if (typeof raw.id === 'string') moved.id = raw.id;
  if (raw.self === true) moved.self = true;
  if (raw.all === true) moved.all = true;
  if (isStringList(raw.paths)) moved.paths = raw.paths;
  if (isStringList(raw.tags)) moved.tags = raw.tags;
  return moved;
}

function readCall(value: unknown): SyncCall | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  if (typeof raw.path !== 'string') return undefined;
  if ('moved' in raw) {
    const moved = readMoved(raw.moved);
    return moved === undefined ? undefined : { path: raw.path, moved };
  }
  if (!('scope' in raw)) return { path: raw.path };
  if (raw.scope !== 'user' && raw.scope !== 'anon' && raw.scope !== 'public') return undefined;
  return isStringList(raw.tags) ? { path: raw.path, scope: raw.scope, tags: raw.tags } : { path: raw.path, scope: raw.scope };
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

/**
 * A live event read from untrusted data: the event itself, or a tracked envelope `{ id, data }` around it.
 * Undefined when it is neither (an event of a newer version reads as a reset: the client cannot know what it
 * says, so it drops everything).
 *
 * @example
 * ```ts
 * readLiveEvent({ id: 'e.3', data: { v: 1, type: 'moved', moved: { tags: ['feed'] } } });
 * ```
 */
export function readLiveEvent(value: unknown): LiveEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  if (!('type' in raw) && 'data' in raw) return readLiveEvent(raw.data);
  if (typeof raw.v === 'number' && raw.v !== PROTOCOL_VERSION) return { v: 1, type: 'reset', reason: 'resume' };
  if (raw.v !== PROTOCOL_VERSION) return undefined;
  if (raw.type === 'ready') return { v: 1, type: 'ready' };
  if (raw.type === 'reset') {
    const reason = raw.reason === 'overflow' || raw.reason === 'bus' ? raw.reason : 'resume';
    return { v: 1, type: 'reset', reason };
  }
  if (raw.type === 'moved') {
    const moved = readMoved(raw.moved);
    return moved === undefined ? undefined : { v: 1, type: 'moved', moved };
  }
  return undefined;
}

/** Whether a moved path (or router prefix) covers a procedure path: itself, or a path under it. */
export function pathCovers(moved: string, path: string): boolean {
  return path === moved || (path.length > moved.length && path.startsWith(moved) && path[moved.length] === '.');
}

/** `text` parsed as JSON when it holds an object (or an array); undefined when it is not JSON or holds anything else. */
export function parseJsonObject(text: string): object | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
}
