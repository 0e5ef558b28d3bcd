// Shown in docs/stores.md (Waiting for the connection).
import { createRedisStore } from 'trpc-caching/redis';

const store = createRedisStore({ url: process.env.REDIS_URL });
await store.ready().catch((error) => console.warn(error.message)); // serve anyway: uncached until Redis is up
