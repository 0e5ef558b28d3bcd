import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { CounterDb, type CounterRouter, createCounterApp } from '../support/apps/counter.js';
import { fileRedis } from '../support/redis-file.js';
import { destroyStore, readyRedisStore } from '../support/redis-store.js';

/** Bounds of the run: whichever comes first ends it, once at least MIN_REQUESTS were made. Loopback only. */
const REQUESTS = 6_000;
const TIME_CAP_MS = 40_000;
/** Work the run does however long a loaded machine takes (the time cap does not cut it short). */
const MIN_REQUESTS = REQUESTS / 10;
const CLIENTS = 50;
/** Two clients per user, so that one client's write must be seen by the other's next read. */
const USERS = CLIENTS / 2;
const NAMES = ['inbox', 'drafts', 'sent'];

/** A small seeded generator, so that a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

/** A full garbage collection, so that heap figures count what is still referenced, not what awaits collection. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const redis = fileRedis();

describe('soak over HTTP with a Redis store', () => {
  it(`serves ${REQUESTS} mixed reads and writes from ${CLIENTS} concurrent clients without an error or a stale read`, async () => {
    const db = new CounterDb();
    const store = await readyRedisStore(redis.url);
    // The clients share the server's process and its two cores, so the event loop lags far more than a server's
    // would: a 1 s bound keeps that lag from passing for a slow Redis. Faults, if any, are counted, not fatal.
    const app = createCounterApp(db, store, { timeout: 1_000 });
    const server = createHTTPServer({
      router: app.router,
      createContext: ({ req }) => {
        const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        return { user: match?.[1] ? { id: match[1] } : null };
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const clientFor = (user: string): TRPCClient<CounterRouter> =>
      createTRPCClient<CounterRouter>({
        links: [httpLink({ url, transformer: superjson, headers: { authorization: `Bearer ${user}` } })],
      });
    const clients = Array.from({ length: CLIENTS }, (_, i) => ({ user: `user${i % USERS}`, trpc: clientFor(`user${i % USERS}`) }));

    // Per counter, the highest value a finished write returned: a read that starts later must not be below it.
    const committed = new Map<string, number>();
    let committedTotal = 0;
    const latencies: number[] = [];
    const failures: string[] = [];
    let stale = 0;
    let reads = 0;
    let writes = 0;
    let issued = 0;

    // Warm up connections and the JIT, then measure memory from a settled start.
    await Promise.all(clients.map((client) => client.trpc.counter.get.query({ name: 'inbox' })));
    collectGarbage();
    const memoryBefore = process.memoryUsage();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = Date.now() + TIME_CAP_MS;

    const loop = async (client: (typeof clients)[number], seed: number): Promise<void> => {
      const next = random(seed);
      while (issued < REQUESTS && (Date.now() < deadline || issued < MIN_REQUESTS)) {
        issued++;
        const roll = next();
        const name = NAMES[Math.floor(next() * NAMES.length)] ?? 'inbox';
        const key = `${client.user}/${name}`;
        const begin = performance.now();
        try {
          if (roll < 0.15) {
            writes++;
            const answer = await client.trpc.counter.bump.mutate({ name });
            if (answer.user !== client.user) failures.push(`write answered for ${answer.user}, not ${client.user}`);
            committed.set(key, Math.max(committed.get(key) ?? 0, answer.value));
            committedTotal++;
          } else if (roll < 0.2) {
            reads++;
            const floor = committedTotal;
            const answer = await client.trpc.board.query();
            if (answer.total < floor) stale++;
          } else {
            reads++;
            const floor = committed.get(key) ?? 0;
            const answer = await client.trpc.counter.get.query({ name });
            if (answer.user !== client.user) failures.push(`read answered for ${answer.user}, not ${client.user}`);
            if (answer.value < floor) stale++;
          }
        } catch (error) {
          // The cause chain says whether the cache or the transport failed (fetch wraps the socket's error).
          const causes: string[] = [];
          for (let cause: unknown = error; cause instanceof Error && causes.length < 4; cause = cause.cause) causes.push(String(cause));
          failures.push(causes.join(' <- '));
        }
        latencies.push(performance.now() - begin);
      }
    };
    await Promise.all(clients.map((client, i) => loop(client, 1 + i)));

    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    collectGarbage();
    const memoryAfter = process.memoryUsage();
    latencies.sort((a, b) => a - b);
    const resolverRuns = (db.runs['counter.get'] ?? 0) + (db.runs.board ?? 0);
    const figures = {
      requests: latencies.length,
      'reads / writes': `${reads} / ${writes}`,
      'time (s)': seconds.toFixed(1),
      'requests/s': Math.round(latencies.length / seconds),
      'p50 latency (ms)': percentile(latencies, 50).toFixed(2),
      'p99 latency (ms)': percentile(latencies, 99).toFixed(2),
      'cache hit ratio': `${(100 * (1 - resolverRuns / (reads + CLIENTS))).toFixed(1)}%`,
      'CPU per request (ms)': ((cpu.user + cpu.system) / 1000 / latencies.length).toFixed(2),
      errors: failures.length,
      'stale reads': stale,
      'cache faults (onError)': app.errors.length + (app.errors[0] ? ` (first: ${app.errors[0].message})` : ''),
      'RSS before / after (MB)': `${mb(memoryBefore.rss)} / ${mb(memoryAfter.rss)}`,
      'heap after GC, before / after (MB)': `${mb(memoryBefore.heapUsed)} / ${mb(memoryAfter.heapUsed)}`,
    };
    console.log(
      `\nsoak: ${CLIENTS} clients, ${USERS} users, Redis store, loopback\n${Object.entries(figures)
        .map(([what, value]) => `  ${what.padEnd(36)} ${value}`)
        .join('\n')}\n`,
    );

    server.close();
    app.caching.close();
    await destroyStore(store);

    expect(failures.slice(0, 5)).toEqual([]);
    expect(stale).toBe(0);
    // The run did real work, and the cache served a good share of the reads.
    expect(latencies.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(resolverRuns).toBeLessThan(reads);
  }, 90_000);
});
