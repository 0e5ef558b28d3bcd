import { type CallOutcome, callObserverOf } from '../engine/calls.js';
import { userScope } from '../engine/keys.js';
import { type Move, movedFor } from '../engine/move.js';
import { CachingError } from '../errors.js';
import type { Moved } from '../protocol/index.js';
import { isOutputValidationFailure, type MiddlewareResult } from './internals.js';
import { asRecord, checkTags, type ResolvedInvalidateMeta } from './meta.js';
import { configFailure, misuse, report } from './query.js';
import type { CacheMiddlewareOptions, TrpcRuntime } from './runtime.js';

/** The move a successful mutation makes, from its `meta.invalidate` and what it was called with and returned. */
function mutationMove(
  rt: TrpcRuntime,
  settings: ResolvedInvalidateMeta,
  opts: CacheMiddlewareOptions,
  rawInput: unknown,
  data: unknown,
): Move {
  const args = { input: asRecord(rawInput), rawInput, ctx: opts.ctx, result: asRecord(data), rawResult: data };
  const users = typeof settings.users === 'function' ? settings.users(args) : settings.users;
  if (users !== undefined && !Array.isArray(users)) {
    throw new CachingError('config', `meta.invalidate.users of "${opts.path}" must return an array`, { path: opts.path });
  }
  const tags = typeof settings.tags === 'function' ? checkTags('meta.invalidate.tags', opts.path, settings.tags(args)) : settings.tags;
  return rt.engine.planMove({
    all: settings.all,
    users: (users ?? []) as (string | number)[],
    paths: settings.paths,
    tags: tags ?? [],
    scopes: settings.self ? [userScope(rt.user(opts.ctx))] : [],
  });
}

/** The caller's scope segment, to tell them which moves are theirs; undefined when `user(ctx)` is unusable (then none is). */
function callerSegment(rt: TrpcRuntime, ctx: unknown): string | undefined {
  try {
    return rt.engine.keys.scopeSegment(userScope(rt.user(ctx)));
  } catch {
    return undefined;
  }
}

/** A mutation's outcome, with what it moved as its caller may learn it (none when it failed). */
function mutationOutcome(path: string, moved?: Moved): CallOutcome {
  return { path, type: 'mutation', status: 'NONE', scope: 'user', ttl: 0, moved };
}

/**
 * The invalidatingMutation middleware. After the mutation succeeds it moves
 * the versions of its targets and waits for the write (up to
 * `invalidationTimeout`) before returning, so that once the mutation has
 * returned no query of an affected scope reads data from before it. A failed
 * mutation invalidates nothing.
 *
 * What moved is reported to the request's observer for the caller (its own scope as `self`, paths, tags, `all`: the
 * `X-Cache-Sync` header); the engine tells the live streams.
 */
export function createMutationMiddleware(rt: TrpcRuntime) {
  return async function trpcCachingInvalidate(opts: CacheMiddlewareOptions): Promise<MiddlewareResult<object>> {
    const { ctx, path, type } = opts;
    if (type !== 'mutation') throw misuse('invalidatingMutation', 'mutation', type, path);
    let settings: ResolvedInvalidateMeta | undefined;
    try {
      // Validated before the mutation runs: a misconfigured procedure changes nothing.
      const first = rt.checkCall(path, opts.meta, 'invalidatingMutation');
      if (first !== undefined) await first;
      settings = rt.invalidateMeta(path, opts.meta);
    } catch (error) {
      throw configFailure(error);
    }
    const result = await opts.next();
    const observer = callObserverOf(ctx);
    // A result that failed tRPC's output check comes from a resolver that ran: what it wrote must not stay cached.
    if ((!result.ok && !isOutputValidationFailure(result.error)) || settings === undefined) {
      if (observer !== undefined) await report(observer, opts, mutationOutcome(path));
      return result;
    }
    let move: Move;
    try {
      move = mutationMove(rt, settings, opts, await opts.getRawInput(), result.ok ? result.data : undefined);
    } catch (cause) {
      // The write has happened; an unusable target must not leave stale data behind, so everything goes.
      rt.report(
        cause instanceof CachingError
          ? new CachingError('config', `${cause.message}; invalidating everything instead`, { path, cause })
          : new CachingError('config', `meta.invalidate of "${path}" threw; invalidating everything instead`, { path, cause }),
      );
      move = rt.engine.moveAll();
    }
    await rt.engine.invalidate(move, path);
    if (observer !== undefined) await report(observer, opts, mutationOutcome(path, movedFor(move, callerSegment(rt, ctx), true)));
    return result;
  };
}
