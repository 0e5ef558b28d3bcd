import { afterAll, beforeAll } from 'vitest';
import { type RedisServer, startRedis } from '../redis.js';
import { Ledger, Worker } from './driver.js';
import type { StoreForm, WorkerCachingOptions } from './protocol.js';

/** Options of {@link workerCluster}. */
export interface ClusterOptions<N extends string> {
  /** Keep the cache Redis's data across a restart (AOF). Default false. */
  readonly appendonly?: boolean;
  /** Wall-clock skew per worker name, in ms. */
  readonly clockSkewMs?: Readonly<Partial<Record<N, number>>>;
}

/** Several app processes sharing one cache Redis and one database Redis, as behind a load balancer. */
export interface Cluster<N extends string> {
  /** The Redis the caches share: the one faults are injected into. */
  readonly cache: RedisServer;
  /** The Redis holding the app's data: never faulted, so every process always sees the truth. */
  readonly db: RedisServer;
  /** The workers, by the names given to {@link workerCluster}. */
  readonly workers: Readonly<Record<N, Worker>>;
  /**
   * Gives every worker (or `only` these) a fresh caching instance and store connection, empties
   * both Redis, and returns a fresh ledger. Call at the start of each scenario.
   */
  reset(form?: StoreForm, options?: WorkerCachingOptions, only?: readonly N[]): Promise<Ledger>;
}

/**
 * Starts, for one test file, a cache Redis, a database Redis and one worker
 * process per name, and stops them all afterwards. Call at the top level of a test file.
 */
export function workerCluster<const N extends string>(names: readonly N[], options: ClusterOptions<N> = {}): Cluster<N> {
  let cache: RedisServer | undefined;
  let db: RedisServer | undefined;
  // Filled in beforeAll, before any test reads it.
  const workers = {} as Record<N, Worker>;

  beforeAll(async () => {
    [cache, db] = await Promise.all([startRedis({ appendonly: options.appendonly ?? false }), startRedis()]);
    const cacheUrl = cache.url;
    const dbUrl = db.url;
    await Promise.all(
      names.map(async (name) => {
        workers[name] = await Worker.spawn(name, { cacheUrl, dbUrl, clockSkewMs: options.clockSkewMs?.[name] ?? 0 });
      }),
    );
  }, 60_000);
  afterAll(async () => {
    for (const name of names) workers[name]?.kill();
    await Promise.all([cache?.dispose(), db?.dispose()]);
  });

  const started = <T>(server: T | undefined): T => {
    if (server === undefined) throw new Error('the cluster starts in beforeAll');
    return server;
  };
  return {
    get cache() {
      return started(cache);
    },
    get db() {
      return started(db);
    },
    workers,
    async reset(form = 'raw', cachingOptions = {}, only = names) {
      // Fresh instances first: closing the old ones stops their retries, which could otherwise land after the flush.
      await Promise.all(only.map((name) => workers[name].call('configure', { store: form, options: cachingOptions })));
      await Promise.all([started(cache).command('FLUSHALL'), started(db).command('FLUSHALL')]);
      return new Ledger();
    },
  };
}
