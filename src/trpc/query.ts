import { TRPCError } from '@trpc/server';
import type { Computed, QueryPlan } from '../engine/engine.js';
import { type Scope, userScope } from '../engine/keys.js';
import { CachingError, errorMessage } from '../errors.js';
import { type CacheLog, type CacheLogEntry, cacheLogOf, noteCall } from '../http/cache-log.js';
import { endChain, type MiddlewareResult } from './internals.js';
import { asRecord, checkTags, type ResolvedCacheMeta } from './meta.js';
import type { CacheMiddlewareOptions, TrpcRuntime } from './runtime.js';

const PUBLIC: Scope = { kind: 'public' };

/** The error a procedure built with the wrong builder throws when called (validateRouter finds it at startup). */
export function misuse(builder: string, expected: string, type: string, path: string): TRPCError {
  return new TRPCError({
    code: 'INTERNAL_SERVER_ERROR',
    message: `trpc-caching: "${path}" is a ${type} built with ${builder}; use ${builder} only for ${expected} procedures`,
  });
}

/** A bad `meta.cache`/`meta.invalidate` found at call time, as the procedure's error. */
export function configFailure(error: unknown): TRPCError {
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: errorMessage(error), cause: error });
}

/** The caller went away while waiting for an identical request's result. */
function aborted(path: string, reason: unknown): TRPCError {
  return new TRPCError({ code: 'CLIENT_CLOSED_REQUEST', message: `"${path}" was aborted by its caller`, cause: reason });
}

async function planOf(rt: TrpcRuntime, opts: CacheMiddlewareOptions, settings: ResolvedCacheMeta): Promise<QueryPlan> {
  const scope = settings.scope === 'public' ? PUBLIC : userScope(rt.user(opts.ctx));
  const input = await opts.getRawInput();
  let tags: readonly string[] | undefined;
  if (typeof settings.tags === 'function') {
    const derived = settings.tags({ input: asRecord(input), rawInput: input, ctx: opts.ctx });
    tags = checkTags('meta.cache.tags', opts.path, derived);
  } else {
    tags = settings.tags;
  }
  return rt.engine.plan({
    path: opts.path,
    scope,
    input,
    tags,
    ttl: settings.ttl,
    staleWhileRevalidate: settings.staleWhileRevalidate,
    staleIfError: settings.staleIfError,
    lock: settings.lock,
  });
}

/** A fault while planning, as the CachingError reported to onError, naming the procedure. */
function planFault(path: string, error: unknown): CachingError {
  if (error instanceof CachingError) {
    return error.path === path ? error : new CachingError(error.operation, `${error.message} (in "${path}")`, { path, cause: error });
  }
  return new CachingError('key', `cannot derive a cache key for "${path}": ${errorMessage(error)}`, { path, cause: error });
}

/** Notes a call's entry at its position in the request, with its input: X-Cache and X-Cache-Sync pair by position. */
async function note(log: CacheLog, opts: CacheMiddlewareOptions, entry: CacheLogEntry, unkeyed = false): Promise<void> {
  let input: unknown;
  try {
    input = await opts.getRawInput();
  } catch {
    input = undefined;
  }
  noteCall(log, entry, { getRawInput: opts.getRawInput, input, unkeyed });
}

/** The entry of a call the cache answered or filled: its plan's scope, TTL, window and tags, and the payload's validator. */
function served(plan: QueryPlan, status: CacheLogEntry['status'], etag: string | undefined): CacheLogEntry {
  const swr = plan.staleWhileRevalidate > 0 ? plan.staleWhileRevalidate : undefined;
  return { path: plan.path, type: 'query', status, scope: plan.scope, ttl: plan.ttl, etag, staleWhileRevalidate: swr, tags: plan.tags };
}

/**
 * The cachedQuery middleware: turns a tRPC call into an engine plan, serves a
 * hit without running the rest of the chain, and on a miss runs the rest of
 * the chain (the resolver) through the engine's fill. It runs after the base
 * procedure's middlewares, so after authentication.
 */
export function createQueryMiddleware(rt: TrpcRuntime) {
  return async function trpcCachingQuery(opts: CacheMiddlewareOptions): Promise<MiddlewareResult<object>> {
    const { ctx, path, type, signal } = opts;
    if (type !== 'query') throw misuse('cachedQuery', 'query', type, path);
    // Looked up once; with optional chaining an entry is only built when the request asked for cache headers.
    const log = cacheLogOf(ctx);
    let settings: ResolvedCacheMeta;
    try {
      const first = rt.checkCall(path, opts.meta, 'cachedQuery');
      if (first !== undefined) await first;
      settings = rt.cacheMeta(path, opts.meta);
    } catch (error) {
      throw configFailure(error);
    }
    const scopeKind = settings.scope === 'public' ? 'public' : 'user';
    if (!settings.enabled) {
      rt.engine.bypassed(path, scopeKind, 'disabled');
      if (log !== undefined) await note(log, opts, { path, type: 'query', status: 'BYPASS', scope: scopeKind, ttl: settings.ttl });
      return opts.next();
    }
    if (signal?.aborted) throw aborted(path, signal.reason);

    let plan: QueryPlan;
    try {
      plan = await planOf(rt, opts, settings);
    } catch (error) {
      rt.report(planFault(path, error));
      rt.engine.bypassed(path, scopeKind, 'input');
      if (log !== undefined) await note(log, opts, { path, type: 'query', status: 'BYPASS', scope: scopeKind, ttl: settings.ttl }, true);
      return opts.next();
    }

    const read = await rt.engine.read(plan);
    if (read.kind === 'hit') {
      if (log !== undefined) await note(log, opts, served(plan, 'HIT', read.etag));
      return endChain(read.value);
    }
    if (read.kind === 'bypass') {
      if (log !== undefined)
        await note(log, opts, { path, type: 'query', status: 'BYPASS', scope: plan.scope, ttl: plan.ttl, tags: plan.tags });
      return opts.next();
    }
    const compute = async (): Promise<Computed<MiddlewareResult<object>>> => {
      const result = await opts.next();
      return result.ok ? { result, ok: true, data: result.data } : { result, ok: false, data: undefined, error: result.error };
    };
    if (read.kind === 'stale') {
      if (log !== undefined) await note(log, opts, served(plan, 'STALE', read.etag));
      // tRPC's next() is a plain closure over this call's chain: it runs the resolver after this middleware has
      // returned, with this call's ctx and input. No signal of ours stops it; the engine reports its failure.
      rt.engine.refresh(plan, read, compute);
      return endChain(read.value);
    }
    let outcome: Awaited<ReturnType<typeof rt.engine.fill<MiddlewareResult<object>>>>;
    try {
      outcome = await rt.engine.fill(plan, read, compute, signal);
    } catch (error) {
      // Only a follower's own abort reaches here: the resolver's errors are results, not throws.
      if (signal?.aborted) throw aborted(path, signal.reason);
      throw error;
    }
    if (outcome.kind === 'shared') {
      if (log !== undefined) await note(log, opts, served(plan, 'MISS', outcome.etag));
      return endChain(outcome.value);
    }
    const status = outcome.etag === undefined ? 'BYPASS' : 'MISS';
    if (log !== undefined) await note(log, opts, served(plan, status, outcome.etag));
    return outcome.result;
  };
}
