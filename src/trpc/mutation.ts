import type { MiddlewareResult } from '@trpc/server/unstable-core-do-not-import';
import { scopeSegment, userScope } from '../engine/keys.js';
import { CachingError } from '../errors.js';
import { recordCacheStatus } from '../http/cache-log.js';
import { asRecord, isUserId, type ResolvedInvalidateMeta } from './meta.js';
import { type CacheMiddlewareOptions, configFailure, misuse } from './query.js';
import type { CacheRuntime } from './runtime.js';

/**
 * What to invalidate, for `caching.invalidate()` in jobs and webhooks. Targets
 * add up; each one reaches only what it names.
 *
 * @example
 * ```ts
 * await caching.invalidate({ users: [order.buyerId, order.sellerId], tags: [`order:${order.id}`] });
 * ```
 */
export interface InvalidationTargets {
  /** Every entry of these users. */
  readonly users?: readonly (string | number)[];
  /** Procedure paths or router prefixes, for every user and the public scope. */
  readonly paths?: readonly string[];
  /** Tags declared by cached queries. */
  readonly tags?: readonly string[];
  /** Everything under the prefix. */
  readonly all?: boolean;
}

/** Version keys that the targets move. Throws a CachingError for an invalid target. */
export function targetKeys(rt: CacheRuntime, targets: InvalidationTargets): string[] {
  const keys: string[] = [];
  if (targets.all === true) keys.push(rt.keys.allVersion());
  for (const id of targets.users ?? []) {
    if (!isUserId(id)) {
      throw new CachingError('config', `a user to invalidate must be a non-empty string or a finite number; got ${typeof id}`);
    }
    keys.push(rt.keys.scopeVersion(scopeSegment(rt.keys.prefix, userScope(id))));
  }
  for (const path of targets.paths ?? []) {
    if (typeof path !== 'string' || path.length === 0) throw new CachingError('config', 'a path to invalidate must be a non-empty string');
    keys.push(rt.keys.pathVersion(path));
  }
  for (const tag of targets.tags ?? []) {
    if (typeof tag !== 'string' || tag.length === 0) throw new CachingError('config', 'a tag to invalidate must be a non-empty string');
    keys.push(rt.keys.tagVersion(tag));
  }
  return keys;
}

function mutationTargets(
  rt: CacheRuntime,
  settings: ResolvedInvalidateMeta,
  opts: CacheMiddlewareOptions,
  rawInput: unknown,
  data: unknown,
): string[] {
  const args = { input: asRecord(rawInput), rawInput, ctx: opts.ctx, result: asRecord(data), rawResult: data };
  const users = typeof settings.users === 'function' ? settings.users(args) : settings.users;
  const tags = typeof settings.tags === 'function' ? settings.tags(args) : settings.tags;
  if (users !== undefined && !Array.isArray(users))
    throw new CachingError('config', `meta.invalidate.users of "${opts.path}" must return an array`);
  if (tags !== undefined && !Array.isArray(tags))
    throw new CachingError('config', `meta.invalidate.tags of "${opts.path}" must return an array`);
  const keys = targetKeys(rt, {
    all: settings.all,
    users: users as (string | number)[] | undefined,
    paths: settings.paths,
    tags: tags as string[] | undefined,
  });
  if (settings.self) keys.push(rt.keys.scopeVersion(scopeSegment(rt.keys.prefix, userScope(rt.user(opts.ctx)))));
  return keys;
}

/**
 * The invalidatingMutation middleware. After the mutation succeeds it moves
 * the versions of its targets before returning, so that once the mutation has
 * returned no query of an affected scope reads data from before it. A failed
 * mutation invalidates nothing.
 */
export function createMutationMiddleware(rt: CacheRuntime) {
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
      keys = [rt.keys.allVersion()];
    }
    await rt.versions.move(keys, path);
    return result;
  };
}
