// Shown in docs/stores.md (Redis).
import { createCaching } from 'trpc-caching';
import { createRedisStore } from 'trpc-caching/redis';

type Ctx = { user: { id: string } | null };

// Production options built in: no offline queue (while Redis is down a call fails at once instead of landing late),
// reconnection for ever with a capped backoff, a connect timeout, and a first connection that does not hold up startup.
// Strings are stored as they are, with Redis TTLs: a hit is one MGET and parses no envelope.
export const store = createRedisStore({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
// A Redis Cluster: createRedisStore({ cluster: { rootNodes: [{ url: 'redis://10.0.0.1:6379' }, { url: 'redis://10.0.0.2:6379' }] } })

export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store });
