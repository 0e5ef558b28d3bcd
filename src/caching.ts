import type { AnyRouter } from '@trpc/server';
import type { Keyv } from 'keyv';
import { CacheEngine } from './engine/engine.js';
import { userScope } from './engine/keys.js';
import { type LockOptions, resolveLock } from './engine/lease.js';
import type { InvalidationTargets } from './engine/targets.js';
import { CachingConfigError, CachingError } from './errors.js';
import { LiveHub } from './live/hub.js';
import { liveMoveOf } from './live/move.js';
import { pubSubOf } from './live/redis-pubsub.js';
import { createInvalidationStream, type InvalidationStreamOptions, type InvalidationStreamProcedure } from './live/stream.js';
import { makeObservable, Observers } from './observability/observers.js';
import { type CachingStats, emptyStats, type StatsOptions, StatsRecorder } from './observability/stats.js';
import { checkDuration, positiveInteger } from './options.js';
import { GuardedStore } from './stores/guard.js';
import { createMemoryStore, DEFAULT_MAX_ENTRIES, partitionVersions } from './stores/memory.js';
import type { AnyProcedureBuilder, ContextCheck } from './trpc/internals.js';
import {
  type ProcedureCaching,
  type ResolvedCacheMeta,
  type ResolvedInvalidateMeta,
  resolveCacheMeta,
  resolveInvalidateMeta,
} from './trpc/meta.js';

export type { ProcedureCaching };

import { createMutationMiddleware } from './trpc/mutation.js';
import { createQueryMiddleware } from './trpc/query.js';
import type { TrpcRuntime } from './trpc/runtime.js';
import { CallChecks, describeRouter, registerCaching, validateRouter as validateRouterOf } from './trpc/validate.js';

/**
 * Options of {@link createCaching}. Durations are in milliseconds, as in Keyv.
 *
 * @example
 * ```ts
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, ttl: 60_000, store: new Keyv(new KeyvRedis(process.env.REDIS_URL)) });
 * ```
 */
export interface CachingOptions<TCtx> {
  /**
   * Who is asking: the id of the user in `ctx` (string or number), or null/undefined
   * for an anonymous caller. Entries are scoped by it; raw ids never reach the store.
   */
  user: (ctx: TCtx) => string | number | null | undefined;
  /** Any Keyv instance; default: a bounded in-memory store of `maxEntries` entries (see {@link createMemoryStore}). */
  store?: Keyv;
  /**
   * Most cached results the default in-memory store holds (least recently used go first); it keeps up to as many
   * version keys apart from them, so that a flood of inputs never evicts a version. Default 10 000. Ignored with `store`.
   */
  maxEntries?: number;
  /** Namespace of every key. Default `trpc-caching`. */
  prefix?: string;
  /** Entry lifetime, unless a procedure sets `meta.cache.ttl`. Default 5 minutes. */
  ttl?: number;
  /** Version lifetime; must be at least every entry TTL. Default 1 day. */
  versionTtl?: number;
  /** Longest a store call may take before the cache gives up on it. Default 100 ms. */
  timeout?: number;
  /** Consecutive store failures that open the circuit breaker. Default 5. */
  breakerThreshold?: number;
  /** How long an open breaker skips the store. Default 5 s. */
  breakerCooldown?: number;
  /** Largest entry payload stored, in bytes; larger results are returned uncached. Default 1 MiB. */
  maxEntryBytes?: number;
  /** Longest canonical input that is keyed, in characters; longer inputs bypass the cache. Default 64 KiB. */
  maxInputBytes?: number;
  /** Deepest input nesting that is keyed; deeper inputs bypass the cache. Default 32. */
  maxInputDepth?: number;
  /** First delay before retrying an invalidation that could not be written; doubles up to `breakerCooldown`. Default 50 ms. */
  retryDelay?: number;
  /**
   * How long an invalidating mutation (or `invalidate()`) waits for its version moves to reach the store
   * before returning with them pending. Moves are never skipped by the circuit breaker; one that is not
   * written in time is bypassed by this process and retried until it lands.
   * @default 1000
   */
  invalidationTimeout?: number;
  /**
   * Most version keys this process keeps pending while the store is unreachable. Above it they collapse
   * into one move of the global version (everything is invalidated once the store answers): coarse, but
   * bounded in memory and always correct.
   * @default 1000
   */
  maxPendingInvalidations?: number;
  /**
   * Stampede protection across processes: processes that miss the same entry at once run its resolver once.
   * The first takes a lease in the store (`SET NX PX` on Redis), the others wait for its entry and read it;
   * a holder that dies frees the lease when it expires; a miss that cannot get its turn within `wait` runs
   * its resolver anyway (never an error, never an unbounded wait). `true` turns it on for every cached query;
   * `meta.cache.lock` overrides it per procedure. Needs a store that offers leases (`createRedisStore`).
   * @default false
   * @example
   * ```ts
   * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store: createRedisStore({ url: process.env.REDIS_URL }), lock: true });
   * ```
   */
  lock?: boolean | LockOptions;
  /** Told of every cache fault; the procedure itself never fails for one. Default: `console.error`. */
  onError?: (error: CachingError) => void;
  /**
   * Counting for {@link Caching.stats}: hits, misses, bypasses by reason, store latency, the busiest paths.
   * It costs a hit a few field increments (within the benchmark's noise), hence on by default; `false` leaves
   * every count at 0. Diagnostics channels and OpenTelemetry work either way.
   * @default true
   * @example
   * ```ts
   * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, stats: { paths: 20 } });
   * ```
   */
  stats?: boolean | StatsOptions;
}

