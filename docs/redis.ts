// The README's Redis example, kept here so that the typecheck covers it.
import KeyvRedis, { createClient } from '@keyv/redis';
import { createCaching, createRawStringStore } from 'trpc-caching';

type Ctx = { user: { id: string } | null };

const redis = createClient({
  url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  // While disconnected, fail commands at once instead of queueing them to land late, in a burst, when Redis is back.
  disableOfflineQueue: true,
  // Reconnect in the background for ever, backing off up to 2 s; give up a connection attempt after 1 s.
  socket: { connectTimeout: 1_000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000) },
});
export const caching = createCaching<Ctx>({
  user: (ctx) => ctx.user?.id,
  // Strings as they are, expired by Redis itself: a hit parses no JSON envelope.
  store: createRawStringStore(new KeyvRedis(redis)),
});
redis.connect().catch(() => {}); // connect now, without holding up startup while Redis is down
