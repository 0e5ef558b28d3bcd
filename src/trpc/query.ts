import { TRPCError } from '@trpc/server';
import { type MiddlewareResult, middlewareMarker } from '@trpc/server/unstable-core-do-not-import';
import { codec } from '../engine/codec.js';
import { formatEntry, readEntry } from '../engine/entry.js';
import { canonicalInput, md5, type Scope, scopeSegment, userScope } from '../engine/keys.js';
import { VersionBook } from '../engine/versions.js';
import { CachingError } from '../errors.js';
import { recordCacheStatus } from '../http/cache-log.js';
import { asRecord, type ResolvedCacheMeta } from './meta.js';
import type { CacheRuntime, MissOutcome } from './runtime.js';

/** The part of tRPC's middleware options the cache reads. */
export interface CacheMiddlewareOptions {
  readonly ctx: unknown;
  readonly type: 'query' | 'mutation' | 'subscription';
  readonly path: string;
  readonly meta: unknown;
  readonly getRawInput: () => Promise<unknown>;
  readonly next: () => Promise<MiddlewareResult<object>>;
}

/** A middleware result that ends the chain with a cached value. */
function hitResult(data: unknown): MiddlewareResult<object> {
  return { ok: true, data, marker: middlewareMarker };
}

/** Runs the rest of the chain without the cache, and says so in the cache log. */
function bypass(opts: CacheMiddlewareOptions, scope: Scope['kind'], ttl: number): Promise<MiddlewareResult<object>> {
  recordCacheStatus(opts.ctx, { path: opts.path, type: 'query', status: 'BYPASS', scope, ttl });
  return opts.next();
}

/** Where a query's entry lives and which versions it depends on. */
interface ReadPlan {
  readonly entryKey: string;
  /** The entry key first, then its version keys: read together in one `getMany`. */
  readonly keys: string[];
  readonly scope: Scope['kind'];
  readonly rawInput: unknown;
}

const PUBLIC: Scope = { kind: 'public' };

export function misuse(builder: string, expected: string, type: string, path: string): TRPCError {
  return new TRPCError({
    code: 'INTERNAL_SERVER_ERROR',
    message: `trpc-caching: "${path}" is a ${type} built with ${builder}; use ${builder} only for ${expected} procedures`,
  });
}

export function configFailure(error: unknown): TRPCError {
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: (error as Error).message, cause: error });
}

async function planRead(rt: CacheRuntime, opts: CacheMiddlewareOptions, settings: ResolvedCacheMeta): Promise<ReadPlan> {
  const scope = settings.scope === 'public' ? PUBLIC : userScope(rt.user(opts.ctx));
  const segment = scopeSegment(rt.keys.prefix, scope);
  const rawInput = await opts.getRawInput();
  const entryKey = rt.keys.entry(opts.path, segment, md5(canonicalInput(rawInput, rt.inputLimits)));
  const keys = [entryKey, rt.keys.allVersion()];
  if (scope.kind !== 'public') keys.push(rt.keys.scopeVersion(segment));
  for (const key of rt.keys.pathVersions(opts.path)) keys.push(key);
  if (settings.tags !== undefined) {
    const tags =
      typeof settings.tags === 'function' ? settings.tags({ input: asRecord(rawInput), rawInput, ctx: opts.ctx }) : settings.tags;
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
      throw new CachingError('config', `meta.cache.tags of "${opts.path}" must return an array of strings`, { path: opts.path });
    }
    // Sorted so that the order a callback lists tags in cannot split entries.
    for (const tag of [...new Set(tags)].sort()) keys.push(rt.keys.tagVersion(tag));
  }
  return { entryKey, keys, scope: scope.kind, rawInput };
}

/**
 * The cachedQuery middleware. It runs after the base procedure's middlewares
 * (so after authentication), reads the entry and its versions in one store
 * round trip, and on a miss runs the rest of the chain once per identical
 * concurrent request.
 */
