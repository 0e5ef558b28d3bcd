import type { Keyv } from 'keyv';
import { type AuditOptions, resolveAudit } from './engine/audit-options.js';
import type { LeaseSettings } from './engine/lease.js';
import type { EngineOptions } from './engine/plan.js';
import type { MoveSink } from './engine/sinks.js';
import { CachingConfigError, type CachingError } from './errors.js';
import type { StatsOptions } from './observability/stats.js';
import { checkDuration, describe, positiveInteger } from './options.js';
import { capabilitiesOf } from './stores/capabilities.js';
import type { StoreGuardOptions } from './stores/guard.js';
import { createMemoryStore, DEFAULT_MAX_ENTRIES, memoryStoreSize } from './stores/memory.js';

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
  /**
   * The consistency auditor: checks a sample of hits against their resolver, run again after the caller was
   * answered, and counts divergences (data changed without an invalidation reaching the entry). `true` takes the
   * defaults; see {@link AuditOptions} and docs/consistency.md. `meta.cache.audit: false` exempts a procedure.
   * @default false
   */
  audit?: boolean | AuditOptions;
  /**
   * Edge caches to purge before an invalidating mutation returns: `createEdge({ purger })` from `trpc-caching/http`
   * (Varnish, Fastly, Cloudflare or your own purger), or any {@link MoveSink}. Every move (a mutation's or
   * `invalidate()`'s) that reaches public paths, tags or `all` purges their surrogate keys once its versions are
   * written; the mutation waits for the purge up to the sink's `wait` (default `invalidationTimeout`), and a purge
   * that fails is kept and retried. See docs/edge.md.
   * @default none
   * @example
   * ```ts
   * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, edge: createEdge({ purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }) }) });
   * ```
   */
  edge?: MoveSink | readonly MoveSink[];
}

// The defaults CachingOptions' TSDoc promises: change both together.
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

/** {@link CachingOptions} checked and with their defaults filled in: what createCaching wires together. */
export interface ResolvedCachingOptions {
  /** The default TTL of a cached query. */
  readonly ttl: number;
  /** The store guard's bounds; createCaching adds the hooks. */
  readonly guard: Omit<StoreGuardOptions, 'report' | 'events'>;
  /** The engine's settings; createCaching adds the store, the hooks and the lease settings. */
  readonly engine: Omit<EngineOptions, 'store' | 'capabilities' | 'report' | 'events' | 'lock'>;
  /** The app's store, or the default in-memory one made here. */
  readonly store: Keyv;
  readonly lock: ReturnType<typeof resolveLock>;
  /** Paths listed by `stats()`; undefined when stats are off. */
  readonly statsPaths: number | undefined;
  readonly onError: (error: CachingError) => void;
}

/** The option's value, or its default only when it is absent: `null` is a bad value, not a request for the default. */
function given<T>(value: T | null | undefined, fallback: T): T | null {
  return value === undefined ? fallback : value;
}

function defaultOnError(error: CachingError): void {
  console.error(`[trpc-caching] ${error.operation}${error.path ? ` ${error.path}` : ''}: ${error.message}`);
}

/**
 * Checks createCaching's options in one place, at startup, and fills in their defaults. Throws a
 * {@link CachingConfigError} naming the first bad option, in the order the options are listed here.
 */
export function resolveCachingOptions<TCtx>(options: CachingOptions<TCtx>): ResolvedCachingOptions {
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

  return {
    ttl,
    guard: { timeout, breakerThreshold, breakerCooldown },
    engine: {
      prefix,
      versionTtl,
      invalidationTimeout,
      maxPendingInvalidations,
      retryDelay,
      retryMax: breakerCooldown,
      maxEntryBytes,
      inputLimits: { maxInputBytes, maxInputDepth },
      audit: resolveAudit(options.audit),
      sinks: sinksOption(options.edge),
    },
    store: keyv,
    // Leases across processes (createRedisStore), or one process's own (createMemoryStore: it is the only process).
    lock: resolveLock(options.lock, capabilitiesOf(keyv).leases !== undefined || memoryStoreSize(keyv) !== undefined, timeout),
    statsPaths: statsOption(options.stats),
    onError: options.onError ?? defaultOnError,
  };
}

