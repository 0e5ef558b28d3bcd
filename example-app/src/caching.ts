// The cache of the example: in memory by default; one Redis with a near cache when REDIS_URL (or the redisUrl
// option) is set; a Redis Cluster when REDIS_CLUSTER_NODES (comma-separated URLs, or the clusterNodes option) is.
import { type Caching, createCaching } from 'trpc-caching';
import { createEdge, type Edge, varnishPurger } from 'trpc-caching/http';
import { createRedisStore, type RedisStore } from 'trpc-caching/redis';
import type { Context } from './trpc.js';
import { withoutPassword } from './urls.js';

/** Options of {@link createAppCaching}. */
export interface AppCachingOptions {
  /** A Redis URL (`redis://host:port`); default `REDIS_URL` from the environment; none: the in-memory store. */
  redisUrl?: string | undefined;
  /** URLs of some nodes of a Redis Cluster, comma-separated; default `REDIS_CLUSTER_NODES`; wins over `redisUrl`. */
  clusterNodes?: string | undefined;
  /** Time bound of a store call in ms; default trpc-caching's (100). */
  timeout?: number | undefined;
  /**
   * Share of hits the consistency auditor checks against their resolver (0 to 1); default `AUDIT_SAMPLE_RATE` from
   * the environment; none: no auditor. Divergences are logged and counted on /metrics (docs/consistency.md).
   */
  auditSampleRate?: number | undefined;
  /**
   * Where the Varnish in front of the app takes purges (`http://127.0.0.1:6081/`); default `EDGE_PURGE_URL` from the
   * environment; none: no edge. `npm run example:edge` sets it (docs/edge.md).
   */
  edgePurgeUrl?: string | undefined;
}

/** A caching instance and how to release its store. */
export interface AppCaching {
  caching: Caching<Context>;
  /** The edge public answers are purged from, when the app runs behind Varnish. */
  edge: Edge | undefined;
  /** `memory`, the Redis URL or the Cluster's nodes, for the startup banner. */
  storeName: string;
  close(): Promise<void>;
}

/** The store the environment asks for, and its name for the banner; undefined: the in-memory default. */
function openStore(options: AppCachingOptions): { store: RedisStore; name: string } | undefined {
  const clusterNodes = (options.clusterNodes ?? process.env.REDIS_CLUSTER_NODES ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (clusterNodes.length > 0) {
    // The Cluster client finds every node from these, follows MOVED/ASK and refreshes its slot map after a reshard.
    const store = createRedisStore({ cluster: { rootNodes: clusterNodes.map((url) => ({ url })) } });
    return { store, name: `Redis Cluster at ${clusterNodes.map((url) => withoutPassword(url, 'redis')).join(', ')}` };
  }
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
  if (!redisUrl) return undefined;
  // Hot hits from process memory; another instance's mutation shows here within 250 ms, this one's at once.
  const store = createRedisStore({ url: redisUrl, nearCache: { maxStaleness: 250 } });
  return { store, name: withoutPassword(redisUrl, 'redis') };
}

/** Creates the caching instance the router's builders come from. */
export async function createAppCaching(options: AppCachingOptions = {}): Promise<AppCaching> {
  const opened = openStore(options);
  // The store connects in the background; until it is up, requests run uncached. Wait for it, briefly.
  await opened?.store.ready({ timeout: 2_000 }).catch((error: Error) => {
    console.warn(`[example] ${error.message}; the API runs uncached until it is reachable.`);
  });
  const sampleRate = options.auditSampleRate ?? (process.env.AUDIT_SAMPLE_RATE ? Number(process.env.AUDIT_SAMPLE_RATE) : undefined);
  const edgePurgeUrl = options.edgePurgeUrl ?? process.env.EDGE_PURGE_URL;
  // Behind Varnish: public answers carry xkey surrogate keys, and each mutation purges them before it returns.
  const edge = edgePurgeUrl ? createEdge({ header: 'xkey', purger: varnishPurger({ url: edgePurgeUrl }) }) : undefined;
  const caching = createCaching<Context>({
    user: (ctx) => ctx.user?.id,
    ttl: 5 * 60_000,
    ...(sampleRate === undefined ? {} : { audit: { sampleRate, onDivergence: 'log' } }),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(opened ? { store: opened.store } : {}),
    ...(edge ? { edge } : {}),
  });
  return {
    caching,
    edge,
    storeName: opened?.name ?? 'memory',
    async close() {
      caching.close();
      await opened?.store.close();
    },
  };
}
