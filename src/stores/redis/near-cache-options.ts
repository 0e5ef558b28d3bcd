import { CachingConfigError } from '../../errors.js';
import { describe, positiveInteger } from '../../options.js';

/**
 * The near cache of `createRedisStore`: copies of Redis keys in this process,
 * kept exact by Redis itself (client tracking) and served only while that can be proven.
 *
 * @example
 * ```ts
 * import { createRedisStore } from 'trpc-caching/redis';
 * const store = createRedisStore({ url: process.env.REDIS_URL, nearCache: { maxStaleness: 250, maxEntries: 50_000 } });
 * ```
 */
export interface NearCacheOptions {
  /**
   * The longest, in ms, that another process's write may stay invisible here after it returned.
   * The tracking connection is pinged every third of it; copies are served only while a ping sent
   * less than `maxStaleness` ago has been answered, and Redis is read otherwise.
   * @default 250
   */
  maxStaleness?: number;
  /**
   * Most keys held (entries and version keys together); the least recently used go first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Most bytes of key and value text held, counted at 2 bytes a character (an upper bound of what
   * V8 keeps for them); the least recently used go first, and a value larger than this is never held.
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
}

/** Near cache options with their defaults applied. */
export interface ResolvedNearCacheOptions {
  readonly maxStaleness: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

const DEFAULTS: ResolvedNearCacheOptions = { maxStaleness: 250, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 };

/** Below this a heartbeat every third of the bound would flood Redis with PINGs and lose to timer jitter. */
const MIN_STALENESS = 30;

/**
 * Checks `nearCache` (`true` or options) and applies defaults; throws a `CachingConfigError` naming the option.
 *
 * @example
 * ```ts
 * resolveNearCacheOptions({ maxStaleness: 100 }); // { maxStaleness: 100, maxEntries: 10_000, maxBytes: 67_108_864 }
 * ```
 */
export function resolveNearCacheOptions(options: NearCacheOptions | true): ResolvedNearCacheOptions {
  if (options === true) return DEFAULTS;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CachingConfigError('nearCache', `expected true or an object of options, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!(name in DEFAULTS))
      throw new CachingConfigError(`nearCache.${name}`, 'unknown option: expected maxStaleness, maxEntries or maxBytes');
  }
  const maxStaleness = positiveInteger('nearCache.maxStaleness', options.maxStaleness ?? DEFAULTS.maxStaleness);
  if (maxStaleness < MIN_STALENESS) {
    throw new CachingConfigError(
      'nearCache.maxStaleness',
      `expected at least ${MIN_STALENESS} ms (a ping every third of it), got ${maxStaleness}`,
    );
  }
  return {
    maxStaleness,
    maxEntries: positiveInteger('nearCache.maxEntries', options.maxEntries ?? DEFAULTS.maxEntries),
    maxBytes: positiveInteger('nearCache.maxBytes', options.maxBytes ?? DEFAULTS.maxBytes),
  };
}
