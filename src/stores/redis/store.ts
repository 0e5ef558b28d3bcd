import type { RedisClientOptions, RedisClusterOptions } from '@keyv/redis';
import { Keyv } from 'keyv';
import { CachingConfigError } from '../../errors.js';
import { checkDuration, describe } from '../../options.js';
import { type RollbackGuard, registerCapabilities } from '../capabilities.js';
import { deserialize, serialize } from '../raw-string.js';
import { RedisAdapter } from './adapter.js';
import type { BackendOptions, RedisBackend } from './backend.js';
import { clusterNodes } from './cluster.js';
import { addressOf, ConnectionWatch } from './connection.js';
import { withNearCache } from './near-backend.js';
import { attachNearCache, type NearCache } from './near-cache.js';
import { type NearCacheOptions, resolveNearCacheOptions } from './near-cache-options.js';
import { clusterReadiness, type Readiness, type ReadyOptions, serverReadiness, waitReady } from './ready.js';
import { readsChecked, singleNode } from './single.js';

/**
 * Where the store's Redis is: one server (Redis or Valkey) by URL, or a Redis Cluster by some of its nodes.
 *
 * @example
 * ```ts
 * const one: RedisConnection = { url: process.env.REDIS_URL };
 * const cluster: RedisConnection = { cluster: { rootNodes: [{ url: 'redis://10.0.0.1:6379' }], defaults: { password: 'secret' } } };
 * ```
 */
export type RedisConnection =
  | {
      /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
      readonly url: string | undefined;
      /** More `@redis/client` options (TLS files, a client name); the store's own connection options win. */
      readonly client?: RedisClientOptions;
      readonly cluster?: undefined;
    }
  | {
      /** `@redis/client`'s cluster options: at least `rootNodes`; credentials and TLS in `defaults`. */
      readonly cluster: RedisClusterOptions;
      readonly url?: undefined;
    };

/**
 * How the store connects and writes; every duration in ms.
 *
 * @example
 * ```ts
 * const settings: RedisStoreSettings = { connectTimeout: 500, replicaAcks: 1 };
 * ```
 */
export interface RedisStoreSettings {
  /**
   * Longest a connection attempt may take before it counts as failed.
   * @default 1000
   */
  readonly connectTimeout?: number;
  /**
   * Longest pause between two reconnection attempts; they start at 50 ms and double up to it, for ever.
   * @default 2000
   */
  readonly maxReconnectDelay?: number;
  /**
   * Replicas that must acknowledge a version write (Redis `WAIT`) before it counts as written. With 1 on a
   * Redis with one replica per primary, a failover never loses an invalidation: one that no replica has yet
   * stays pending in the process that made it and is written again. Set it only where every primary has
   * that many replicas: otherwise every invalidation stays pending. 0 turns it off.
   * @default 0
   */
  readonly replicaAcks?: number;
  /**
   * How long a version write waits for `replicaAcks` replicas. Keep it well under createCaching's `timeout`.
   * @default 50
   */
  readonly replicaAckTimeout?: number;
  /**
   * Cluster only: lay keys out in hash-tagged groups, so that a hit reads its entry with the user's version
   * in one slot and the shared versions in another (2 commands a hit instead of one per key; see docs/instances.md).
   * Every process that shares the Cluster must use the same layout: they would not see each other's
   * invalidations otherwise.
   * @default true
   */
  readonly hashTags?: boolean;
  /**
   * One server only: keep copies of hot keys in this process and answer hits from memory, with no
   * round trip while neither the entry nor any of its versions changed. Redis invalidates the copies
   * itself (RESP3 client tracking, on a connection of the near cache's own); this process always reads
   * its own writes, and another process's write is visible here at most `maxStaleness` ms after it
   * returned, even when that connection goes silent (docs/instances.md).
   * `true` takes the defaults; `nearCacheStats(store)` reads its counters.
   * @default undefined (no near cache: every read is one MGET)
   */
  readonly nearCache?: NearCacheOptions | true;
}

/**
 * Options of {@link createRedisStore}: where Redis is, and how the store uses it.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { cluster: { rootNodes: [{ url: 'redis://10.0.0.1:6379' }] }, replicaAcks: 1 };
 * ```
 */
export type RedisStoreOptions = RedisConnection & RedisStoreSettings;