export function createQueryMiddleware(rt: CacheRuntime) {
  return async function trpcCachingQuery(opts: CacheMiddlewareOptions): Promise<MiddlewareResult<object>> {
    const { ctx, path, type } = opts;
    if (type !== 'query') throw misuse('cachedQuery', 'query', type, path);
    let settings: ResolvedCacheMeta;
    try {
      settings = rt.cacheMeta(path, opts.meta);
    } catch (error) {
      throw configFailure(error);
    }
    if (!settings.enabled) return bypass(opts, settings.scope === 'public' ? 'public' : 'user', settings.ttl);

    let plan: ReadPlan;
    try {
      plan = await planRead(rt, opts, settings);
    } catch (error) {
      rt.report(
        error instanceof CachingError
          ? new CachingError(error.operation, `${error.message} (in "${path}")`, { path, key: error.key, cause: error.cause ?? error })
          : new CachingError('key', `cannot derive a cache key for "${path}": ${(error as Error).message}`, { path, cause: error }),
      );
      return bypass(opts, settings.scope === 'public' ? 'public' : 'user', settings.ttl);
    }
    if (!rt.store.available || rt.versions.covers(plan.keys)) return bypass(opts, plan.scope, settings.ttl);

    const readAt = Date.now();
    const rows = await rt.store.getMany(plan.keys, path);
    if (rows === undefined) return bypass(opts, plan.scope, settings.ttl);
    const tokens = VersionBook.tokensOf(rows, 1);
    const hit = readEntry(rows[0], tokens);
    if (hit !== undefined) {
      try {
        const data = codec.decode(hit.payload, plan.entryKey);
        recordCacheStatus(ctx, { path, type: 'query', status: 'HIT', scope: plan.scope, ttl: settings.ttl, etag: hit.etag });
        return hitResult(data);
      } catch (cause) {
        rt.report(new CachingError('read', `cannot decode the entry of "${path}"`, { path, key: plan.entryKey, cause }));
      }
    }

    const flightKey = `${plan.entryKey}\n${tokens}`;
    const joined = rt.flights.joinable(flightKey);
    const leading = joined === undefined;
    const outcome = await (joined ?? rt.flights.lead(flightKey, () => miss(rt, opts, plan, settings, tokens, readAt)));
    recordCacheStatus(ctx, {
      path,
      type: 'query',
      status: outcome.payload === undefined ? 'BYPASS' : 'MISS',
      scope: plan.scope,
      ttl: settings.ttl,
      etag: outcome.etag,
    });
    if (leading || !outcome.ok || outcome.payload === undefined) return outcome.result as MiddlewareResult<object>;
    // A follower gets its own copy, so that no caller can change what another one sees.
    return hitResult(codec.decode(outcome.payload, plan.entryKey));
  };
}

async function miss(
  rt: CacheRuntime,
  opts: CacheMiddlewareOptions,
  plan: ReadPlan,
  settings: ResolvedCacheMeta,
  tokens: string,
  readAt: number,
): Promise<MissOutcome> {
  const result = await opts.next();
  if (!result.ok) return { ok: false, result, payload: undefined, etag: undefined };
  let payload: string;
  try {
    payload = codec.encode(result.data, rt.maxEntryBytes);
  } catch (cause) {
    rt.report(
      new CachingError('encode', `the result of "${opts.path}" is not cached: ${(cause as Error).message}`, {
        path: opts.path,
        key: plan.entryKey,
        cause,
      }),
    );
    return { ok: true, result, payload: undefined, etag: undefined };
  }
  const entry = formatEntry(tokens, payload);
  // An invalidation this process could not write covers these keys: storing would only add a stale entry.
  // The entry must expire before any version it recorded can: a version moved after `readAt` lives until at
  // least `readAt + versionTtl`, so a slow resolver's entry (written under tokens that have since moved) can
  // never outlive the move and match again once that version expires back to its initial token.
  const ttl = Math.min(settings.ttl, rt.versionTtl - (Date.now() - readAt));
  if (ttl > 0 && !rt.versions.covers(plan.keys)) {
    await rt.store.set(plan.entryKey, entry.text, ttl, opts.path);
  }
  return { ok: true, result, payload, etag: entry.etag };
}
