import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getQuery, postMutation } from '../support/apps/edge.js';
import { forkWorker } from '../support/procs/child.js';
import { freePort, type RedisServer, startRedis } from '../support/redis.js';
import { startVarnish, type VarnishServer } from '../support/varnish.js';

const WORKER = fileURLToPath(new URL('../support/procs/edge-worker.ts', import.meta.url));
const IDS = [1, 2];

// Three processes: the test's clients, API `reader` behind Varnish, API `writer` that takes the mutations; both
// APIs share one Redis (cache and data) and purge the one Varnish.
describe('several clients and processes through one Varnish', () => {
  let redis: RedisServer;
  let varnish: VarnishServer;
  const workers: ChildProcess[] = [];
  let readerUrl = '';
  let writerUrl = '';

  beforeAll(async () => {
    redis = await startRedis();
    const varnishPort = await freePort();
    const env = { EDGE_REDIS_URL: redis.url, EDGE_PURGE_URL: `http://127.0.0.1:${varnishPort}/`, EDGE_SETTLE: '1000' };
    const ready = (m: unknown): m is { port: number } => typeof (m as { port?: unknown }).port === 'number';
    const reader = await forkWorker(WORKER, { label: 'edge reader', env, ready });
    const writer = await forkWorker(WORKER, { label: 'edge writer', env, ready });
    workers.push(reader.child, writer.child);
    readerUrl = `http://127.0.0.1:${reader.ready.port}`;
    writerUrl = `http://127.0.0.1:${writer.ready.port}`;
    varnish = await startVarnish(reader.ready.port, { port: varnishPort });
  }, 60_000);

  afterAll(async () => {
    for (const child of workers) child.kill();
    await varnish?.stop();
    await redis?.dispose();
  });

  it('counts no stale read through the edge once a mutation has returned, and most reads are edge hits', async () => {
    const returned = new Map<number, Array<{ value: number; at: number }>>(IDS.map((id) => [id, []]));
    let reads = 0;
    let hits = 0;
    const stale: string[] = [];
    let next = 0;
    let done = false;

    const mutator = async () => {
      for (let round = 0; round < 20; round++) {
        const id = IDS[round % IDS.length] as number;
        const value = ++next;
        // Alternate the process that takes the mutation: the reader's own, and another one.
        await postMutation(round % 2 === 0 ? writerUrl : readerUrl, 'post.rename', { id, title: `v${value}` });
        returned.get(id)?.push({ value, at: performance.now() });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      done = true;
    };
    const readerLoop = async (seed: number) => {
      let i = seed;
      while (!done) {
        const id = IDS[i++ % IDS.length] as number;
        const sentAt = performance.now();
        const { data, headers } = await getQuery(varnish.url, 'post.byId', { id });
        reads++;
        if (headers.get('x-edge') === 'HIT') hits++;
        const seen = Number((data as { title: string }).title.slice(1));
        const latest = (returned.get(id) ?? []).filter((m) => m.at < sentAt).at(-1);
        if (latest !== undefined && seen < latest.value) stale.push(`id ${id}: read v${seen} after v${latest.value} returned`);
      }
    };
    await Promise.all([mutator(), ...[0, 1, 2, 3].map(readerLoop)]);
    console.log(`edge fleet: ${reads} reads, ${hits} edge hits, ${stale.length} stale`);
    const summary = `${reads} reads, ${hits} edge hits, ${next} mutations`;
    expect(stale, summary).toEqual([]);
    expect(reads, summary).toBeGreaterThan(100);
    expect(hits, summary).toBeGreaterThan(reads / 2);
  }, 60_000);
});
