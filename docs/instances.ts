// Shown in docs/instances.md (Several instances on one Redis).
import { createCaching } from 'trpc-caching';
import { createRedisStore } from 'trpc-caching/redis';

type Ctx = { user: { id: string } | null };

const store = createRedisStore({ url: process.env.REDIS_URL });
// or, hot hits from this process's memory: createRedisStore({ url: process.env.REDIS_URL, nearCache: { maxStaleness: 250 } });
// or: createRedisStore({ cluster: { rootNodes: [{ url: 'redis://10.0.0.1:6379' }, { url: 'redis://10.0.0.2:6379' }] }, replicaAcks: 1 });
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store, lock: true });
process.on('SIGTERM', async () => {
  await caching.flush(2_000); // pending invalidations, if any
  await store.close();
});
