import { userScope } from '../engine/keys.js';
import { CachingError } from '../errors.js';
import { recordCacheStatus } from '../http/cache-log.js';
import type { MiddlewareResult } from './internals.js';
import { asRecord, checkTags, type ResolvedInvalidateMeta } from './meta.js';
import { configFailure, misuse } from './query.js';
import type { CacheMiddlewareOptions, TrpcRuntime } from './runtime.js';

function mutationTargets(
  rt: TrpcRuntime,
  settings: ResolvedInvalidateMeta,
  opts: CacheMiddlewareOptions,
  rawInput: unknown,
  data: unknown,
): string[] {
  const args = { input: asRecord(rawInput), rawInput, ctx: opts.ctx, result: asRecord(data), rawResult: data };
  const users = typeof settings.users === 'function' ? settings.users(args) : settings.users;
  if (users !== undefined && !Array.isArray(users)) {
    throw new CachingError('config', `meta.invalidate.users of "${opts.path}" must return an array`, { path: opts.path });
  }
  const tags = typeof settings.tags === 'function' ? checkTags('meta.invalidate.tags', opts.path, settings.tags(args)) : settings.tags;
  return rt.engine.targetKeys({
    all: settings.all,
    users: (users ?? []) as (string | number)[],
    paths: settings.paths,
    tags: tags ?? [],
    scopes: settings.self ? [userScope(rt.user(opts.ctx))] : [],
  });
}

/**
 * The invalidatingMutation middleware. After the mutation succeeds it moves
 * the versions of its targets and waits for the write (up to
 * `invalidationTimeout`) before returning, so that once the mutation has
 * returned no query of an affected scope reads data from before it. A failed
 * mutation invalidates nothing.
 */
export function createMutationMiddleware(rt: TrpcRuntime) {
  return async function trpcCachingInvalidate(opts: CacheMiddlewareOptions): Promise<MiddlewareResult<object>> {
    const { ctx, path, type } = opts;
    if (type !== 'mutation') throw misuse('invalidatingMutation', 'mutation', type, path);
    let settings: ResolvedInvalidateMeta | undefined;
    try {
      // Validated before the mutation runs: a misconfigured procedure changes nothing.
      settings = rt.invalidateMeta(path, opts.meta);
    } catch (error) {
      throw configFailure(error);
    }
    const result = await opts.next();
    recordCacheStatus(ctx, { path, type: 'mutation', status: 'NONE', scope: 'user', ttl: 0 });
    if (!result.ok || settings === undefined) return result;
    let keys: string[];
    try {
      keys = mutationTargets(rt, settings, opts, await opts.getRawInput(), result.data);
    } catch (cause) {
      // The write has happened; an unusable target must not leave stale data behind, so everything goes.
      rt.report(
        cause instanceof CachingError
          ? new CachingError('config', `${cause.message}; invalidating everything instead`, { path, cause })
          : new CachingError('config', `meta.invalidate of "${path}" threw; invalidating everything instead`, { path, cause }),
      );
      keys = [rt.engine.keys.allVersion()];
    }
    await rt.engine.invalidate(keys, path);
    return result;
  };
}
