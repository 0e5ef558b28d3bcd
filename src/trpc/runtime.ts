import type { CacheEngine } from '../engine/engine.js';
import type { CachingError } from '../errors.js';
import type { ResolvedCacheMeta, ResolvedInvalidateMeta } from './meta.js';

/** What the tRPC middlewares share with `createCaching`: the engine, and how to read a procedure's meta and user. */
export interface TrpcRuntime {
  readonly engine: CacheEngine;
  readonly user: (ctx: unknown) => unknown;
  readonly report: (error: CachingError) => void;
  readonly cacheMeta: (path: string, meta: unknown) => ResolvedCacheMeta;
  readonly invalidateMeta: (path: string, meta: unknown) => ResolvedInvalidateMeta | undefined;
  /**
   * At the first call of a served path, checks what validateRouter could not see (a lazy router, a router composed
   * from the validated one): rejects with a CachingConfigError while the procedure is configured wrongly. Undefined,
   * with nothing to wait for, once the path has passed.
   */
  readonly checkCall: (path: string, meta: unknown, builder: 'cachedQuery' | 'invalidatingMutation') => Promise<void> | undefined;
}

/** The part of tRPC's middleware options the cache reads. */
export interface CacheMiddlewareOptions {
  readonly ctx: unknown;
  readonly type: 'query' | 'mutation' | 'subscription';
  readonly path: string;
  readonly meta: unknown;
  readonly signal?: AbortSignal | undefined;
  readonly getRawInput: () => Promise<unknown>;
  readonly next: () => Promise<import('./internals.js').MiddlewareResult<object>>;
}
