import { TRPCError } from '@trpc/server';
import { type CallObserver, type CallOutcome, callObserverOf } from '../engine/calls.js';
import type { Computed, QueryPlan } from '../engine/engine.js';
import { type Scope, userScope } from '../engine/keys.js';
import { CachingError, errorMessage } from '../errors.js';
import { FallBack, freezeHit, hitOnlyOf } from './hit-only.js';
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

/**
 * Reports a call's outcome to the request's observer (the HTTP layer's cache log), with the call's identity and input:
 * the one report of a call, query or mutation. The input is read only here, so only when someone observes.
 */
export async function report(observer: CallObserver, opts: CacheMiddlewareOptions, outcome: CallOutcome, unkeyed = false): Promise<void> {
  let input: unknown;
  try {
    input = await opts.getRawInput();
  } catch {
    input = undefined;
  }
  observer.called(unkeyed ? { outcome, call: opts.getRawInput, input, unkeyed } : { outcome, call: opts.getRawInput, input });
}

/**
 * A query's outcome once its key was derived: its plan's scope, TTL, window and tags, the payload's validator, the
 * procedure's `sMaxAge`, and whether a public miss was computed across a move (`crossed`).
 */
function planned(plan: QueryPlan, status: CallOutcome['status'], etag?: string, sMaxAge?: number, crossed = false): CallOutcome {
  const swr = plan.staleWhileRevalidate > 0 ? plan.staleWhileRevalidate : undefined;
  const outcome: CallOutcome = {
    path: plan.path,
    type: 'query',
    status,
    scope: plan.scope,
    ttl: plan.ttl,
    etag,
    staleWhileRevalidate: swr,
    tags: plan.tags,
    ...(sMaxAge === undefined ? {} : { sMaxAge }),
    ...(crossed ? { crossed } : {}),
  };
  return outcome;
}

/**
 * Whether a public miss's answer may have been computed across a mutation: its versions, read again now that the
 * resolver ran and the entry was written, are not those it was computed under. A mutation writes its versions before
 * it purges the edge, so an answer whose versions are still current here left the resolver before that purge was
 * sent; one whose versions moved may reach the edge after the purge, and must not be stored there. Per-user answers
 * never reach a shared cache: not checked (no store call).
 */
function crossedMove(rt: TrpcRuntime, plan: QueryPlan, tokens: string | undefined): Promise<boolean> {
  if (plan.scope !== 'public') return Promise.resolve(false);
  return rt.engine.stillCurrent(plan, tokens).then((current) => !current);
}

/** A query that bypassed the cache before its key was derived (caching disabled, input not keyable). */
function unplanned(path: string, scope: 'user' | 'public', ttl: number): CallOutcome {
  return { path, type: 'query', status: 'BYPASS', scope, ttl };
}

/** The rest of the chain (the resolver) as the engine runs it: a result, and whether it is a success worth caching. */
function recompute(opts: CacheMiddlewareOptions): () => Promise<Computed<MiddlewareResult<object>>> {
  return async () => {
    const result = await opts.next();
    return result.ok ? { result, ok: true, data: result.data } : { result, ok: false, data: undefined, error: result.error };
  };
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
    // Looked up once: a report is built only when the request has an observer (it asked for cache headers).
    const observer = callObserverOf(ctx);
    let settings: ResolvedCacheMeta;
    try {
      const first = rt.checkCall(path, opts.meta, 'cachedQuery');
      if (first !== undefined) await first;
      settings = rt.cacheMeta(path, opts.meta);
    } catch (error) {
      throw configFailure(error);
    }
    const scopeKind = settings.scope === 'public' ? 'public' : 'user';
    // The HTTP fast path's request: only a clean hit is served here; anything else stops before the resolver runs.
    const hitOnly = hitOnlyOf(ctx);
    if (!settings.enabled) {
      if (hitOnly !== undefined) throw new FallBack(path);
      rt.engine.bypassed(path, scopeKind, 'disabled');
      if (observer !== undefined) await report(observer, opts, unplanned(path, scopeKind, settings.ttl));
      return opts.next();
    }
    if (signal?.aborted) throw aborted(path, signal.reason);

    let plan: QueryPlan;
    try {
      plan = await planOf(rt, opts, settings);
    } catch (error) {
      if (hitOnly !== undefined) throw new FallBack(path);
      rt.report(planFault(path, error));
      rt.engine.bypassed(path, scopeKind, 'input');
      if (observer !== undefined) await report(observer, opts, unplanned(path, scopeKind, settings.ttl), true);
      return opts.next();
    }

    const read = await rt.engine.read(plan);
    if (hitOnly !== undefined) {
      // A sampled hit falls back too: its audit check runs on the regular handler's call.
      if (read.kind !== 'hit' || (settings.audit && rt.engine.sampled())) throw new FallBack(path);
      // Frozen: a middleware before the cache that changes the value in place fails the call instead of being
      // ignored, since the fast path writes the stored text of a value that comes back as the same object.
      hitOnly.hit(opts.getRawInput, freezeHit(read.value), read.payload);
      if (observer !== undefined) await report(observer, opts, planned(plan, 'HIT', read.etag, settings.sMaxAge));
      return endChain(read.value);
    }
    if (read.kind === 'hit') {
      // A sampled hit is checked against its resolver, run again like a stale entry's refresh (below): after this
      // middleware returned, with this call's ctx and input. Decided before the caller can touch the value.
      if (settings.audit && rt.engine.sampled()) rt.engine.audit(plan, read, recompute(opts));
      if (observer !== undefined) await report(observer, opts, planned(plan, 'HIT', read.etag, settings.sMaxAge));
      return endChain(read.value);
    }
    if (read.kind === 'bypass') {
      if (observer !== undefined) await report(observer, opts, planned(plan, 'BYPASS', undefined, settings.sMaxAge));
      return opts.next();
    }
    const compute = recompute(opts);
    if (read.kind === 'stale') {
      if (observer !== undefined) await report(observer, opts, planned(plan, 'STALE', read.etag, settings.sMaxAge));
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
    // Checked only when headers are made of it (an observer): the cost is one store call, on a public miss.
    if (outcome.kind === 'shared') {
      if (observer !== undefined) {
        const crossed = await crossedMove(rt, plan, outcome.tokens);
        await report(observer, opts, planned(plan, 'MISS', outcome.etag, settings.sMaxAge, crossed));
      }
      return endChain(outcome.value);
    }
    const status = outcome.etag === undefined ? 'BYPASS' : 'MISS';
    if (observer !== undefined) {
      const crossed = status === 'MISS' && (await crossedMove(rt, plan, outcome.tokens));
      await report(observer, opts, planned(plan, status, outcome.etag, settings.sMaxAge, crossed));
    }
    return outcome.result;
  };
}
