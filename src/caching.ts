import type { AnyRouter } from '@trpc/server';
import type { Keyv } from 'keyv';
import { type CachingOptions, resolveCachingOptions } from './caching-options.js';
import { CacheEngine } from './engine/engine.js';
import { userScope } from './engine/keys.js';
import type { InvalidationTargets } from './engine/targets.js';
import { CachingError } from './errors.js';
import { LiveHub } from './live/hub.js';
import { makeObservable, Observers } from './observability/observers.js';
import { type CachingStats, emptyStats, StatsRecorder } from './observability/stats.js';
import { capabilitiesOf } from './stores/capabilities.js';
import { GuardedStore } from './stores/guard.js';
import { partitionVersions } from './stores/memory.js';
import { pubSubOf } from './stores/redis/pubsub.js';
import type { AnyProcedureBuilder, ContextCheck } from './trpc/internals.js';
import { createInvalidationStream, type InvalidationStreamOptions, type InvalidationStreamProcedure } from './trpc/invalidation-stream.js';
import {
  type ProcedureCaching,
  type ResolvedCacheMeta,
  type ResolvedInvalidateMeta,
  resolveCacheMeta,
  resolveInvalidateMeta,
} from './trpc/meta.js';

export type { ProcedureCaching };

import { type CachingBuilder, cachingBuilder } from './trpc/builder.js';
import { CallChecks } from './trpc/call-checks.js';
import { createMutationMiddleware } from './trpc/mutation.js';
import { createQueryMiddleware } from './trpc/query.js';
import type { TrpcRuntime } from './trpc/runtime.js';
import { describeRouter, registerCaching, validateRouter as validateRouterOf } from './trpc/validate.js';

/**
 * A caching instance: two procedure builders, a way to invalidate from
 * outside a procedure, and a startup check of the router's meta.
 */
export interface Caching<TCtx> {
  /**
   * Turns a base procedure into a cached-query builder: a real tRPC procedure
   * builder with the same types, whose queries are cached per user. The base's
   * context must satisfy `createCaching<Ctx>`'s Ctx (a compile error otherwise),
   * and every middleware (authentication, authorization) belongs in the base:
   * `.use()` on the returned builder is a compile error and throws.
   */
  cachedQuery<TBuilder extends AnyProcedureBuilder>(base: TBuilder & ContextCheck<TBuilder, TCtx>): CachingBuilder<TBuilder>;
  /** Turns a base procedure into a mutation builder that invalidates `meta.invalidate` targets after success. */
  invalidatingMutation<TBuilder extends AnyProcedureBuilder>(base: TBuilder & ContextCheck<TBuilder, TCtx>): CachingBuilder<TBuilder>;
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
   * store latency percentiles, the busiest paths, the consistency auditor's checks) and of its state now (pending
   * invalidations, circuit breaker).
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
   * invalidate everything it holds (docs/client.md). From the first call on, every move of this instance
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
  const { ttl, guard: bounds, engine: settings, store: keyv, lock, statsPaths, onError } = resolveCachingOptions(options);
  const recorder = statsPaths === undefined ? undefined : new StatsRecorder(statsPaths);
  // Stats, diagnostics channels and attached observers (OpenTelemetry) hear every event through this one object.
  const observers = new Observers(recorder);

  const report = (error: CachingError): void => {
    try {
      onError(error);
    } catch {
      // A throwing hook must not turn a cache fault into an API failure.
    }
    observers.onError(error);
  };
  const guard = new GuardedStore(keyv, { ...bounds, report, events: observers });
  const engine = new CacheEngine({
    ...settings,
    store: guard,
    capabilities: capabilitiesOf(keyv),
    report,
    events: observers,
    lock: lock.settings,
  });
  // Edge purgers tell their deliveries through the instance's observers (stats, channels) and onError.
  for (const sink of settings.sinks ?? []) sink.bind?.({ delivered: (event) => observers.onPurge(event), report });
  // A store made by createMemoryStore keeps version keys in an LRU of their own: tell it which keys those are.
  partitionVersions(keyv, (key) => engine.isVersionKey(key));

  const metaDefaults = { ttl, versionTtl: settings.versionTtl, lock: lock.byDefault };
  // Meta objects are created once per procedure, so validation runs once per procedure.
  const cacheMetas = new WeakMap<object, ResolvedCacheMeta>();
  const invalidateMetas = new WeakMap<object, ResolvedInvalidateMeta | undefined>();
  // A procedure without `.meta()` has none at all: its defaults do not depend on the path, so they are resolved once.
  const memo = <T>(map: WeakMap<object, T>, resolve: (path: string, meta: unknown) => T) => {
    let noMeta: { value: T } | undefined;
    return (path: string, meta: unknown): T => {
      if (meta === undefined) {
        noMeta ??= { value: resolve(path, undefined) };
        return noMeta.value;
      }
      if (typeof meta !== 'object' || meta === null) return resolve(path, meta);
      const known = map.get(meta);
      if (known !== undefined || map.has(meta)) return known as T;
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
    cacheMeta: memo(cacheMetas, (path, meta) => resolveCacheMeta(path, meta, metaDefaults)),
    invalidateMeta: memo(invalidateMetas, resolveInvalidateMeta),
    checkCall: (path, meta, builder) => calls?.check(path, meta, builder),
  };
  const queryMiddleware = createQueryMiddleware(rt);
  // The live hub exists once a stream is made: until then no move is published (nobody could listen here).
  let hub: LiveHub | undefined;
  const liveHub = (): LiveHub => {
    if (hub !== undefined) return hub;
    const pubsub = pubSubOf(keyv);
    hub = new LiveHub({ bufferSize: 256, historySize: 256, report }, pubsub && { pubsub, channel: `${settings.prefix}:invalidations` });
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
  // Every move, by a mutation or caching.invalidate(), reaches the live streams through the engine's event.
  observers.attach({ onMoved: (move) => hub?.publish(move) });
  const mutationMiddleware = createMutationMiddleware(rt);
  // Registered now, so that any instance's validateRouter recognises this instance's procedures.
  const parts = registerCaching({ queryMiddleware, mutationMiddleware, cacheMeta: rt.cacheMeta, invalidateMeta: rt.invalidateMeta });
  // Said on the console, whatever onError does: it is about how the app is set up, not one call.
  calls = new CallChecks(parts, (message) => console.warn(message));

  const caching: Caching<TCtx> = {
    cachedQuery: (base) => cachingBuilder(base, 'cachedQuery', queryMiddleware),
    invalidatingMutation: (base) => cachingBuilder(base, 'invalidatingMutation', mutationMiddleware),
    async invalidate(targets) {
      return engine.invalidate(engine.planMove(targets));
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
      const live = {
        pendingInvalidations: engine.pendingInvalidations,
        pendingPurges: engine.pendingPurges,
        breaker: guard.breaker,
        storeNodes: capabilitiesOf(guard.keyv).nodes?.(),
      };
      return recorder === undefined ? emptyStats(live) : recorder.snapshot(live);
    },
  };
  // For trpc-caching/otel's instrumentCaching: a hidden slot, not a member of the public type.
  makeObservable(caching, observers);
  return caching;
}
