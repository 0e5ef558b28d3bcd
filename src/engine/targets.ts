import type { Scope } from './keys.js';

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