/**
 * A caching instance: two procedure builders, a way to invalidate from
 * outside a procedure, and a startup check of the router's meta.
 */
export interface Caching<TCtx> {
  /**
   * Turns a base procedure into a cached-query builder: a real tRPC procedure
   * builder with the same types, whose queries are cached per user. The base's
   * context must satisfy `createCaching<Ctx>`'s Ctx (a compile error otherwise),
   * and every middleware that sets it (authentication) belongs in the base:
   * `validateRouter` refuses one added after.
   */
  cachedQuery<TBuilder extends AnyProcedureBuilder>(base: TBuilder & ContextCheck<TBuilder, TCtx>): TBuilder;
  /** Turns a base procedure into a mutation builder that invalidates `meta.invalidate` targets after success. */
  invalidatingMutation<TBuilder extends AnyProcedureBuilder>(base: TBuilder & ContextCheck<TBuilder, TCtx>): TBuilder;
  /** Invalidates targets from a job or webhook. Resolves to false when the store failed; the move is retried in the background. */
  invalidate(targets: InvalidationTargets): Promise<boolean>;
  /**
   * Checks every procedure of the router at startup; throws a CachingConfigError naming the first that is wrong and
   * what to do: bad `meta.cache`/`meta.invalidate`, a middleware after `cachedQuery`/`invalidatingMutation` (other than
   * `.input()`/`.output()` parsers), a builder ending in the wrong kind of procedure, meta its builder would ignore,
   * `invalidate.paths` that reach no cached query.
   *
   * @example
   * ```ts
   * export const appRouter = t.router({ ... });
   * caching.validateRouter(appRouter);
   * ```
   */
  validateRouter(router: AnyRouter): void;
  /** Waits until invalidations that could not be written are written, up to a deadline. Resolves to whether none is left. */
  flush(deadlineMs?: number): Promise<boolean>;
  /** Stops background retries. Does not close the store, which the app owns. */
  close(): void;
  /** The Keyv store in use. */
  readonly store: Keyv;
  /** Version keys whose invalidation is not written yet (0 when healthy). */
  readonly pendingInvalidations: number;
  /**
   * How each procedure of the router uses this instance, by path: its resolved `meta.cache` or
   * `meta.invalidate`. Procedures built without this instance are absent. The OpenAPI helper reads it.
   *
   * @example
   * ```ts
   * for (const [path, info] of caching.describe(appRouter)) if (info.kind === 'query') console.log(path, info.cache.ttl);
   * ```
   */
  describe(router: AnyRouter): ReadonlyMap<string, ProcedureCaching>;
  /**
   * A snapshot of this instance's counters since its creation (hits, misses, bypasses by reason, invalidations,
   * store latency percentiles, the busiest paths) and of its state now (pending invalidations, circuit breaker).
   * Cheap enough for every scrape; see {@link CachingStats}.
   *
   * @example
   * ```ts
   * const stats = caching.stats();
   * console.log(stats.hits, stats.misses, stats.bypassReasons['breaker-open'], stats.breaker, stats.storeLatency.read.p99);
   * ```
   */
  stats(): CachingStats;
  /**
   * The live invalidation stream: a subscription procedure on `base` to mount in your router. Each connection
   * gets every move that affects its user, whoever made it: its own scope (a `users` target naming it, its own
   * `self`), paths, tags and `all`; never another user's scope. An anonymous connection gets paths, tags, `all`
   * and moves of the anonymous scope. Serve it over tRPC's SSE (`httpSubscriptionLink`) or WebSocket (`wsLink`),
   * and give it to `invalidationLink({ live })` from `trpc-caching/client`.
   *
   * Moves travel between processes over the store's Redis (publish/subscribe on one channel per prefix) when the
   * store is Redis, within this process otherwise. A client that comes back after missing events is told to
   * invalidate everything it holds (README "Client caches"). From the first call on, every move of this instance
   * is published.
   *
   * @param base - A procedure builder whose middlewares authenticate (the stream reads `user(ctx)` after them).
   * @param options - `bufferSize`: events a slow connection may have waiting (default 256).
   * @example
   * ```ts
   * const appRouter = t.router({ post: postRouter, invalidations: caching.invalidationStream(t.procedure) });
   * ```
   */
  invalidationStream<TBuilder extends AnyProcedureBuilder>(
    base: TBuilder & ContextCheck<TBuilder, TCtx>,
    options?: InvalidationStreamOptions,
  ): InvalidationStreamProcedure;
}

