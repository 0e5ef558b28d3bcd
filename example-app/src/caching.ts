// The cache of the example: in memory by default, Redis when REDIS_URL (or the redisUrl option) is set.
import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { type Caching, createCaching } from 'trpc-caching';
import type { Context } from './trpc.js';

/** Options of {@link createAppCaching}. */
export interface AppCachingOptions {
  /** A Redis URL (`redis://host:port`); default `REDIS_URL` from the environment; none: the in-memory store. */
  redisUrl?: string | undefined;
}

/** A caching instance and how to release its store. */
export interface AppCaching {
  caching: Caching<Context>;
  /** `memory` or the Redis URL, for the startup banner. */
  storeName: string;
  close(): Promise<void>;
}

/** Creates the caching instance the router's builders come from. */
export function createAppCaching(options: AppCachingOptions = {}): AppCaching {
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
  // namespace '' : trpc-caching prefixes every key itself (`trpc-caching:...`).
  const store = redisUrl ? new Keyv({ store: new KeyvRedis(redisUrl), namespace: '' }) : undefined;
  const caching = createCaching<Context>({
    user: (ctx) => ctx.user?.id,
    ttl: 5 * 60_000,
    ...(store ? { store } : {}),
  });
  return {
    caching,
    storeName: redisUrl ? redisUrl : 'memory',
    async close() {
      caching.close();
      await store?.disconnect();
    },
  };
}
