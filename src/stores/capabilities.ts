import type { Keyv } from 'keyv';

/**
 * Leases: short locks in the store, taken with a token so that only their
 * holder gives them back. On Redis, `SET key token NX PX ttl`; a holder that
 * dies frees its lease when the TTL runs out. Every call may reject (the store
 * is down); callers treat that as "no lease" and go on without one.
 */
export interface Leases {
  /** Takes `key` for `ttl` ms unless someone holds it; resolves to whether it was taken. */
  acquire(key: string, token: string, ttl: number): Promise<boolean>;
  /** Sets the lease's TTL again, if `token` still holds it; resolves to whether it does. */
  extend(key: string, token: string, ttl: number): Promise<boolean>;
  /** Gives the lease back, if `token` still holds it. */
  release(key: string, token: string): Promise<void>;
}

/**
 * Publish/subscribe on the store's server, for the live invalidation stream across processes
 * (`caching.invalidationStream`). On Redis: `PUBLISH` on the store's connection, `SUBSCRIBE` on a dedicated one;
 * `redisPubSub(client)` in src/live/redis-pubsub.ts builds one from a `@redis/client` client.
 */
export interface PubSub {
  /** Sends a message on a channel; rejects when the server cannot be reached. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Listens on a channel until the returned function is called. `onGap` is told whenever messages may have been
   * missed (the subscriber's connection was lost and came back).
   */
  subscribe(channel: string, onMessage: (message: string) => void, onGap: () => void): Promise<() => Promise<void>>;
}

/**
 * One node of a store made of several (a Redis Cluster's primaries), as `caching.stats().storeNodes` lists it.
 *
 * @example
 * ```ts
 * for (const { node, breaker } of caching.stats().storeNodes ?? []) if (breaker !== 'closed') console.warn(`${node} is skipped`);
 * ```
 */
export interface NodeHealthState {
  /** `host:port`. */
  readonly node: string;
  /** `open`: calls for keys this node holds are skipped (they bypass the cache); `half-open`: one trial call goes through. */
  readonly breaker: 'closed' | 'open' | 'half-open';
  /** Failed calls in a row. */
  readonly failures: number;
  /** The last failure's message, while the node is failing. */
  readonly lastError?: string;
}

/**
 * A store whose data may roll back (a Redis replica promoted in a failover may lack its primary's last writes, version
 * moves among them). The engine names the keys that must change after a rollback (its global version); the store
 * writes fresh random values to them after each rollback it sees, and serves no read of the data concerned before.
 */
export interface RollbackGuard {
  /** Protects `keys` (values written with a TTL of `ttl` ms) until the returned function is called. */
  protect(keys: readonly string[], ttl: number): () => void;
}

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

/** What a store offers beyond Keyv's contract. Each member is optional: a plain Keyv offers none. */
export interface StoreCapabilities {
  /** Cross-process publish/subscribe, for the live invalidation stream. */
  readonly pubsub?: PubSub;
  /** Cross-process leases, for stampede protection (`lock`). */
  readonly leases?: Leases;
  /**
   * `hash-tags`: the store is a Redis Cluster that reads a key's entry and the versions it shares a
   * slot with in one command, so the engine lays its keys out in hash-tagged groups (see KeyFormat).
   */
  readonly keyLayout?: 'hash-tags';
  /**
   * The store's calls reject (or answer `false`) when they fail, and its `error` events are only news about its
   * connections: the guard then judges each call by its own outcome, not by events emitted while it was in flight.
   */
  readonly failsByRejecting?: true;
  /** The health of each node, for a store made of several (a Redis Cluster). */
  readonly nodes?: () => readonly NodeHealthState[];
  /** Rollbacks (failovers) the store detects, after which it moves the keys the engine names. */
  readonly rollbacks?: RollbackGuard;
}

/**
 * The registry, on `globalThis` under a registered symbol: the CommonJS build gives each subpath
 * export its own copy of this module, and `trpc-caching/redis` registers what the root entry's
 * engine reads. Keyed weakly by the Keyv, so a store that goes away takes its entry with it.
 */
const REGISTRY = Symbol.for('trpc-caching.store-capabilities');
type Holder = { [REGISTRY]?: WeakMap<Keyv, StoreCapabilities> };

function registry(): WeakMap<Keyv, StoreCapabilities> {
  const holder = globalThis as Holder;
  holder[REGISTRY] ??= new WeakMap();
  return holder[REGISTRY];
}

/** Records what a Keyv made by a trpc-caching store factory offers. */
export function registerCapabilities(keyv: Keyv, capabilities: StoreCapabilities): void {
  registry().set(keyv, capabilities);
}

/** What a Keyv offers; empty for any Keyv no trpc-caching factory made. */
export function capabilitiesOf(keyv: Keyv): StoreCapabilities {
  return registry().get(keyv) ?? NONE;
}

const NONE: StoreCapabilities = {};