const DEFAULTS = {
  prefix: 'trpc-caching',
  ttl: 5 * 60_000,
  versionTtl: 24 * 60 * 60_000,
  timeout: 100,
  breakerThreshold: 5,
  breakerCooldown: 5_000,
  maxEntryBytes: 1024 * 1024,
  maxInputBytes: 64 * 1024,
  maxInputDepth: 32,
  retryDelay: 50,
  invalidationTimeout: 1_000,
  maxPendingInvalidations: 1_000,
} as const;

const DEFAULT_STATS_PATHS = 50;

/** The option's value, or its default only when it is absent: `null` is a bad value, not a request for the default. */
function given<T>(value: T | null | undefined, fallback: T): T | null {
  return value === undefined ? fallback : value;
}

function defaultOnError(error: CachingError): void {
  console.error(`[trpc-caching] ${error.operation}${error.path ? ` ${error.path}` : ''}: ${error.message}`);
}

/**
 * Creates a caching instance for an app's tRPC context. Options are validated
 * here, at startup: a bad one throws a {@link CachingConfigError} naming it.
 *
 * @example
 * ```ts
 * const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
 * const authed = t.procedure.use(requireUser);
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });
 * const cachedQuery = caching.cachedQuery(authed);
 * const invalidatingMutation = caching.invalidatingMutation(authed);
 * ```
 */
