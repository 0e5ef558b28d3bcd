import type { Keyv } from 'keyv';
import type { StoreCapabilities } from '../engine/store.js';

export type { Leases, NodeHealthState, PubSub, RollbackGuard, StoreCapabilities } from '../engine/store.js';

/**
 * Marks an error as a node's fault: a property of the error. A registered symbol, because the error is made by
 * `trpc-caching/redis` and read by the root entry's guard, which may be the other module system's copy (see
 * CAPABILITIES below).
 */
const NODE_FAULT = Symbol.for('trpc-caching.node-fault');

/**
 * An error that concerns one node of a store made of several: the store guard reports it but does not count it
 * towards the breaker of the whole store (the store keeps a breaker per node). `skipped`: the call was not sent.
 *
 * @example
 * ```ts
 * throw nodeFault('Redis Cluster node 10.0.0.1:6379 is skipped');
 * ```
 */
export function nodeFault(message: string, cause?: unknown, skipped = false): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  Object.defineProperty(error, NODE_FAULT, { value: skipped ? 'skipped' : 'failed' });
  return error;
}

/**
 * Whether an error is a {@link nodeFault}.
 *
 * @example
 * ```ts
 * if (!isNodeFault(error)) failures++;
 * ```
 */
export function isNodeFault(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [NODE_FAULT]?: string })[NODE_FAULT] !== undefined;
}

/**
 * Whether an error is a {@link nodeFault} made with `skipped`: the call never reached the node (its breaker is open, or
 * its slots wait for a failover's move). Like calls skipped by the store-wide breaker, it is not reported again.
 *
 * @example
 * ```ts
 * if (!isSkippedByNode(error)) report(error);
 * ```
 */
export function isSkippedByNode(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [NODE_FAULT]?: string })[NODE_FAULT] === 'skipped';
}

/**
 * Where a Keyv made by a trpc-caching store factory carries what it offers: a property of the Keyv itself, so a store
 * that goes away takes it along, and no registry is kept anywhere. A registered symbol, not a module-private one: an
 * app that loads `trpc-caching/redis` through `require` and `trpc-caching` through `import` (or the other way round)
 * gets one copy of this module per module system, and the engine of one must still see what the other's factory made.
 */
const CAPABILITIES: unique symbol = Symbol.for('trpc-caching.store-capabilities');

/** Records what a Keyv made by a trpc-caching store factory offers. */
export function registerCapabilities(keyv: Keyv, capabilities: StoreCapabilities): void {
  Object.defineProperty(keyv, CAPABILITIES, { value: capabilities, configurable: true });
}

/** What a Keyv offers; empty for any Keyv no trpc-caching factory made. */
export function capabilitiesOf(keyv: Keyv): StoreCapabilities {
  return (keyv as { [CAPABILITIES]?: StoreCapabilities })[CAPABILITIES] ?? NONE;
}

const NONE: StoreCapabilities = {};
