/**
 * What a cache operation was doing when it failed. `read` and `write` are store
 * calls for entries, `invalidate` a version move, `encode` turning a result into
 * an entry, `key` deriving a key from the input, `config` a misconfiguration
 * found at call time, `refresh` a background refresh of an entry served stale
 * (`meta.cache.staleWhileRevalidate`) whose resolver failed: its `cause` is the
 * resolver's error, which no caller saw. `audit` is a divergence the consistency
 * auditor found (thrown only with `audit.onDivergence: 'throw'`, never reported to `onError`). `purge` a move sink
 * (an edge purger) that failed to deliver a move; it keeps the move and retries.
 */
export type CachingOperation = 'read' | 'write' | 'invalidate' | 'encode' | 'key' | 'config' | 'refresh' | 'audit' | 'purge';

/**
 * A cache fault reported to `onError`. It is never thrown from a cached
 * procedure: the procedure answers from its resolver instead.
 *
 * @example
 * ```ts
 * createCaching({
 *   user: (ctx) => ctx.user?.id,
 *   onError: (error) => logger.warn({ op: error.operation, key: error.key }, error.message),
 * });
 * ```
 */
export class CachingError extends Error {
  override readonly name = 'CachingError';
  /** The operation that failed. */
  readonly operation: CachingOperation;
  /** The procedure path, when the fault happened inside a procedure call. */
  readonly path: string | undefined;
  /** The store key involved, when there is one. */
  readonly key: string | undefined;

  constructor(
    operation: CachingOperation,
    message: string,
    details: { path?: string | undefined; key?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.operation = operation;
    this.path = details.path;
    this.key = details.key;
  }
}

/**
 * A misconfiguration: thrown by `createCaching` for bad options and by
 * `validateRouter` (or at a procedure's first call) for bad `meta.cache` or
 * `meta.invalidate`. `option` names what to fix.
 *
 * @example
 * ```ts
 * try { createCaching({ ttl: -1, user: () => null }); }
 * catch (error) { if (error instanceof CachingConfigError) console.error(error.option); } // 'ttl'
 * ```
 */
export class CachingConfigError extends Error {
  override readonly name = 'CachingConfigError';
  /** The option at fault, e.g. `ttl` or `meta.cache.tags` of `post.byId`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super(`trpc-caching: ${option}: ${message}`);
    this.option = option;
  }
}

/**
 * The message of anything user code or a store threw: an Error's message, a
 * thrown string as it is, anything else described, never `undefined`.
 */
export function errorMessage(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === 'string') return thrown;
  if (thrown === null || thrown === undefined) return String(thrown);
  try {
    const text = JSON.stringify(thrown);
    if (typeof text === 'string') return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    // Cycles and BigInts end here.
  }
  return Object.prototype.toString.call(thrown);
}