export function createCaching<TCtx = unknown>(options: CachingOptions<TCtx>): Caching<TCtx> {
  if (typeof options !== 'object' || options === null) throw new CachingConfigError('options', 'expected an options object');
  if (typeof options.user !== 'function') {
    throw new CachingConfigError('user', 'expected a function from the context to a user id, e.g. (ctx) => ctx.user?.id');
  }
  const prefix = given(options.prefix, DEFAULTS.prefix);
  if (typeof prefix !== 'string' || prefix.length === 0) throw new CachingConfigError('prefix', 'expected a non-empty string');
  if (/[:\s\p{Cc}]/u.test(prefix)) {
    throw new CachingConfigError('prefix', 'must not contain ":", white space or control characters (":" separates key segments)');
  }
  const ttl = checkDuration('ttl', given(options.ttl, DEFAULTS.ttl), { min: 1 });
  const versionTtl = checkDuration('versionTtl', given(options.versionTtl, DEFAULTS.versionTtl), { min: 1 });
  if (versionTtl < ttl) {
    throw new CachingConfigError(
      'versionTtl',
      `must be at least ttl (${ttl} ms), got ${versionTtl} ms: a version must outlive every entry that depends on it`,
    );
  }
  const timeout = checkDuration('timeout', given(options.timeout, DEFAULTS.timeout), { min: 1 });
  const breakerCooldown = checkDuration('breakerCooldown', given(options.breakerCooldown, DEFAULTS.breakerCooldown), { min: 1 });
  const retryDelay = checkDuration('retryDelay', given(options.retryDelay, DEFAULTS.retryDelay), { min: 1 });
  const invalidationTimeout = checkDuration('invalidationTimeout', given(options.invalidationTimeout, DEFAULTS.invalidationTimeout), {
    min: 1,
  });
  const maxPendingInvalidations = positiveInteger(
    'maxPendingInvalidations',
    given(options.maxPendingInvalidations, DEFAULTS.maxPendingInvalidations),
  );
  const breakerThreshold = positiveInteger('breakerThreshold', given(options.breakerThreshold, DEFAULTS.breakerThreshold));
  const maxEntryBytes = positiveInteger('maxEntryBytes', given(options.maxEntryBytes, DEFAULTS.maxEntryBytes));
  const maxInputBytes = positiveInteger('maxInputBytes', given(options.maxInputBytes, DEFAULTS.maxInputBytes));
  const maxInputDepth = positiveInteger('maxInputDepth', given(options.maxInputDepth, DEFAULTS.maxInputDepth));
  if (options.onError !== undefined && typeof options.onError !== 'function')
    throw new CachingConfigError('onError', 'expected a function');
  if (options.store !== undefined && (typeof options.store !== 'object' || typeof options.store?.getMany !== 'function')) {
    throw new CachingConfigError('store', 'expected a Keyv instance');
  }
  const keyv =
    options.store ?? createMemoryStore({ maxEntries: positiveInteger('maxEntries', given(options.maxEntries, DEFAULT_MAX_ENTRIES)) });

  const lock = resolveLock(options.lock, keyv, timeout);
  const statsPaths = statsOption(options.stats);
  const recorder = statsPaths === undefined ? undefined : new StatsRecorder(statsPaths);
  // Stats, diagnostics channels and attached observers (OpenTelemetry) hear every event through this one object.
  const observers = new Observers(recorder);

  const onError = options.onError ?? defaultOnError;
  const report = (error: CachingError): void => {
    try {
      onError(error);
    } catch {
      // A throwing hook must not turn a cache fault into an API failure.
    }
    observers.onError(error);
  };
  const guard = new GuardedStore(keyv, { timeout, breakerThreshold, breakerCooldown, report, events: observers });
  const engine = new CacheEngine({
    prefix,
    store: guard,
    versionTtl,
    invalidationTimeout,
    maxPendingInvalidations,
    retryDelay,
    retryMax: breakerCooldown,
    maxEntryBytes,
    inputLimits: { maxInputBytes, maxInputDepth },
    report,
    events: observers,
    lock: lock.settings,
  });
  // A store made by createMemoryStore keeps version keys in an LRU of their own: tell it which keys those are.
  partitionVersions(keyv, (key) => engine.isVersionKey(key));

  // Meta objects are created once per procedure, so validation runs once per procedure.
  const cacheMetas = new WeakMap<object, ResolvedCacheMeta>();
  const invalidateMetas = new WeakMap<object, ResolvedInvalidateMeta | undefined>();
  const memo = <T>(map: WeakMap<object, T>, resolve: (path: string, meta: unknown) => T) => {
    return (path: string, meta: unknown): T => {
      if (typeof meta !== 'object' || meta === null) return resolve(path, meta);
      if (map.has(meta)) return map.get(meta) as T;
      const resolved = resolve(path, meta);
      map.set(meta, resolved);
      return resolved;
    };
  };

  // Set once the middlewares exist (they are what it recognises); read at call time only.
  let calls: CallChecks | undefined;
  const rt: TrpcRuntime = {
    engine,
    user: options.user as (ctx: unknown) => unknown,
    report,
    cacheMeta: memo(cacheMetas, (path, meta) => resolveCacheMeta(path, meta, { ttl, versionTtl, lock: lock.byDefault })),
    invalidateMeta: memo(invalidateMetas, resolveInvalidateMeta),
    checkCall: (path) => calls?.check(path),
  };
  const queryMiddleware = createQueryMiddleware(rt);
  // The live hub exists once a stream is made: until then no move is published (nobody could listen here).
  let hub: LiveHub | undefined;
  const liveHub = (): LiveHub => {
    if (hub !== undefined) return hub;
    const pubsub = pubSubOf(keyv);
    hub = new LiveHub({ bufferSize: 256, historySize: 256, report }, pubsub && { pubsub, channel: `${prefix}:invalidations` });
    return hub;
  };
  const readerOf = (ctx: unknown): string => {
    try {
      return engine.keys.scopeSegment(userScope(rt.user(ctx)));
    } catch (cause) {
      // An unusable user id: the connection gets what any anonymous reader may see, never someone's scope.
      report(cause instanceof CachingError ? cause : new CachingError('config', 'the user option threw in a live stream', { cause }));
      return 'anon';
    }
  };
  const mutationMiddleware = createMutationMiddleware(rt, (move) => hub?.publish(move));
  // Registered now, so that any instance's validateRouter recognises this instance's procedures.
  const parts = registerCaching({ queryMiddleware, mutationMiddleware, cacheMeta: rt.cacheMeta, invalidateMeta: rt.invalidateMeta });
  calls = new CallChecks(parts);

  const caching: Caching<TCtx> = {
    cachedQuery: (base) => base.use(queryMiddleware as Parameters<typeof base.use>[0]) as typeof base,
    invalidatingMutation: (base) => base.use(mutationMiddleware as Parameters<typeof base.use>[0]) as typeof base,
    async invalidate(targets) {
      const written = await engine.invalidate(engine.targetKeys(targets));
      hub?.publish(liveMoveOf(engine.keys, targets));
      return written;
    },
    validateRouter(router) {
      validateRouterOf(router, parts);
      calls?.validated(router);
    },
    flush: (deadlineMs) => engine.flush(deadlineMs),
    close: () => {
      engine.close();
      void hub?.close();
    },
    store: keyv,
    get pendingInvalidations() {
      return engine.pendingInvalidations;
    },
    describe(router) {
      return describeRouter(router, parts);
    },
    invalidationStream(base, streamOptions) {
      const stream = createInvalidationStream(base, { hub: liveHub, reader: readerOf }, streamOptions);
      // Now, not at the first connection: this process must publish its moves even if no client ever connects here.
      liveHub();
      return stream;
    },
    stats() {
      const live = { pendingInvalidations: engine.pendingInvalidations, breaker: guard.breaker };
      return recorder === undefined ? emptyStats(live) : recorder.snapshot(live);
    },
  };
  // For trpc-caching/otel's instrumentCaching: a hidden slot, not a member of the public type.
  makeObservable(caching, observers);
  return caching;
}

/** The `stats` option as the number of paths to list, or undefined when stats are off. */
function statsOption(value: boolean | StatsOptions | undefined | null): number | undefined {
  if (value === undefined || value === true) return DEFAULT_STATS_PATHS;
  if (value === false) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new CachingConfigError('stats', 'expected true, false or an object such as { paths: 50 }');
  }
  return positiveInteger('stats.paths', given(value.paths, DEFAULT_STATS_PATHS));
}
