import type { Coalescer } from '../engine/flights.js';
import type { InputLimits, KeyFormat } from '../engine/keys.js';
import type { VersionBook } from '../engine/versions.js';
import type { CachingError } from '../errors.js';
import type { GuardedStore } from '../stores/guard.js';
import type { ResolvedCacheMeta, ResolvedInvalidateMeta } from './meta.js';

/** Result of a miss, shared by coalesced callers. */
export interface MissOutcome {
  readonly ok: boolean;
  /** The middleware result to hand back (the leader's). */
  readonly result: unknown;
  /** Encoded payload, when the result could be cached: followers decode their own copy. */
  readonly payload: string | undefined;
  readonly etag: string | undefined;
}

/** Everything the middlewares share, resolved once by `createCaching`. */
export interface CacheRuntime {
  readonly keys: KeyFormat;
  readonly store: GuardedStore;
  readonly versions: VersionBook;
  readonly flights: Coalescer<MissOutcome>;
  readonly ttl: number;
  readonly versionTtl: number;
  readonly maxEntryBytes: number;
  readonly inputLimits: InputLimits;
  readonly user: (ctx: unknown) => unknown;
  readonly report: (error: CachingError) => void;
  readonly cacheMeta: (path: string, meta: unknown) => ResolvedCacheMeta;
  readonly invalidateMeta: (path: string, meta: unknown) => ResolvedInvalidateMeta | undefined;
}
