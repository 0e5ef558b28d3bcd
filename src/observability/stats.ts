import type {
  AuditEvent,
  BypassReason,
  Divergence,
  EngineEvents,
  InvalidateEvent,
  PurgeEvent,
  ReadEvent,
  StoreCallEvent,
} from '../engine/events.js';
import { AuditRecorder, type AuditStats } from './audit-stats.js';
import { LatencyHistogram, type LatencySummary } from './latency.js';

export type { LatencySummary } from './latency.js';

/**
 * Calls of one procedure path, as {@link CachingStats.paths} lists them.
 *
 * @example
 * ```ts
 * for (const { path, hits, misses } of caching.stats().paths) console.log(path, hits / Math.max(1, hits + misses));
 * ```
 */
export interface PathStats {
  readonly path: string;
  readonly hits: number;
  readonly misses: number;
  readonly coalesced: number;
  readonly stale: number;
  readonly bypasses: number;
}

/**
 * A snapshot of a caching instance's counters, from `caching.stats()`. Counts run from the
 * instance's creation and only grow (Prometheus counters, OpenTelemetry cumulative sums);
 * `pendingInvalidations` and `breaker` are read at the moment of the snapshot. Every query
 * call counts once, as exactly one of `hits`, `misses`, `coalesced`, `stale` or `bypasses`.
 *
 * @example
 * ```ts
 * const { hits, misses, coalesced, breaker, storeLatency } = caching.stats();
 * console.log(`hit ratio ${(hits / (hits + misses + coalesced)).toFixed(2)}, breaker ${breaker}, p99 read ${storeLatency.read.p99} ms`);
 * ```
 */
export interface CachingStats {
  /** Served from the store. */
  readonly hits: number;
  /** Not in the store (or no longer valid): the resolver ran. */
  readonly misses: number;
  /** Missed, but joined an identical concurrent miss and got a copy of its result without running the resolver. */
  readonly coalesced: number;
  /** Served after the entry's TTL, within its stale-while-revalidate window, while it was refreshed in the background. */
  readonly stale: number;
  /** Answered by the resolver without the cache: the sum of {@link CachingStats.bypassReasons}. */
  readonly bypasses: number;
  /**
   * Bypasses by reason: `breaker-open` (the store is skipped after repeated failures), `store-error` (the read
   * failed or timed out), `pending-invalidation` (an invalidation this process could not write yet covers the
   * entry), `disabled` (`meta.cache.enabled: false`), `input` (the input cannot be keyed, see `maxInputBytes`).
   */
  readonly bypassReasons: Readonly<Record<BypassReason, number>>;
  /** Invalidations (mutations and `caching.invalidate` calls) whose version moves were written in time. */
  readonly invalidations: number;
  /** Invalidations not written within `invalidationTimeout`: left pending and retried in the background. */
  readonly deferredInvalidations: number;
  /** Version keys whose move is waiting to be written now (0 when healthy); see `caching.flush`. */
  readonly pendingInvalidations: number;
  /**
   * Store calls that failed or timed out, each retry of a version move included, and writes the store answered
   * `false` to. Calls skipped by the open breaker, or made before `createRedisStore`'s first connection was made or
   * had failed, are not calls: nothing reached the store.
   */
  readonly storeErrors: number;
  /** The circuit breaker now: `open` skips the store, `half-open` lets one trial call through. */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /**
   * Store call latency in ms, by kind: `read` (the one `getMany` of a query), `write` (storing an entry,
   * seeding versions), `invalidate` (version moves). Percentiles are within 9% (log buckets) and follow
   * recent calls: older calls weigh half as much with every 10 000 calls after them.
   */
  readonly storeLatency: { readonly read: LatencySummary; readonly write: LatencySummary; readonly invalidate: LatencySummary };
  /** The busiest procedure paths, most reads first, at most `stats.paths` of them. */
  readonly paths: readonly PathStats[];
  /**
   * A store of several nodes (`createRedisStore({ cluster })`): each primary's own breaker. A failing node's keys
   * bypass the cache while the others are served; `breaker` above stays closed unless the whole store fails.
   * Absent for a store of one node.
   */
  readonly storeNodes?: readonly StoreNodeStats[];
  /** The consistency auditor's checks, in total and per path (all zero without createCaching's `audit`). */
  readonly audit: AuditStats;
  /** Edge purges (createCaching's `edge`); all zero without one. */
  readonly purges: PurgeStats;
}

/**
 * Edge purges in {@link CachingStats.purges}: requests to the edge's purge API, counted by attempt.
 *
 * @example
 * ```ts
 * const { sent, failed, pending, latency } = caching.stats().purges;
 * console.log(`${failed}/${sent} purges failed, ${pending} waiting, p99 ${latency.p99} ms`);
 * ```
 */
export interface PurgeStats {
  /** Purges that landed (first attempts, retries and settle repeats). */
  readonly sent: number;
  /** Purge attempts that failed or timed out; each is kept and retried. */
  readonly failed: number;
  /** Purges kept for a retry now (0 when healthy). */
  readonly pending: number;
  /** Retries among `sent` and `failed`. */
  readonly retries: number;
  /** How long a purge took, in ms, landed or not. */
  readonly latency: LatencySummary;
}

/**
 * One node of the store in {@link CachingStats.storeNodes}.
 *
 * @example
 * ```ts
 * const skipped = (caching.stats().storeNodes ?? []).filter((n) => n.breaker !== 'closed').map((n) => n.node);
 * ```
 */
export interface StoreNodeStats {
  /** `host:port`. */
  readonly node: string;
  /** `open`: calls for keys the node holds are skipped (they bypass the cache); `half-open`: one trial call goes through. */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /** Failed calls in a row. */
  readonly failures: number;
  /** The last failure's message, while the node is failing. */
  readonly lastError?: string;
}

