// /metrics: the cache's counters in Prometheus text format, through prom-client, from caching.stats().
import { Counter, Gauge, Registry } from 'prom-client';
import type { Caching, CachingStats } from 'trpc-caching';

/** A Prometheus registry of one caching instance, and how to scrape it. */
export interface CacheMetrics {
  readonly registry: Registry;
  /** The text of one scrape: every metric from one `stats()` snapshot, so ratios within a scrape add up. */
  scrape(): Promise<string>;
}

const STATUSES = ['hit', 'miss', 'coalesced', 'stale'] as const;
const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * Registers the cache's metrics in a registry of their own (the app may merge it with others, e.g.
 * `Registry.merge([register, cache.registry])`). Counters are read from the snapshot at scrape time, so
 * nothing runs per request beyond the cache's own counting.
 */
export function createCacheMetrics(caching: Pick<Caching<never>, 'stats'>): CacheMetrics {
  const registry = new Registry();
  let stats: CachingStats = caching.stats();
  const registers = [registry];

  new Counter({
    name: 'trpc_caching_reads_total',
    help: 'Cached query calls by outcome (bypass: answered without the cache, see trpc_caching_bypasses_total)',
    labelNames: ['status'],
    registers,
    collect() {
      this.reset();
      for (const status of STATUSES) this.inc({ status }, stats[statusField(status)]);
      this.inc({ status: 'bypass' }, stats.bypasses);
    },
  });
  new Counter({
    name: 'trpc_caching_bypasses_total',
    help: 'Cached query calls answered without the cache, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of Object.entries(stats.bypassReasons)) this.inc({ reason }, count);
    },
  });
  new Counter({
    name: 'trpc_caching_path_reads_total',
    help: 'Cached query calls of the busiest procedures, by path and outcome',
    labelNames: ['path', 'status'],
    registers,
    collect() {
      this.reset();
      for (const { path, hits, misses, coalesced, stale, bypasses } of stats.paths) {
        for (const [status, count] of [
          ['hit', hits],
          ['miss', misses],
          ['coalesced', coalesced],
          ['stale', stale],
          ['bypass', bypasses],
        ] as const) {
          if (count > 0) this.inc({ path, status }, count);
        }
      }
    },
  });
  new Counter({
    name: 'trpc_caching_invalidations_total',
    help: 'Invalidations: written in time, or deferred (left pending and retried)',
    labelNames: ['written'],
    registers,
    collect() {
      this.reset();
      this.inc({ written: 'true' }, stats.invalidations);
      this.inc({ written: 'false' }, stats.deferredInvalidations);
    },
  });
  new Counter({
    name: 'trpc_caching_store_errors_total',
    help: 'Store calls that failed or timed out',
    registers,
    collect() {
      this.reset();
      this.inc(stats.storeErrors);
    },
  });
  new Counter({
    name: 'trpc_caching_edge_purges_total',
    help: 'Edge purges (createCaching edge): landed or failed (each failed one is kept and retried)',
    labelNames: ['ok'],
    registers,
    collect() {
      this.reset();
      this.inc({ ok: 'true' }, stats.purges.sent);
      this.inc({ ok: 'false' }, stats.purges.failed);
    },
  });
  new Gauge({
    name: 'trpc_caching_edge_purges_pending',
    help: 'Surrogate keys whose purge failed and waits for a retry',
    registers,
    collect() {
      this.set(stats.purges.pending);
    },
  });
  new Gauge({
    name: 'trpc_caching_edge_purge_latency_seconds',
    help: 'Edge purge latency percentiles (recent purges weigh more)',
    labelNames: ['quantile'],
    registers,
    collect() {
      for (const quantile of ['p50', 'p99'] as const) this.set({ quantile }, stats.purges.latency[quantile] / 1000);
    },
  });
  new Gauge({
    name: 'trpc_caching_pending_invalidations',
    help: 'Version keys whose invalidation is not written to the store yet',
    registers,
    collect() {
      this.set(stats.pendingInvalidations);
    },
  });
  new Gauge({
    name: 'trpc_caching_breaker_state',
    help: 'Circuit breaker of the store: 1 for the current state',
    labelNames: ['state'],
    registers,
    collect() {
      for (const state of BREAKER_STATES) this.set({ state }, stats.breaker === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'trpc_caching_store_latency_seconds',
    help: 'Store call latency percentiles over recent calls, by operation',
    labelNames: ['operation', 'quantile'],
    registers,
    collect() {
      for (const [operation, summary] of Object.entries(stats.storeLatency)) {
        if (summary.count === 0) continue;
        this.set({ operation, quantile: '0.5' }, summary.p50 / 1000);
        this.set({ operation, quantile: '0.95' }, summary.p95 / 1000);
        this.set({ operation, quantile: '0.99' }, summary.p99 / 1000);
      }
    },
  });

  new Counter({
    name: 'trpc_caching_audit_checks_total',
    help: 'Hits the consistency auditor sampled, by outcome (diverged: served data its resolver no longer returns)',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      const { checks, discarded, divergences, skipped } = stats.audit;
      this.inc({ outcome: 'agreed' }, checks - discarded - divergences);
      this.inc({ outcome: 'diverged' }, divergences);
      this.inc({ outcome: 'discarded' }, discarded);
      this.inc({ outcome: 'skipped' }, skipped);
    },
  });
  new Counter({
    name: 'trpc_caching_audit_path_divergences_total',
    help: 'Divergences by procedure path: an invalidation is missing (docs/consistency.md)',
    labelNames: ['path'],
    registers,
    collect() {
      this.reset();
      for (const { path, divergences } of stats.audit.paths) if (divergences > 0) this.inc({ path }, divergences);
    },
  });

  return {
    registry,
    async scrape() {
      stats = caching.stats();
      return registry.metrics();
    },
  };
}

function statusField(status: (typeof STATUSES)[number]): 'hits' | 'misses' | 'coalesced' | 'stale' {
  return status === 'hit' ? 'hits' : status === 'miss' ? 'misses' : status;
}
