// The cache of the example: in memory by default, Redis when REDIS_URL (or the redisUrl option) is set.
import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { type Caching, createCaching } from 'trpc-caching';
import type { Context } from './trpc.js';

/** Options of {@link createAppCaching}. */
export interface AppCachingOptions {
  /** A Redis URL (`redis://host:port`); default `REDIS_URL` from the environment; none: the in-memory store. */
  redisUrl?: string | undefined;
  /** Time bound of a store call in ms; default trpc-caching's (100). */
  timeout?: number | undefined;
}

/** A caching instance and how to release its store. */
export interface AppCaching {
  caching: Caching<Context>;
  /** `memory` or the Redis URL, for the startup banner. */
  storeName: string;
  close(): Promise<void>;
}

/** The URL to print: a password in it stays out of logs. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis';
  }
}

/** Creates the caching instance the router's builders come from. */
export async function createAppCaching(options: AppCachingOptions = {}): Promise<AppCaching> {
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
  const redis = redisUrl ? new KeyvRedis(redisUrl) : undefined;
  if (redis !== undefined && !(await connects(redis))) {
    console.warn(`[example] Redis at ${withoutPassword(redisUrl ?? '')} is not reachable yet; the API runs uncached until it is.`);
  }
  // namespace '': trpc-caching prefixes every key itself (`trpc-caching:...`).
  const store = redis ? new Keyv({ store: redis, namespace: '' }) : undefined;
  const caching = createCaching<Context>({
    user: (ctx) => ctx.user?.id,
    ttl: 5 * 60_000,
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(store ? { store } : {}),
  });
  return {
    caching,
    storeName: redisUrl ? withoutPassword(redisUrl) : 'memory',
    async close() {
      caching.close();
      await store?.disconnect();
    },
  };
}

/**
 * Connects now rather than on the first request, whose store call would otherwise pay for the
 * connection and could exceed the cache's time bound (the cache then bypasses the store, by design).
 */
async function connects(redis: KeyvRedis<unknown>, withinMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), withinMs);
  });
  try {
    return await Promise.race([
      redis.getClient().then(
        () => true,
        () => false,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