/**
 * The `stats` option of `createCaching`.
 *
 * @example
 * ```ts
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, stats: { paths: 20 } });
 * ```
 */
export interface StatsOptions {
  /**
   * Most procedure paths `stats().paths` lists, busiest first. Twice as many are counted; when more
   * paths than that are seen, the quietest are dropped (and start from zero if they come back).
   * @default 50
   */
  paths?: number;
}

/** Per-path counters: a class, so that every path has one shape and the hot path increments a field. */
class PathCounts {
  hits = 0;
  misses = 0;
  coalesced = 0;
  stale = 0;
  bypasses = 0;

  constructor(readonly path: string) {}

  get reads(): number {
    return this.hits + this.misses + this.coalesced + this.stale + this.bypasses;
  }
}

/** What a snapshot reads live from the instance rather than counts. */
export interface LiveState {
  readonly pendingInvalidations: number;
  readonly pendingPurges?: number;
  readonly breaker: 'closed' | 'open' | 'half-open';
  readonly storeNodes?: readonly StoreNodeStats[] | undefined;
}

/**
 * The counters behind `caching.stats()`: an engine observer that only adds numbers on the
 * hot path (a few field increments, one Map lookup per read, one bucket per store call).
 */
export class StatsRecorder implements EngineEvents {
  private hits = 0;
  private misses = 0;
  private coalesced = 0;
  private stale = 0;
  private readonly bypassReasons: Record<BypassReason, number> = {
    'breaker-open': 0,
    'store-error': 0,
    'pending-invalidation': 0,
    disabled: 0,
    input: 0,
  };
  private invalidations = 0;
  private deferredInvalidations = 0;
  private storeErrors = 0;
  private readonly latency = { read: new LatencyHistogram(), write: new LatencyHistogram(), invalidate: new LatencyHistogram() };
  private readonly paths = new Map<string, PathCounts>();
  private readonly audit = new AuditRecorder();
  private readonly purges = { sent: 0, failed: 0, retries: 0, latency: new LatencyHistogram() };

  constructor(private readonly maxPaths: number) {}

  onPurge(event: PurgeEvent): void {
    if (event.ok) this.purges.sent++;
    else this.purges.failed++;
    if (event.attempt === 'retry') this.purges.retries++;
    this.purges.latency.record(event.durationMs);
  }

  onAudit(event: AuditEvent | Divergence): void {
    this.audit.onAudit(event);
  }

  onRead(event: ReadEvent): void {
    let counts = this.paths.get(event.path);
    if (counts === undefined) counts = this.track(event.path);
    switch (event.status) {
      case 'hit':
        this.hits++;
        counts.hits++;
        break;
      case 'miss':
        this.misses++;
        counts.misses++;
        break;
      case 'coalesced':
        this.coalesced++;
        counts.coalesced++;
        break;
      case 'bypass': {
        // The engine gives every bypass its reason; a missing one would be a read that failed.
        const reason = event.reason ?? 'store-error';
        this.bypassReasons[reason]++;
        counts.bypasses++;
        break;
      }
      case 'stale':
        this.stale++;
        counts.stale++;
        break;
      default:
        // A new status must be counted here (and get a field) before this compiles.
        uncounted(event.status);
    }
  }

  onInvalidate(event: InvalidateEvent): void {
    if (event.written) this.invalidations++;
    else this.deferredInvalidations++;
  }

  onStoreCall(event: StoreCallEvent): void {
    if (!event.ok) this.storeErrors++;
    this.latency[event.operation].record(event.durationMs);
  }

  snapshot(live: LiveState): CachingStats {
    let bypasses = 0;
    for (const count of Object.values(this.bypassReasons)) bypasses += count;
    const busiest = [...this.paths.values()].sort((a, b) => b.reads - a.reads).slice(0, this.maxPaths);
    return {
      hits: this.hits,
      misses: this.misses,
      coalesced: this.coalesced,
      stale: this.stale,
      bypasses,
      bypassReasons: { ...this.bypassReasons },
      invalidations: this.invalidations,
      deferredInvalidations: this.deferredInvalidations,
      pendingInvalidations: live.pendingInvalidations,
      storeErrors: this.storeErrors,
      breaker: live.breaker,
      storeLatency: {
        read: this.latency.read.summary(),
        write: this.latency.write.summary(),
        invalidate: this.latency.invalidate.summary(),
      },
      paths: busiest.map(({ path, hits, misses, coalesced, stale, bypasses: pathBypasses }) => ({
        path,
        hits,
        misses,
        coalesced,
        stale,
        bypasses: pathBypasses,
      })),
      ...(live.storeNodes === undefined ? {} : { storeNodes: live.storeNodes }),
      audit: this.audit.snapshot(),
      purges: {
        sent: this.purges.sent,
        failed: this.purges.failed,
        pending: live.pendingPurges ?? 0,
        retries: this.purges.retries,
        latency: this.purges.latency.summary(),
      },
    };
  }

  /** Starts counting a path; past twice `maxPaths` paths, keeps the busiest `maxPaths` (tRPC paths are few: this rarely runs). */
  private track(path: string): PathCounts {
    if (this.paths.size >= 2 * this.maxPaths) {
      const keep = [...this.paths.values()].sort((a, b) => b.reads - a.reads).slice(0, this.maxPaths);
      this.paths.clear();
      for (const counts of keep) this.paths.set(counts.path, counts);
    }
    const counts = new PathCounts(path);
    this.paths.set(path, counts);
    return counts;
  }
}

function uncounted(_status: never): void {}

/** The snapshot of an instance created with `stats: false`: live state only, every count 0. */
export function emptyStats(live: LiveState): CachingStats {
  return new StatsRecorder(1).snapshot(live);
}
