/**
 * `npm run bench:edge`: what an edge purge costs and what the edge gives, with a real Varnish (vmod xkey) in front of
 * the edge test app (test/support/apps/edge.ts) on the in-memory store, on 127.0.0.1:
 *
 * 1. purge latency: a mutation's return minus its start, with purges through Varnish against without an edge;
 * 2. the edge hit rate of a read-heavy run (four readers through Varnish, one mutation per 20 reads);
 * 3. requests/s of a public query through Varnish against straight to the API (autocannon).
 */
import autocannon from 'autocannon';
import Keyv from 'keyv';
import { createMemoryStore } from 'trpc-caching';
import { varnishPurger } from 'trpc-caching/http';
import { type EdgeApp, getQuery, memoryTitleDb, postMutation, startEdgeApp } from '../test/support/apps/edge.js';
import { freePort } from '../test/support/redis.js';
import { startVarnish } from '../test/support/varnish.js';

const MUTATIONS = 300;
const READS = 4_000;
const DURATION = 5;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function mutationTimes(app: EdgeApp): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < MUTATIONS; i++) {
    const started = performance.now();
    await postMutation(app.url, 'post.rename', { id: i % 10, title: `t${i}` });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}

const store = () => new Keyv({ store: createMemoryStore().opts.store });
const varnishPort = await freePort();
const withEdge = await startEdgeApp({
  store: store(),
  db: memoryTitleDb(),
  edge: { purger: varnishPurger({ url: `http://127.0.0.1:${varnishPort}/` }), settle: 0 },
});
// Without an edge: the same app, its purger a no-op that resolves at once (the engine's cost without the round trip).
const without = await startEdgeApp({ store: store(), db: memoryTitleDb(), edge: { purger: async () => {}, settle: 0 } });
const varnish = await startVarnish(Number(new URL(withEdge.url).port), { port: varnishPort });

try {
  // Interleaved halves, so that a noisy neighbour hits both sides alike.
  const a1 = await mutationTimes(without);
  const b1 = await mutationTimes(withEdge);
  const a2 = await mutationTimes(without);
  const b2 = await mutationTimes(withEdge);
  const plain = [...a1, ...a2].sort((x, y) => x - y);
  const purged = [...b1, ...b2].sort((x, y) => x - y);

  let reads = 0;
  let hits = 0;
  let writes = 0;
  const reader = async () => {
    while (reads < READS) {
      const n = ++reads;
      const { headers } = await getQuery(varnish.url, 'post.byId', { id: n % 10 });
      if (headers.get('x-edge') === 'HIT') hits++;
      if (n % 20 === 0) {
        writes++;
        await postMutation(withEdge.url, 'post.rename', { id: n % 10, title: `r${n}` });
      }
    }
  };
  await Promise.all([reader(), reader(), reader(), reader()]);

  const path = `/post.byId?input=${encodeURIComponent(JSON.stringify({ id: 1 }))}`;
  await getQuery(varnish.url, 'post.byId', { id: 1 });
  const direct = await autocannon({ url: `${withEdge.url}${path}`, connections: 16, duration: DURATION });
  const edge = await autocannon({ url: `${varnish.url}${path}`, connections: 16, duration: DURATION });

  const ms = (n: number) => `${n.toFixed(2)} ms`;
  console.log('\n## Edge purge latency (a mutation, start to return, sequential)\n');
  console.log('| | p50 | p99 |');
  console.log('| --- | --- | --- |');
  console.log(`| no edge (purger resolves at once) | ${ms(percentile(plain, 50))} | ${ms(percentile(plain, 99))} |`);
  console.log(`| purge through Varnish before returning | ${ms(percentile(purged, 50))} | ${ms(percentile(purged, 99))} |`);
  console.log(`| cost of the purge | ${ms(percentile(purged, 50) - percentile(plain, 50))} | |`);
  console.log(`\n## Edge hit rate: ${reads} reads through Varnish, ${writes} mutations: ${((hits / reads) * 100).toFixed(1)}% edge hits`);
  console.log(`\n## A public query, ${DURATION} s, 16 connections\n`);
  console.log('| | requests/s | p99 latency |');
  console.log('| --- | --- | --- |');
  console.log(`| straight to the API (a cache hit) | ${Math.round(direct.requests.average)} | ${direct.latency.p99} ms |`);
  console.log(`| through Varnish (an edge hit) | ${Math.round(edge.requests.average)} | ${edge.latency.p99} ms |`);
  if (direct.non2xx + edge.non2xx + direct.errors + edge.errors > 0) console.log('(some requests failed: see above)');
} finally {
  await varnish.stop();
  await withEdge.close();
  await without.close();
}
