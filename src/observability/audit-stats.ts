import type { AuditEvent, AuditReason, Divergence } from '../engine/events.js';

/**
 * The auditor's counts for one procedure path, or in total, in {@link AuditStats}.
 *
 * @example
 * ```ts
 * const { checks, discarded, divergences, consistency } = caching.stats().audit;
 * console.log(`${checks} checks, ${discarded} discarded, ${divergences} divergences, consistency ${consistency}`);
 * ```
 */
export interface AuditCounts {
  /** Sampled hits whose check ran to its end: agreed, diverged or discarded. */
  readonly checks: number;
  /** Checks that reached no verdict: a version moved (the cache knew of the change), the resolver failed, … */
  readonly discarded: number;
  /** Checks whose fresh result differed from the entry served while none of its versions moved. */
  readonly divergences: number;
  /** Sampled hits not checked: breaker open, event loop late, `maxConcurrent` checks running. */
  readonly skipped: number;
  /**
   * Share of checks with a verdict whose result agreed with the entry served: `1 - divergences / (checks -
   * discarded)`, e.g. 0.9997 ("99.97% of sampled hits agreed with their source"); null before any verdict.
   */
  readonly consistency: number | null;
}

/**
 * One procedure's audit counts, with the mutations that ran before its divergences.
 *
 * @example
 * ```ts
 * for (const p of caching.stats().audit.paths) if (p.divergences > 0) console.warn(p.path, 'diverged after', p.culprits.map((c) => c.mutation));
 * ```
 */
export interface AuditPathStats extends AuditCounts {
  readonly path: string;
  /** Mutations this process ran since each divergent entry was stored, with how many divergences named each; most first. */
  readonly culprits: ReadonlyArray<{ readonly mutation: string; readonly divergences: number }>;
}

/**
 * What `caching.stats().audit` says of the consistency auditor: totals, discards by reason, and per path (paths
 * with a check or a skip, most divergences first). All zero without `audit`.
 *
 * @example
 * ```ts
 * const { consistency, paths } = caching.stats().audit;
 * if (consistency !== null) console.log(`${(consistency * 100).toFixed(2)}% of sampled hits agreed with their source`);
 * ```
 */
export interface AuditStats extends AuditCounts {
  /** Discarded and skipped checks by reason. */
  readonly reasons: Readonly<Partial<Record<AuditReason, number>>>;
  readonly paths: readonly AuditPathStats[];
}

/** Paths counted at most: beyond, a new path's checks count in the totals only. */
const MAX_PATHS = 200;
/** Mutations remembered per path. */
const MAX_CULPRITS = 20;

class Counts {
  checks = 0;
  discarded = 0;
  divergences = 0;
  skipped = 0;
  readonly culprits = new Map<string, number>();

  count(event: AuditEvent | Divergence): void {
    if (event.outcome === 'skipped') {
      this.skipped++;
      return;
    }
    this.checks++;
    if (event.outcome === 'discarded') this.discarded++;
    else if (event.outcome === 'diverged') {
      this.divergences++;
      for (const mutation of (event as Divergence).mutations) {
        if (this.culprits.size < MAX_CULPRITS || this.culprits.has(mutation))
          this.culprits.set(mutation, (this.culprits.get(mutation) ?? 0) + 1);
      }
    }
  }

  summary(): AuditCounts {
    const judged = this.checks - this.discarded;
    const { checks, discarded, divergences, skipped } = this;
    return { checks, discarded, divergences, skipped, consistency: judged === 0 ? null : 1 - divergences / judged };
  }
}

/** Counts the auditor's events for `caching.stats().audit`: a few increments per check, nothing per unsampled hit. */
export class AuditRecorder {
  private readonly total = new Counts();
  private readonly reasons: Partial<Record<AuditReason, number>> = {};
  private readonly paths = new Map<string, Counts>();

  onAudit(event: AuditEvent | Divergence): void {
    this.total.count(event);
    if (event.reason !== undefined) this.reasons[event.reason] = (this.reasons[event.reason] ?? 0) + 1;
    let counts = this.paths.get(event.path);
    if (counts === undefined) {
      if (this.paths.size >= MAX_PATHS) return;
      counts = new Counts();
      this.paths.set(event.path, counts);
    }
    counts.count(event);
  }

  snapshot(): AuditStats {
    const paths = [...this.paths].map(([path, counts]) => ({
      path,
      ...counts.summary(),
      culprits: [...counts.culprits].sort((a, b) => b[1] - a[1]).map(([mutation, divergences]) => ({ mutation, divergences })),
    }));
    paths.sort((a, b) => b.divergences - a.divergences || b.checks - a.checks);
    return { ...this.total.summary(), reasons: { ...this.reasons }, paths };
  }
}
