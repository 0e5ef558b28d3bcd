// What a procedure declares in its tRPC meta: the types users write and that meta callbacks receive. Kept apart
// from meta.ts, which validates and resolves them, so that the public shape reads without the checks.

/**
 * A procedure's input as meta callbacks see it: the raw input when it is an
 * object, otherwise an empty record (read `rawInput` for primitive inputs).
 * Meta is declared once per tRPC instance, so it cannot know each procedure's
 * input type; narrow the fields you read.
 */
export type InputRecord = Readonly<Record<string, unknown>>;

/** What `meta.cache.tags` receives. */
export interface CacheTagArgs {
  readonly input: InputRecord;
  readonly rawInput: unknown;
  readonly ctx: unknown;
}

/** What the callbacks of `meta.invalidate` receive, after the mutation succeeded. */
export interface InvalidateArgs extends CacheTagArgs {
  /** The mutation's result as a record (an array result is its own record of indexes). */
  readonly result: Readonly<Record<string, unknown>>;
  /** The mutation's result, untouched. */
  readonly rawResult: unknown;
}

/**
 * `meta.cache` of a procedure built with `cachedQuery`.
 *
 * @example
 * ```ts
 * cachedQuery.meta({ cache: { ttl: 60_000, tags: ({ input }) => [`post:${input.id}`] } })
 * ```
 */
export interface CacheMeta {
  /** Entry lifetime in ms; default: the `ttl` given to `createCaching`. */
  readonly ttl?: number;
  /** `user` (default): one entry per user (or one for all anonymous callers); `public`: one entry for everyone. */
  readonly scope?: 'user' | 'public';
  /**
   * Tags this entry depends on; invalidating a tag invalidates every entry that declared it. Derived from the input,
   * before the resolver runs. A callback's result is checked at each call (by `checkTags`): a tag with a
   * missing value in it (`post:undefined`) makes the call bypass the cache and reports it to `onError`.
   */
  readonly tags?: readonly string[] | ((args: CacheTagArgs) => readonly string[]);
  /** `false` turns caching off for this procedure (it still runs its resolver). */
  readonly enabled?: boolean;
  /**
   * Stale-while-revalidate window in ms: for this long after `ttl` has passed, a read answers at once with the
   * expired entry (`X-Cache: STALE`) and refreshes it in the background, once per entry. Only expiry is
   * stretched: an entry whose versions moved (any invalidation that reaches it) is never served stale. The entry
   * is kept in the store for `ttl` + this window, which must not exceed `versionTtl`. A refresh that fails is
   * reported to `onError` (operation `refresh`); this process then stops serving that entry stale, unless
   * `staleIfError` is set.
   *
   * @default 0 (off: an entry is a miss once its `ttl` has passed)
   * @example
   * ```ts
   * cachedQuery.meta({ cache: { ttl: 60_000, staleWhileRevalidate: 5 * 60_000 } })
   * ```
   */
  readonly staleWhileRevalidate?: number;
  /**
   * Keep answering with the expired entry, for the rest of the `staleWhileRevalidate` window, while the resolver
   * fails: each failed refresh is reported to `onError` (operation `refresh`) and callers get the old value
   * instead of the error. Without it, once a refresh has failed, the next read in this process runs the resolver
   * and its caller sees the failure. Needs `staleWhileRevalidate`.
   *
   * @default false
   * @example
   * ```ts
   * cachedQuery.meta({ cache: { ttl: 60_000, staleWhileRevalidate: 10 * 60_000, staleIfError: true } })
   * ```
   */
  readonly staleIfError?: boolean;
  /**
   * `false` exempts this procedure from the consistency auditor (createCaching's `audit`): for a resolver whose
   * output varies by design (a clock, randomness, a live feed), which a check would take for a divergence.
   *
   * @default true (checked when the instance audits)
   * @example
   * ```ts
   * cachedQuery.meta({ cache: { ttl: 5_000, audit: false } }).query(() => ({ now: Date.now() }))
   * ```
   */
  readonly audit?: boolean;
  /**
   * Stampede protection across processes: processes that miss this entry at once run its resolver once, the
   * others wait for its entry (see createCaching's `lock`, which sets the default and the timings). Needs a store
   * that offers leases (`createRedisStore`); elsewhere identical misses share one run per process, as always.
   *
   * @default createCaching's `lock` (off)
   * @example
   * ```ts
   * cachedQuery.meta({ cache: { lock: true } }).query(() => expensiveReport())
   * ```
   */
  readonly lock?: boolean;
  /**
   * How long a shared cache (a CDN or reverse proxy in front of the API) may keep this public response, in ms: sent
   * as `s-maxage` (whole seconds) beside the browser's `max-age`. With an edge purger (createCaching's `edge`) a
   * long `sMaxAge` is safe: every mutation that invalidates the entry purges it at the edge before it returns
   * (docs/edge.md). Sent only by `cacheResponseMeta({ edge })`: without an edge nothing would purge a shared cache's
   * copy. Needs `scope: 'public'`; a batch gets the smallest of its calls'.
   *
   * @default none (shared caches keep it for `max-age`)
   * @example
   * ```ts
   * cachedQuery.meta({ cache: { scope: 'public', ttl: 60_000, sMaxAge: 24 * 60 * 60_000 } })
   * ```
   */
  readonly sMaxAge?: number;
}

/**
 * `meta.invalidate` of a procedure built with `invalidatingMutation`. Targets
 * add up; each one only invalidates what it names.
 *
 * @example
 * ```ts
 * invalidatingMutation.meta({
 *   invalidate: { paths: ['post.list'], tags: ({ input }) => [`post:${input.id}`], users: ({ result }) => [result.ownerId] },
 * })
 * ```
 */
export interface InvalidateMeta {
  /** Invalidate every entry of the acting user (adrf-caching's rule). Default true. */
  readonly self?: boolean;
  /** Other users linked to the changed data (adrf-caching's `invalidate_fields`): all their entries. */
  readonly users?: readonly (string | number)[] | ((args: InvalidateArgs) => readonly unknown[]);
  /** Procedure paths or router prefixes (`'post'` covers `post.list`), for every user and the public scope. */
  readonly paths?: readonly string[];
  /**
   * Tags declared by cached queries, for every user and the public scope. A callback's result is checked at each
   * call (by `checkTags`): a tag with a missing value in it (`post:undefined`) invalidates everything instead.
   */
  readonly tags?: readonly string[] | ((args: InvalidateArgs) => readonly string[]);
  /** Invalidate everything under the prefix. */
  readonly all?: boolean;
}

/**
 * Add this to your tRPC meta type: `initTRPC.meta<CachingMeta>()` (with
 * `OpenApiMeta` too when you use trpc-to-openapi).
 *
 * @example
 * ```ts
 * const t = initTRPC.context<Ctx>().meta<OpenApiMeta & CachingMeta>().create();
 * ```
 */
export interface CachingMeta {
  /** Caching of a `cachedQuery` procedure; `false` turns it off. */
  cache?: CacheMeta | false;
  /** Targets of an `invalidatingMutation` procedure; `false` invalidates nothing. */
  invalidate?: InvalidateMeta | false;
}
