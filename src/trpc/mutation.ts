import { userScope } from '../engine/keys.js';
import type { EngineTargets } from '../engine/targets.js';
import { CachingError } from '../errors.js';
import { cacheLogOf, recordCacheStatus } from '../http/cache-log.js';
import { type LiveMove, liveMoveOf, movedFor, moveOfAll } from '../live/move.js';
import { isOutputValidationFailure, type MiddlewareResult } from './internals.js';
import { asRecord, checkTags, type ResolvedInvalidateMeta } from './meta.js';
import { configFailure, misuse } from './query.js';
import type { CacheMiddlewareOptions, TrpcRuntime } from './runtime.js';

function mutationTargets(
  rt: TrpcRuntime,
  settings: ResolvedInvalidateMeta,
  opts: CacheMiddlewareOptions,
  rawInput: unknown,
  data: unknown,
): { keys: string[]; move: LiveMove } {
  const args = { input: asRecord(rawInput), rawInput, ctx: opts.ctx, result: asRecord(data), rawResult: data };
  const users = typeof settings.users === 'function' ? settings.users(args) : settings.users;
  if (users !== undefined && !Array.isArray(users)) {
    throw new CachingError('config', `meta.invalidate.users of "${opts.path}" must return an array`, { path: opts.path });
  }
  const tags = typeof settings.tags === 'function' ? checkTags('meta.invalidate.tags', opts.path, settings.tags(args)) : settings.tags;
  const targets: EngineTargets = {
    all: settings.all,
    users: (users ?? []) as (string | number)[],
    paths: settings.paths,
    tags: tags ?? [],
    scopes: settings.self ? [userScope(rt.user(opts.ctx))] : [],
  };
  const keys = rt.engine.targetKeys(targets);
  return { keys, move: liveMoveOf(rt.engine.keys, targets) };
}

/** The caller's scope segment, to tell them which moves are theirs; undefined when `user(ctx)` is unusable (then none is). */
function callerSegment(rt: TrpcRuntime, ctx: unknown): string | undefined {
  try {
    return rt.engine.keys.scopeSegment(userScope(rt.user(ctx)));
  } catch {
    return undefined;
  }
}

/**
 * The invalidatingMutation middleware. After the mutation succeeds it moves
 * the versions of its targets and waits for the write (up to
 * `invalidationTimeout`) before returning, so that once the mutation has
 * returned no query of an affected scope reads data from before it. A failed
 * mutation invalidates nothing.
 *
 * What moved is noted in the request's cache log for the caller (its own scope as `self`, paths, tags,
 * `all`: the `X-Cache-Sync` header) and handed to `onMoved` for the live streams.
 */
export function createMutationMiddleware(rt: TrpcRuntime, onMoved?: (move: LiveMove) => void) {
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
    // The call's position in the request and its input, for X-Cache-Sync (read only when cache headers are on).
    const call = async () => {
      let input: unknown;
      try {
        input = await opts.getRawInput();
      } catch {
        input = undefined;
      }
      return { getRawInput: opts.getRawInput, input };
    };
    // A result that failed tRPC's output check comes from a resolver that ran: what it wrote must not stay cached.
    if ((!result.ok && !isOutputValidationFailure(result.error)) || settings === undefined) {
      if (cacheLogOf(ctx) !== undefined)
        recordCacheStatus(ctx, { path, type: 'mutation', status: 'NONE', scope: 'user', ttl: 0 }, await call());
      return result;
    }
    let keys: string[];
    let move: LiveMove;
    try {
      ({ keys, move } = mutationTargets(rt, settings, opts, await opts.getRawInput(), result.ok ? result.data : undefined));
    } catch (cause) {
      // The write has happened; an unusable target must not leave stale data behind, so everything goes.
      rt.report(
        cause instanceof CachingError
          ? new CachingError('config', `${cause.message}; invalidating everything instead`, { path, cause })
          : new CachingError('config', `meta.invalidate of "${path}" threw; invalidating everything instead`, { path, cause }),
      );
      keys = [rt.engine.keys.allVersion()];
      move = moveOfAll();
    }
    await rt.engine.invalidate(keys, path);
    const moved = movedFor(move, callerSegment(rt, ctx), true);
    if (cacheLogOf(ctx) !== undefined)
      recordCacheStatus(ctx, { path, type: 'mutation', status: 'NONE', scope: 'user', ttl: 0, moved }, await call());
    onMoved?.(move);
    return result;
  };
}