/** The `edge` option as a list of move sinks, each checked for its `moved` function. */
function sinksOption(value: MoveSink | readonly MoveSink[] | undefined | null): readonly MoveSink[] {
  if (value === undefined) return [];
  const sinks: readonly unknown[] = Array.isArray(value) ? value : [value];
  sinks.forEach((sink, i) => {
    if (typeof sink !== 'object' || sink === null || typeof (sink as MoveSink).moved !== 'function') {
      throw new CachingConfigError(
        Array.isArray(value) ? `edge[${i}]` : 'edge',
        `expected a move sink such as createEdge({ purger }) from trpc-caching/http, got ${describe(sink)}`,
      );
    }
    const wait = (sink as MoveSink).wait;
    if (wait !== undefined) checkDuration(Array.isArray(value) ? `edge[${i}].wait` : 'edge.wait', wait, { min: 0 });
  });
  return sinks as readonly MoveSink[];
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

/**
 * createCaching's `lock`: stampede protection across processes. `true` turns it on for every cached query
 * with the default timings; an object sets the timings (and, with `enabled: false`, leaves it to each
 * procedure's `meta.cache.lock`).
 *
 * @example
 * ```ts
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store: createRedisStore({ url }), lock: { wait: 2_000 } });
 * ```
 */
export interface LockOptions {
  /**
   * Whether every cached query takes the lease on a miss; `meta.cache.lock` decides per procedure either way.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * How long a lease lasts without renewal, in ms. Its holder renews it while its resolver runs, so this only
   * bounds how long the others wait after a holder died before one of them takes over.
   * @default 3000
   */
  readonly lease?: number;
  /**
   * Longest a miss waits for another process's result before running its own resolver, in ms.
   * @default 5000
   */
  readonly wait?: number;
}

const LOCK_DEFAULTS = { lease: 3_000, wait: 5_000 } as const;

/**
 * Resolves createCaching's `lock`: whether procedures lock by default, and the lease timings. Throws a
 * CachingConfigError for a bad value, and for `lock` on a shared store that offers no leases (any Keyv not
 * made by createRedisStore or createMemoryStore): it would protect one process only, silently.
 */
export function resolveLock(
  value: boolean | LockOptions | null | undefined,
  offersLeases: boolean,
  timeout: number,
): { readonly byDefault: boolean; readonly settings: LeaseSettings } {
  if (value !== undefined && typeof value !== 'boolean' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new CachingConfigError('lock', `expected a boolean or { enabled, lease, wait }, got ${describe(value)}`);
  }
  const given: LockOptions = typeof value === 'object' ? value : {};
  for (const key of Object.keys(given)) {
    if (key !== 'enabled' && key !== 'lease' && key !== 'wait')
      throw new CachingConfigError(`lock.${key}`, 'unknown option; expected enabled, lease or wait');
  }
  if (given.enabled !== undefined && typeof given.enabled !== 'boolean') {
    throw new CachingConfigError('lock.enabled', `expected a boolean, got ${describe(given.enabled)}`);
  }
  const lease = checkDuration('lock.lease', given.lease === undefined ? LOCK_DEFAULTS.lease : given.lease, { min: 1 });
  const wait = checkDuration('lock.wait', given.wait === undefined ? LOCK_DEFAULTS.wait : given.wait, { min: 1 });
  const byDefault = value === true || (typeof value === 'object' && given.enabled !== false);
  if ((value === true || typeof value === 'object') && !offersLeases) {
    throw new CachingConfigError(
      'lock',
      'the store offers no leases, so lock would protect one process only (as identical misses always are): use createRedisStore from trpc-caching/redis',
    );
  }
  return { byDefault, settings: { lease, wait, timeout } };
}
