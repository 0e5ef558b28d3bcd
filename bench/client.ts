/**
 * `npx tsx bench/client.ts`: how long after a mutation returns another user's open page has refetched what it
 * moved, on loopback. Bob renames alice's post; alice's page (a TanStack Query cache with `invalidationLink` and
 * the live stream over SSE) holds that post. Two measures per round, from the moment bob's `mutate()` resolves:
 * until alice's link applied the move (her `onInvalidate`), and until her query holds the new title (the refetch
 * answered). Negative values mean alice got there first: the move is published before bob's response is sent.
 *
 * - memory: one server, the in-memory store; the move goes from the mutation to the stream in-process.
 * - Redis: two createCaching instances on one redis-server, each with its own HTTP server; bob calls one, alice's
 *   page is on the other, so the move crosses Redis pub/sub.
 *
 * `BENCH_CLIENT_ROUNDS` (default 200) sets the rounds per store. Client and servers share this process.
 */
import KeyvRedis from '@keyv/redis';
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import type { InvalidationEvent } from '../src/client/index.js';
import { createRawStringStore } from '../src/index.js';
import { clientApp, clientFor, seedPosts, serve, until } from '../test/client/app.js';
import { startRedis } from '../test/support/redis.js';

const ROUNDS = Number(process.env.BENCH_CLIENT_ROUNDS ?? 200);
const WARMUP = 20;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const summary = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (n: number) => `${n.toFixed(2).padStart(7)} ms`;
  return `p50 ${f(percentile(sorted, 50))}  p99 ${f(percentile(sorted, 99))}  min ${f(sorted[0] ?? Number.NaN)}  max ${f(sorted.at(-1) ?? Number.NaN)}`;
};

/** Rounds of bob's rename against alice's page; `aliceUrl` serves her page, `bobUrl` bob's mutations. */
async function measure(aliceUrl: string, bobUrl: string): Promise<{ invalidated: number[]; refetched: number[] }> {
  const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
  const abort = new AbortController();
  let invalidatedAt = 0;
  const live: unknown[] = [];
  const alice = clientFor(aliceUrl, 'alice', {
    queryClient,
    live: true,
    signal: abort.signal,
    onInvalidate: (_event: InvalidationEvent) => {
      invalidatedAt = performance.now();
    },
    onLive: (value) => live.push(value),
  });
  const trpc = createTRPCOptionsProxy({ client: alice, queryClient });
  const observer = new QueryObserver(queryClient, trpc.post.byId.queryOptions({ id: 1 }) as ConstructorParameters<typeof QueryObserver>[1]);
  let dataAt = 0;
  let data: unknown;
  observer.subscribe((result) => {
    if (result.data !== data) {
      data = result.data;
      dataAt = performance.now();
    }
  });
  await until(() => observer.getCurrentResult().isSuccess && live.length > 0, 10_000, "alice's page");
  const bob = clientFor(bobUrl, 'bob', {});
  const invalidated: number[] = [];
  const refetched: number[] = [];
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const title = `title ${round}`;
    invalidatedAt = 0;
    await bob.post.rename.mutate({ id: 1, title });
    const returnedAt = performance.now();
    await until(() => data === title, 10_000, `round ${round}`);
    if (round >= WARMUP) {
      invalidated.push(invalidatedAt - returnedAt);
      refetched.push(dataAt - returnedAt);
    }
  }
  abort.abort();
  queryClient.clear();
  return { invalidated, refetched };
}

async function main(): Promise<void> {
  console.log(`Client invalidation latency on loopback: ${ROUNDS} rounds per store (after ${WARMUP} of warm-up)`);
  console.log("from the return of bob's mutation to alice's page: link applied the move / query holds the new data\n");

  const memoryApp = clientApp();
  const memoryServer = await serve(memoryApp);
  const onMemory = await measure(memoryServer.url, memoryServer.url);
  await memoryServer.close();
  memoryApp.caching.close();
  console.log(`memory, one server     invalidated  ${summary(onMemory.invalidated)}`);
  console.log(`                       refetched    ${summary(onMemory.refetched)}`);

  const redis = await startRedis();
  const stores = [new KeyvRedis(redis.url), new KeyvRedis(redis.url)];
  // One database behind both instances, as behind two processes.
  const posts = seedPosts();
  const apps = stores.map((adapter) => clientApp(createRawStringStore(adapter), { posts }));
  const servers = await Promise.all(apps.map((app) => serve(app)));
  const [aliceServer, bobServer] = servers as [Awaited<ReturnType<typeof serve>>, Awaited<ReturnType<typeof serve>>];
  const onRedis = await measure(aliceServer.url, bobServer.url);
  for (const server of servers) await server.close();
  for (const app of apps) app.caching.close();
  for (const adapter of stores) await adapter.disconnect();
  await redis.dispose();
  console.log(`Redis, two instances   invalidated  ${summary(onRedis.invalidated)}`);
  console.log(`                       refetched    ${summary(onRedis.refetched)}`);
}

await main();
