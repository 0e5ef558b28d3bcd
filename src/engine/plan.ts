import { CachingError, errorMessage } from '../errors.js';
import type { AuditSettings } from './audit.js';
import { type InputLimits, UncacheableInputError } from './canonical.js';
import type { BypassReason, EngineEvents } from './events.js';
import type { KeyFormat, Scope } from './keys.js';
import type { LeaseSettings } from './lease.js';
import type { MoveSink } from './sinks.js';
import type { CacheStore, StoreCapabilities } from './store.js';

/** What a query asks of the cache: derived by the framework adapter from its request. */
export interface QueryRequest {
  /** The procedure path: part of the key, and what `paths` targets match. */
  readonly path: string;
  readonly scope: Scope;
  /** The input as the procedure receives it (after the transformer, before validation). */
  readonly input: unknown;
  /** Tags the entry depends on, already checked. */
  readonly tags: readonly string[] | undefined;
  /** Entry lifetime in ms. */
  readonly ttl: number;
  /** Stale-while-revalidate window in ms past `ttl`, during which an expired entry is served and refreshed; 0 or absent: none. */
  readonly staleWhileRevalidate?: number | undefined;
  /** Serve an expired entry within the window even after its refresh failed in this process. */
  readonly staleIfError?: boolean | undefined;
  /** Run the resolver of a miss once across processes (a lease in the store), when the store offers leases. */
  readonly lock?: boolean | undefined;
}

/** Where a query's entry lives and which versions it depends on. */
export interface QueryPlan {
  readonly path: string;
  readonly entryKey: string;
  /** The entry key, then its version keys: read together in one store call. */
  readonly keys: readonly string[];
  readonly ttl: number;
  readonly scope: Scope['kind'];
  /** The tags the entry depends on, sorted and unique (what a client is told it was cached under). */
  readonly tags: readonly string[];
  /** Stale-while-revalidate window in ms (0: none): the entry is stored for `ttl` + this. */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: boolean;
  readonly lock: boolean;
}

/** The versions a read found (absent ones undefined), and when it started: what a fill stores its result under. */
export interface VersionsRead {
  readonly tokens: ReadonlyArray<string | undefined>;
  readonly readAt: number;
}

/** A read's outcome; `miss` carries what `CacheEngine.fill` needs. */
export type ReadOutcome =
  | {
      readonly kind: 'hit';
      readonly value: unknown;
      readonly etag: string;
      /** The entry's stored payload, and the versions it matched (space-joined): what an audit check compares. */
      readonly payload: string;
      readonly tokens: string;
      /** When the entry's TTL ends (wall clock, ms); undefined for the `1` layout. */
      readonly freshUntil: number | undefined;
    }
  | { readonly kind: 'miss'; readonly tokens: ReadonlyArray<string | undefined>; readonly readAt: number }
  /** An expired entry within the plan's stale-while-revalidate window, its versions all current: serve it, then `CacheEngine.refresh`. */
  | {
      readonly kind: 'stale';
      readonly value: unknown;
      readonly etag: string;
      readonly tokens: ReadonlyArray<string | undefined>;
      readonly readAt: number;
      /** When the entry's TTL ended (wall clock, ms). */
      readonly freshUntil: number;
    }
  | { readonly kind: 'bypass'; readonly reason: Exclude<BypassReason, 'disabled' | 'input'> };

/** What the resolver produced: the framework's own result, and whether it is a success worth caching. */
export interface Computed<R> {
  readonly result: R;
  readonly ok: boolean;
  /** The value to cache, when ok. */
  readonly data: unknown;
  /** What failed, when not ok: a background refresh reports it, since no caller sees it. */
  readonly error?: unknown;
}

/** A miss's outcome: the caller's own computed result, or a copy of an identical concurrent miss's success. */
export type FillOutcome<R> =
  | { readonly kind: 'computed'; readonly result: R; readonly cached: boolean; readonly etag: string | undefined; readonly tokens?: string }
  | { readonly kind: 'shared'; readonly value: unknown; readonly etag: string; readonly tokens?: string };
// `tokens`: the versions (joined, in plan order) current before the resolver ran, for `CacheEngine.stillCurrent`;
// absent when unknown (a result that was not computed under versions this process read or seeded).

/** Everything the engine needs, resolved and validated by `createCaching`. */
export interface EngineOptions {
  readonly prefix: string;
  readonly store: CacheStore;
  /** What the store offers beyond Keyv's contract (leases, key layout, rollbacks), as its factory declared it. */
  readonly capabilities: StoreCapabilities;
  /** Lifetime of a version key, in ms. */
  readonly versionTtl: number;
  /** Longest one version write may take, and how long a mutation waits for its moves. */
  readonly invalidationTimeout: number;
  /** Pending version keys above which they collapse into one move of the global version. */
  readonly maxPendingInvalidations: number;
  /** First delay before a retry of unwritten moves, in ms; it doubles up to `retryMax`. */
  readonly retryDelay: number;
  readonly retryMax: number;
  readonly maxEntryBytes: number;
  readonly inputLimits: InputLimits;
  readonly report: (error: CachingError) => void;
  /** Observers of every read, move and store call (stats, diagnostics channels). */
  readonly events?: EngineEvents | undefined;
  /** How locked misses share a lease across processes; plans with `lock` need it. */
  readonly lock?: LeaseSettings | undefined;
  /** The consistency auditor's settings; undefined: no hit is ever checked. */
  readonly audit?: AuditSettings | undefined;
  /** Told of every move after its versions are written, and waited for (bounded) before `invalidate` resolves: edge purgers. */
  readonly sinks?: readonly MoveSink[] | undefined;
}

const NO_TAGS: readonly string[] = [];

/** Keys of a query: its entry, then every version it depends on. Throws a CachingError (`key`) for an input that cannot be keyed exactly. */
export function planQuery(format: KeyFormat, request: QueryRequest, inputLimits: InputLimits): QueryPlan {
  const { path, scope } = request;
  let inputHash: string;
  try {
    inputHash = format.inputHash(request.input, inputLimits);
  } catch (cause) {
    const reason = cause instanceof UncacheableInputError ? cause.message : errorMessage(cause);
    throw new CachingError('key', `cannot derive a cache key for "${path}": ${reason}`, { path, cause });
  }
  const segment = format.scopeSegment(scope);
  const entryKey = format.entry(path, segment, inputHash);
  const keys = [entryKey, format.allVersion()];
  if (scope.kind !== 'public') keys.push(format.scopeVersion(segment));
  for (const key of format.pathVersions(path)) keys.push(key);
  // Sorted so that the order a callback lists tags in cannot split entries.
  const tags = request.tags !== undefined && request.tags.length > 0 ? [...new Set(request.tags)].sort() : NO_TAGS;
  for (const tag of tags) keys.push(format.tagVersion(tag));
  return {
    path,
    entryKey,
    keys,
    ttl: request.ttl,
    scope: scope.kind,
    tags,
    staleWhileRevalidate: request.staleWhileRevalidate ?? 0,
    staleIfError: request.staleIfError ?? false,
    lock: request.lock === true,
  };
}
