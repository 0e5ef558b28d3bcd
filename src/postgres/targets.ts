import type { InvalidationTargets } from '../index.js';

/**
 * Whether a mapping function's answer is something `caching.invalidate` accepts (the same rules: users non-empty
 * strings or safe integers, paths and tags non-empty strings). A refused one must not reach the store, where it
 * would fail every replay of its transaction for ever.
 *
 * @example
 * ```ts
 * validTargets({ users: [row.owner_id] }); // false when owner_id is null
 * ```
 */
export function validTargets(targets: unknown): targets is InvalidationTargets | null | undefined {
  if (targets === null || targets === undefined) return true;
  if (typeof targets !== 'object') return false;
  const { users, paths, tags, all } = targets as Record<string, unknown>;
  const list = (value: unknown, ok: (item: unknown) => boolean) => value === undefined || (Array.isArray(value) && value.every(ok));
  const text = (item: unknown) => typeof item === 'string' && item.length > 0;
  const user = (item: unknown) => text(item) || (typeof item === 'number' && Number.isSafeInteger(item));
  return list(users, user) && list(paths, text) && list(tags, text) && (all === undefined || typeof all === 'boolean');
}
