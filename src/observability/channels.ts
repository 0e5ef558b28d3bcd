import { channel } from 'node:diagnostics_channel';
import type { Divergence, InvalidateEvent, PurgeEvent, ReadEvent, StoreCallEvent } from '../engine/events.js';
import type { CachingError } from '../errors.js';

/**
 * Names of the `node:diagnostics_channel` channels every caching instance publishes on. Subscribing costs
 * nothing to install (no dependency, no option) and publishing costs one property read while nobody listens.
 * Messages carry the procedure path, the scope kind (`user`, `anon`, `public`) and durations in ms; never a
 * user id or an input.
 *
 * | channel                    | message                              | published                                          |
 * | -------------------------- | ------------------------------------ | -------------------------------------------------- |
 * | `trpc-caching:hit`         | {@link CacheReadMessage}             | a query served from the store                      |
 * | `trpc-caching:miss`        | {@link CacheReadMessage}             | a query whose resolver ran (after its result)      |
 * | `trpc-caching:coalesced`   | {@link CacheReadMessage}             | a miss that got an identical concurrent miss's result |
 * | `trpc-caching:stale`       | {@link CacheReadMessage}             | a query served stale while its entry is refreshed  |
 * | `trpc-caching:bypass`      | {@link CacheReadMessage} with reason | a query answered without the cache                 |
 * | `trpc-caching:invalidate`  | {@link CacheInvalidateMessage}       | a version move written, or left pending            |
 * | `trpc-caching:store`       | {@link CacheStoreMessage}            | every store call (read, write, invalidate)         |
 * | `trpc-caching:store-error` | {@link CacheStoreErrorMessage}       | a store fault, as `onError` is told of it          |
 * | `trpc-caching:breaker`     | {@link CacheBreakerMessage}          | the circuit breaker opens, half-opens or closes    |
 * | `trpc-caching:divergence`  | {@link CacheDivergenceMessage}       | the auditor found a hit its resolver disagrees with |
 * | `trpc-caching:purge`       | {@link CachePurgeMessage}            | an edge purge sent (first, retry, settle) or failed |
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import { cachingChannels, type CacheReadMessage } from 'trpc-caching';
 *
 * subscribe(cachingChannels.bypass, (message) => {
 *   const { path, reason } = message as CacheReadMessage;
 *   logger.warn({ path, reason }, 'cache bypassed');
 * });
 * ```
 */
export const cachingChannels = {
  hit: 'trpc-caching:hit',
  miss: 'trpc-caching:miss',
  coalesced: 'trpc-caching:coalesced',
  stale: 'trpc-caching:stale',
  bypass: 'trpc-caching:bypass',
  invalidate: 'trpc-caching:invalidate',
  store: 'trpc-caching:store',
  storeError: 'trpc-caching:store-error',
  breaker: 'trpc-caching:breaker',
  divergence: 'trpc-caching:divergence',
  purge: 'trpc-caching:purge',
} as const;

/**
 * An edge purge on `trpc-caching:purge` (createCaching's `edge`): how many surrogate keys, whether it landed,
 * which attempt, and how long it took.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.purge, (message) => {
 *   const { ok, attempt, durationMs } = message as CachePurgeMessage;
 *   if (!ok) logger.warn({ attempt, durationMs }, 'edge purge failed; it is retried');
 * });
 * ```
 */
export type CachePurgeMessage = PurgeEvent;

/**
 * A divergence on `trpc-caching:divergence`: the path, scope kind, tags, the entry's age and the mutations this
 * process ran since it was stored (docs/consistency.md). Never a user id, an input or a value.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.divergence, (message) => {
 *   const { path, mutations } = message as CacheDivergenceMessage;
 *   logger.error({ path, mutations }, 'the cache served data its source no longer agrees with');
 * });
 * ```
 */
export type CacheDivergenceMessage = Divergence;

/**
 * A query's outcome on `trpc-caching:hit`, `:miss`, `:coalesced`, `:stale` and `:bypass`.
 * `durationMs` is the time spent in the cache (a miss's resolver excluded). Subscribers must not change it.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.hit, (message) => histogram.observe((message as CacheReadMessage).durationMs));
 * ```
 */
export type CacheReadMessage = ReadEvent;

/**
 * A version move on `trpc-caching:invalidate`: `keys` version keys, `written` false when it was left pending.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.invalidate, (message) => (message as CacheInvalidateMessage).written || alert('invalidation pending'));
 * ```
 */
export type CacheInvalidateMessage = InvalidateEvent;

/**
 * One store call on `trpc-caching:store`, failed or not.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.store, (message) => {
 *   const { operation, durationMs } = message as CacheStoreMessage;
 *   storeSeconds.observe({ operation }, durationMs / 1000);
 * });
 * ```
 */
export type CacheStoreMessage = StoreCallEvent;

/**
 * A store fault on `trpc-caching:store-error`: the `CachingError` that `onError` receives (its `key` holds
 * hashed segments only), with the operation and path repeated for filters.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.storeError, (message) => console.warn((message as CacheStoreErrorMessage).error.message));
 * ```
 */
export interface CacheStoreErrorMessage {
  readonly operation: 'read' | 'write' | 'invalidate';
  readonly path: string | undefined;
  readonly error: CachingError;
}

/**
 * A change of the circuit breaker on `trpc-caching:breaker`.
 *
 * @example
 * ```ts
 * subscribe(cachingChannels.breaker, (message) => console.warn(`cache breaker ${(message as CacheBreakerMessage).state}`));
 * ```
 */
export interface CacheBreakerMessage {
  readonly state: 'closed' | 'open' | 'half-open';
}

// Created once: `hasSubscribers` on a held channel is a field read, cheap enough for every hit.
const read = {
  hit: channel(cachingChannels.hit),
  miss: channel(cachingChannels.miss),
  coalesced: channel(cachingChannels.coalesced),
  stale: channel(cachingChannels.stale),
  bypass: channel(cachingChannels.bypass),
};
const invalidate = channel(cachingChannels.invalidate);
const store = channel(cachingChannels.store);
const storeError = channel(cachingChannels.storeError);
const breaker = channel(cachingChannels.breaker);
const divergence = channel(cachingChannels.divergence);
const purge = channel(cachingChannels.purge);

/** Publishes an edge purge, if anyone listens. */
export function publishPurge(event: PurgeEvent): void {
  if (purge.hasSubscribers) purge.publish(event);
}

/** Publishes a divergence, if anyone listens. */
export function publishDivergence(event: Divergence): void {
  if (divergence.hasSubscribers) divergence.publish(event);
}

/** Publishes a read on its status's channel, if anyone listens. The event object itself is the message: no copy. */
export function publishRead(event: ReadEvent): void {
  const target = read[event.status];
  if (target.hasSubscribers) target.publish(event);
}

export function publishInvalidate(event: InvalidateEvent): void {
  if (invalidate.hasSubscribers) invalidate.publish(event);
}

export function publishStoreCall(event: StoreCallEvent): void {
  if (store.hasSubscribers) store.publish(event);
}

/** Publishes a fault of a store operation (read, write, invalidate); other faults (key, encode, config) reach onError only. */
export function publishError(error: CachingError): void {
  if (!storeError.hasSubscribers) return;
  const { operation, path } = error;
  if (operation === 'read' || operation === 'write' || operation === 'invalidate') {
    const message: CacheStoreErrorMessage = { operation, path, error };
    storeError.publish(message);
  }
}

export function publishBreaker(state: 'closed' | 'open' | 'half-open'): void {
  if (breaker.hasSubscribers) {
    const message: CacheBreakerMessage = { state };
    breaker.publish(message);
  }
}
