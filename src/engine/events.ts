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

/** One store call through the guard. */
export interface StoreCallEvent {
  readonly operation: 'read' | 'write' | 'invalidate';
  readonly ok: boolean;
  readonly durationMs: number;
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
}
