import type { CachingError } from '../errors.js';
import type { Scope } from './keys.js';
import type { MoveTerms } from './move.js';

/** Why a read did not use the cache. `disabled` and `input` are decided by the framework adapter. */
export type BypassReason = 'breaker-open' | 'store-error' | 'pending-invalidation' | 'disabled' | 'input';

/** One query's outcome, told once per call. Never carries a user id or an input. */
export interface ReadEvent {
  readonly path: string;
  readonly scope: Scope['kind'];
  /**
   * `coalesced`: a follower that got a copy of an identical concurrent miss's result. `stale`: an expired entry
   * served within its procedure's stale-while-revalidate window (its background refresh is not told again).
   */
  readonly status: 'hit' | 'miss' | 'bypass' | 'coalesced' | 'stale';
  readonly reason?: BypassReason | undefined;
  /** Time spent in the cache (the resolver's time excluded on a miss), in ms. */
  readonly durationMs: number;
}

/** A version move written (or left pending). */
export interface InvalidateEvent {
  readonly path: string | undefined;
  /** Version keys moved. */
  readonly keys: number;
  readonly written: boolean;
  readonly durationMs: number;
}

/**
 * One delivery of a move to a move sink (an edge purge): the first attempt before the mutation returns, a retry of
 * one that failed, or the settle repeat. Never carries a user id or an input.
 */
export interface PurgeEvent {
  /** Surrogate keys sent (1 for a purge of everything). */
  readonly keys: number;
  readonly ok: boolean;
  /** `first`: made by the move itself; `retry`: a failed one sent again; `settle`: the repeat after the settle delay. */
  readonly attempt: 'first' | 'retry' | 'settle';
  readonly durationMs: number;
}

/** One store call through the guard. */
export interface StoreCallEvent {
  readonly operation: 'read' | 'write' | 'invalidate';
  readonly ok: boolean;
  readonly durationMs: number;
}

/** Why a sampled hit was not checked (`skipped`), or its check reached no verdict (`discarded`). */
export type AuditReason =
  /** Skipped: the store's circuit breaker is open. */
  | 'breaker-open'
  /** Skipped: the event loop runs timers later than `audit.maxLag`. */
  | 'lagging'
  /** Skipped: `audit.maxConcurrent` checks are running. */
  | 'busy'
  /** Discarded: a version the entry depends on moved (the data changed and the cache knew). */
  | 'moved'
  /** Discarded: an invalidation of this process that covers the entry is not written yet. */
  | 'pending-invalidation'
  /** Discarded: the versions could not be read again. */
  | 'store-error'
  /** Discarded: the resolver failed, or its result cannot be cached or compared. */
  | 'resolver';

/**
 * One sampled hit's check by the consistency auditor (`createCaching({ audit })`). `agreed`: the resolver, run
 * again, returned what the cache served; `diverged`: it did not, and no version the entry depends on moved
 * (see {@link Divergence}); `discarded`: no verdict; `skipped`: not checked. Never carries a user id or an input.
 */
export interface AuditEvent {
  readonly path: string;
  readonly scope: Scope['kind'];
  readonly outcome: 'agreed' | 'diverged' | 'discarded' | 'skipped';
  readonly reason?: AuditReason | undefined;
  /** How long the resolver ran again (the check's cost), in ms; 0 when skipped. */
  readonly durationMs: number;
}

/**
 * A divergence: a hit served data that its resolver no longer returns, while every version the entry depends on
 * stayed put, so no declared invalidation accounts for the change. The likely cause is a mutation that does not
 * invalidate this procedure: `mutations` names those this process ran since the entry was stored.
 *
 * @example
 * ```ts
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, audit: { onDivergence: (d) => logger.error(d, 'stale cache') } });
 * ```
 */
export interface Divergence extends AuditEvent {
  readonly outcome: 'diverged';
  /** The entry's tags, as its procedure declared them. */
  readonly tags: readonly string[];
  /** How long before the check the entry was stored, in ms (from its TTL's end); undefined for an entry that does not say. */
  readonly ageMs: number | undefined;
  /** Paths of the mutations this process ran since the entry was stored, most recent first: the likely culprits. */
  readonly mutations: readonly string[];
}

/**
 * What the engine tells observers (stats, diagnostics channels, OpenTelemetry). Each hook is
 * optional and called synchronously on the hot path: keep it cheap, never throw.
 */
export interface EngineEvents {
  onRead?(event: ReadEvent): void;
  onInvalidate?(event: InvalidateEvent): void;
  /** A move was written or left pending, in the terms readers see (scopes as key segments, never user ids). */
  onMoved?(move: MoveTerms): void;
  onStoreCall?(event: StoreCallEvent): void;
  onBreaker?(state: 'closed' | 'open' | 'half-open'): void;
  onPending?(count: number): void;
  onError?(error: CachingError): void;
  /** A move sink (an edge purger) delivered a move, or failed to. */
  onPurge?(event: PurgeEvent): void;
  /** A sampled hit was checked by the auditor (or skipped); a divergence is a {@link Divergence}. */
  onAudit?(event: AuditEvent | Divergence): void;
}