/**
 * The Keyv that {@link createRedisStore} returns: a Keyv like any other, whose keys reach Redis exactly
 * as given, plus {@link RedisStore.ready} and {@link RedisStore.close}.
 *
 * @example
 * ```ts
 * const store: RedisStore = createRedisStore({ url: process.env.REDIS_URL });
 * await store.ready();
 * process.on('SIGTERM', () => void store.close());
 * ```
 */
export class RedisStore extends Keyv<string> {
  readonly #readiness: Readiness;

  constructor(adapter: RedisAdapter, readiness: Readiness) {
    // No namespace and no key prefix: the engine's keys are the Redis keys (the key table of docs/how-it-works.md holds).
    super({ store: adapter, namespace: '', useKeyPrefix: false, serialize, deserialize });
    this.#readiness = readiness;
  }

  /**
   * Resolves once the store's connections are up (on a Cluster: once it answers a read). The store connects in the
   * background and has no offline queue: until then every call bypasses the cache (not reported as an error).
   * Rejects with a `RedisConnectionError` naming the server when it is not up within `timeout` ms; the store
   * keeps connecting in the background either way, so an app may also start without waiting.
   *
   * @example
   * ```ts
   * const store = createRedisStore({ url: process.env.REDIS_URL });
   * await store.ready({ timeout: 10_000 }); // default 5000 ms
   * ```
   */
  ready(options?: ReadyOptions): Promise<void> {
    return waitReady(this.#readiness, options);
  }

  /** Closes every connection, after the replies to commands already sent. */
  close(): Promise<void> {
    return this.disconnect();
  }
}

const KNOWN = [
  'url',
  'client',
  'cluster',
  'connectTimeout',
  'maxReconnectDelay',
  'replicaAcks',
  'replicaAckTimeout',
  'hashTags',
  'nearCache',
];

/**
 * A Keyv on Redis, Valkey or a Redis Cluster, built for trpc-caching: pass it as
 * `createCaching({ store })`.
 *
 * - The client options production needs are built in: no offline queue (while
 *   Redis is unreachable a call fails at once instead of landing late), reconnection
 *   for ever with a capped backoff, a connect timeout, and a first connection that
 *   starts at once without holding up startup: `await store.ready()` waits for it.
 * - On one server, each outage is one `error` event, a `RedisConnectionError`
 *   naming `host:port` and the client's error, which `onError` is told of; every
 *   call that fails meanwhile says the same.
 * - Strings are stored as they are with Redis TTLs (`PX`): no Keyv envelope, no
 *   namespace; the key table of docs/how-it-works.md is what Redis holds.
 * - A hit is one MGET on one server; on a Cluster, one MGET per slot it touches,
 *   all sent at once (2 with the default hash-tag layout). The Cluster client follows
 *   `MOVED`/`ASK`, refreshes its slot map after a reshard, and after a failover.
 * - It offers leases, so `createCaching({ lock: true })` runs the resolver of a
 *   miss once across every process, not only once per process.
 *
 * Uses the Redis client `@keyv/redis` brings (`@redis/client` 5): install `@keyv/redis`.
 * Throws a {@link CachingConfigError} for a bad option.
 *
 * @example
 * ```ts
 * import { createCaching } from 'trpc-caching';
 * import { createRedisStore } from 'trpc-caching/redis';
 *
 * const store = createRedisStore({ url: process.env.REDIS_URL });
 * // or: createRedisStore({ cluster: { rootNodes: [{ url: 'redis://10.0.0.1:6379' }, { url: 'redis://10.0.0.2:6379' }] } });
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store });
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  if (typeof options !== 'object' || options === null) throw new CachingConfigError('createRedisStore', 'expected an options object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key))
      throw new CachingConfigError(`createRedisStore.${key}`, `unknown option; expected one of ${KNOWN.join(', ')}`);
  }
  const onCluster = options.cluster !== undefined;
  if (onCluster && options.url !== undefined) {
    throw new CachingConfigError('createRedisStore', 'pass either url (one server) or cluster (a Redis Cluster), not both');
  }
  const setting = <T>(name: keyof RedisStoreSettings, fallback: T): T | null => {
    const value = options[name] as T | null | undefined;
    return value === undefined ? fallback : value;
  };
  const connectTimeout = checkDuration('createRedisStore.connectTimeout', setting('connectTimeout', 1_000), { min: 1 });
  const maxReconnectDelay = checkDuration('createRedisStore.maxReconnectDelay', setting('maxReconnectDelay', 2_000), { min: 1 });
  const replicaAckTimeout = checkDuration('createRedisStore.replicaAckTimeout', setting('replicaAckTimeout', 50), { min: 1 });
  const replicaAcks = setting('replicaAcks', 0);
  if (typeof replicaAcks !== 'number' || !Number.isInteger(replicaAcks) || replicaAcks < 0) {
    throw new CachingConfigError('createRedisStore.replicaAcks', `expected a whole number of replicas >= 0, got ${describe(replicaAcks)}`);
  }
  const hashTags = setting('hashTags', true);
  if (typeof hashTags !== 'boolean')
    throw new CachingConfigError('createRedisStore.hashTags', `expected a boolean, got ${describe(hashTags)}`);
  if (onCluster && options.nearCache !== undefined) {
    throw new CachingConfigError('createRedisStore.nearCache', 'one server only: a Cluster would need a tracking connection per node');
  }
  const nearCache = options.nearCache === undefined ? undefined : resolveNearCacheOptions(options.nearCache);

  // The adapter exists before the backend so that connection errors from the first attempt reach its listeners.
  let adapter: RedisAdapter | undefined;
  const backendOptions: BackendOptions = {
    connectTimeout,
    maxReconnectDelay,
    replicaAcks,
    replicaAckTimeout,
    // Told to the Keyv's listeners; the store guard does not count them against calls (failsByRejecting below):
    // a call that meets a dead connection fails by itself, as there is no offline queue.
    onError: (error) => {
      cluster?.connectionFailed(error);
      adapter?.emit('error', error);
    },
  };
  let backend: RedisBackend;
  let cluster: ReturnType<typeof clusterReadiness> | undefined;
  let readiness: Readiness;
  let near: NearCache | undefined;
  let onNodes: ReturnType<typeof clusterNodes> | undefined;
  let rollbacks: RollbackGuard | undefined;
  if (onCluster) {
    const rootNodes = (options.cluster as { rootNodes?: unknown }).rootNodes;
    if (!Array.isArray(rootNodes) || rootNodes.length === 0) {
      throw new CachingConfigError(
        'createRedisStore.cluster.rootNodes',
        `expected a non-empty array of nodes ({ url }), got ${describe(rootNodes)}`,
      );
    }
    const address = rootNodes.map((node: { url?: unknown }) => (typeof node?.url === 'string' ? addressOf(node.url) : '?')).join(', ');
    onNodes = clusterNodes(options.cluster as RedisClusterOptions, backendOptions);
    rollbacks = onNodes.watch;
    cluster = clusterReadiness(onNodes, address);
    ({ backend, readiness } = cluster);
  } else {
    const url = options.url;
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw new CachingConfigError(
        'createRedisStore.url',
        `expected a redis:// or rediss:// URL, got ${url === undefined ? 'undefined' : describe(url)} (is REDIS_URL set?)`,
      );
    }
    // The first error of each outage, with the server's address, reaches the Keyv's listeners and the store guard's report.
    const watch = new ConnectionWatch(addressOf(url), (error) => adapter?.emit('error', error));
    const node = singleNode(url, options.client, backendOptions, watch);
    backend = node;
    // Ready once the server is identified too: reads before that bypass the cache.
    readiness = { ...serverReadiness(watch), check: () => node.readable() };
    rollbacks = node.switches;
    if (nearCache !== undefined) {
      ({ backend, near } = withNearCache(backend, url, options.client, backendOptions, nearCache));
      backend = readsChecked(backend, (strict) => node.checkReads(strict));
    }
  }
  adapter = new RedisAdapter(backend);
  const store = new RedisStore(adapter, readiness);
  if (near !== undefined) attachNearCache(store, near);
  registerCapabilities(store, {
    failsByRejecting: true,
    leases: backend.leases,
    ...(backend.pubsub === undefined ? {} : { pubsub: backend.pubsub }),
    ...(onCluster && hashTags ? { keyLayout: 'hash-tags' as const } : {}),
    // A Cluster's health per node; the failovers (a Cluster's, or a single server not the one it was) after which the
    // engine's global version is moved.
    ...(onNodes === undefined ? {} : { nodes: onNodes.nodes }),
    ...(rollbacks === undefined ? {} : { rollbacks }),
  });
  return store;
}
