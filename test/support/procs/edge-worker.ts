// One API server process of the edge fleet (test/edge/fleet.test.ts): the edge app on a shared Redis (cache and
// titles), purging the fleet's Varnish. Says `{ port }` once it listens.
import { createClient } from '@redis/client';
import { varnishPurger } from 'trpc-caching/http';
import { startEdgeApp } from '../apps/edge.js';
import { readyRedisStore } from '../redis-store.js';

const redisUrl = process.env.EDGE_REDIS_URL ?? '';
const purgeUrl = process.env.EDGE_PURGE_URL ?? '';
const settle = Number(process.env.EDGE_SETTLE ?? '0');

const titles = createClient({ url: redisUrl });
titles.on('error', () => {});
await titles.connect();
const app = await startEdgeApp({
  store: await readyRedisStore(redisUrl),
  db: {
    title: async (id) => (await titles.get(`title:${id}`)) ?? 'v0',
    rename: async (id, title) => void (await titles.set(`title:${id}`, title)),
  },
  edge: { purger: varnishPurger({ url: purgeUrl }), settle },
});
process.send?.({ port: Number(new URL(app.url).port) });
process.on('disconnect', () => process.exit(0));
