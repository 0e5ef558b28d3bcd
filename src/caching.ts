import type { AnyRouter } from '@trpc/server';
import type { AnyProcedureBuilder } from '@trpc/server/unstable-core-do-not-import';
import type { Keyv } from 'keyv';
import { Coalescer } from './engine/flights.js';
import { KeyFormat } from './engine/keys.js';
import { VersionBook } from './engine/versions.js';
import { CachingConfigError, type CachingError } from './errors.js';
import { checkDuration, positiveInteger } from './options.js';
import { GuardedStore } from './stores/guard.js';
import { createMemoryStore, DEFAULT_MAX_ENTRIES } from './stores/memory.js';
import { type ResolvedCacheMeta, type ResolvedInvalidateMeta, resolveCacheMeta, resolveInvalidateMeta } from './trpc/meta.js';
import { createMutationMiddleware, type InvalidationTargets, targetKeys } from './trpc/mutation.js';
import { createQueryMiddleware } from './trpc/query.js';
import type { CacheRuntime, MissOutcome } from './trpc/runtime.js';

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
  /** Told of every cache fault; the procedure itself never fails for one. Default: `console.error`. */
  onError?: (error: CachingError) => void;
}

/**
 * A caching instance: two procedure builders, a way to invalidate from
 * outside a procedure, and a startup check of the router's meta.
 */
export interface Caching<TCtx> {
  /**
   * Turns a base procedure into a cached-query builder: a real tRPC procedure
   * builder with the same types, whose queries are cached per user.
   */
  cachedQuery<TBuilder extends AnyProcedureBuilder>(base: TBuilder): TBuilder;
  /** Turns a base procedure into a mutation builder that invalidates `meta.invalidate` targets after success. */
  invalidatingMutation<TBuilder extends AnyProcedureBuilder>(base: TBuilder): TBuilder;
  /** Invalidates targets from a job or webhook. Resolves to false when the store failed; the move is retried in the background. */
  invalidate(targets: InvalidationTargets): Promise<boolean>;
  /** Validates `meta.cache` and `meta.invalidate` of every procedure of the router; throws a CachingConfigError naming the first bad one. */
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
}

/** How a procedure uses a caching instance, as {@link Caching.describe} reports it. */
export type ProcedureCaching =
  | { readonly kind: 'query'; readonly cache: ResolvedCacheMeta }
  | { readonly kind: 'mutation'; readonly invalidate: ResolvedInvalidateMeta | undefined };

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
} as const;

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
  if (/[:\s]/.test(prefix)) throw new CachingConfigError('prefix', 'must not contain ":" or white space (":" separates key segments)');
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

  const onError = options.onError ?? defaultOnError;
  const report = (error: CachingError): void => {
    try {
      onError(error);
    } catch {
      // A throwing hook must not turn a cache fault into an API failure.
    }
  };
  const store = new GuardedStore(keyv, { timeout, breakerThreshold, breakerCooldown, report });
  const versions = new VersionBook(store, { versionTtl, retryMin: retryDelay, retryMax: breakerCooldown });

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

  const rt: CacheRuntime = {
    keys: new KeyFormat(prefix),
    store,
    versions,
    flights: new Coalescer<MissOutcome>(),
    ttl,
    versionTtl,
    maxEntryBytes,
    inputLimits: { maxInputBytes, maxInputDepth },
    user: options.user as (ctx: unknown) => unknown,
    report,
    cacheMeta: memo(cacheMetas, (path, meta) => resolveCacheMeta(path, meta, { ttl, versionTtl })),
    invalidateMeta: memo(invalidateMetas, resolveInvalidateMeta),
  };
  const queryMiddleware = createQueryMiddleware(rt);
  const mutationMiddleware = createMutationMiddleware(rt);
  const uses = (procedure: unknown, middleware: unknown): boolean =>
    ((procedure as { _def?: { middlewares?: unknown[] } })._def?.middlewares ?? []).includes(middleware);

  return {
    cachedQuery: (base) => base.use(queryMiddleware as Parameters<typeof base.use>[0]) as typeof base,
    invalidatingMutation: (base) => base.use(mutationMiddleware as Parameters<typeof base.use>[0]) as typeof base,
    async invalidate(targets) {
      return versions.move(targetKeys(rt, targets));
    },
    validateRouter(router) {
      const procedures = router._def.procedures as Record<string, { _def: { meta?: unknown; type: string } }>;
      for (const [path, procedure] of Object.entries(procedures)) {
        if (uses(procedure, queryMiddleware)) rt.cacheMeta(path, procedure._def.meta);
        if (uses(procedure, mutationMiddleware)) rt.invalidateMeta(path, procedure._def.meta);
      }
    },
    flush: (deadlineMs) => versions.flush(deadlineMs),
    close: () => versions.close(),
    store: keyv,
    get pendingInvalidations() {
      return versions.pendingCount;
    },
    describe(router) {
      const described = new Map<string, ProcedureCaching>();
      const procedures = router._def.procedures as Record<string, { _def?: { meta?: unknown } }>;
      for (const [path, procedure] of Object.entries(procedures)) {
        const meta = procedure._def?.meta;
        if (uses(procedure, queryMiddleware)) described.set(path, { kind: 'query', cache: rt.cacheMeta(path, meta) });
        else if (uses(procedure, mutationMiddleware)) described.set(path, { kind: 'mutation', invalidate: rt.invalidateMeta(path, meta) });
      }
      return described;
    },
  };
}
