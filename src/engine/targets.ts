import { CachingError } from '../errors.js';
import { type KeyFormat, type Scope, userScope } from './keys.js';

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

/** Targets as the engine takes them: also whole scopes (the acting user's, or every anonymous caller's). */
export interface EngineTargets extends InvalidationTargets {
  readonly scopes?: readonly Scope[];
}

/** Version keys that the targets move. Throws a CachingError for an invalid target. */
export function targetKeys(keys: KeyFormat, targets: EngineTargets): string[] {
  const moved: string[] = [];
  if (targets.all === true) moved.push(keys.allVersion());
  for (const id of targets.users ?? []) {
    if (!((typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isSafeInteger(id)))) {
      throw new CachingError('config', `a user to invalidate must be a non-empty string or a safe integer; got ${typeof id} ${String(id)}`);
    }
    moved.push(keys.scopeVersion(keys.scopeSegment(userScope(id))));
  }
  for (const scope of targets.scopes ?? []) {
    if (scope.kind !== 'public') moved.push(keys.scopeVersion(keys.scopeSegment(scope)));
  }
  for (const path of targets.paths ?? []) {
    if (typeof path !== 'string' || path.length === 0) throw new CachingError('config', 'a path to invalidate must be a non-empty string');
    moved.push(keys.pathVersion(path));
  }
  for (const tag of targets.tags ?? []) {
    if (typeof tag !== 'string' || tag.length === 0) throw new CachingError('config', 'a tag to invalidate must be a non-empty string');
    moved.push(keys.tagVersion(tag));
  }
  return moved;
}
