/**
 * `npm run bench:http`: requests per second through @trpc/server's
 * standalone adapter on 127.0.0.1, measured with autocannon: a cached
 * endpoint (default in-memory store, and Redis) against the same endpoint
 * returning a precomputed constant and against the uncached endpoint whose
 * query takes 5 ms. Then the same cached hit through each adapter of
 * docs/adapters.md beside bare node:http writing its bytes (bench/http-adapters.ts).
 *
 * The server runs in a child process, so that the load generator and the
 * server do not share one event loop. `BENCH_HTTP_ROUNDS` (default 5),
 * `BENCH_HTTP_DURATION` (seconds per run, default 2) and `BENCH_HTTP_CONNECTIONS`
 * (default 50) set the load.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import KeyvRedis from '@keyv/redis';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import autocannon, { type Result } from 'autocannon';
import superjson from 'superjson';
import { createCaching, createRawStringStore } from '../src/index.js';
import { startRedis } from '../test/support/redis.js';
import { authed, type BenchCtx, createT, INPUT, listInput, makeList, PAYLOAD_BYTES } from './fixtures.js';
import { ADAPTERS, type AdapterName, type Hit, REPEATED_HEADERS, serveAdapter } from './http-adapters.js';
import { type Bar, printTable, ratio, saveResults, type Table } from './report.js';

const duration = Number(process.env.BENCH_HTTP_DURATION ?? 2);
const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const SEQUENTIAL_ROUNDS = 3;

const ENDPOINTS = [
  ['constant', 'precomputed constant (the limit)'],
  ['cached', 'trpc-caching hit, in-memory store'],
  ['cachedRedis', 'trpc-caching hit, Redis'],
  ['uncached', 'uncached, 5 ms query'],
] as const;
type Endpoint = (typeof ENDPOINTS)[number][0];

/** The server side: one router with every endpoint, on a free loopback port. */
async function serve(redisUrl: string): Promise<void> {
  const t = createT();
  const base = authed(t);
  const user = (ctx: BenchCtx) => ctx.user?.id;
  let faults = 0;
  // A saturated event loop delays every store reply: with the default 100 ms timeout the guard would (rightly)
  // bypass the store under this load, and the row would measure the bypass, not a hit.
  const options = { user, timeout: 2_000, onError: () => void faults++ };
  const memory = createCaching<BenchCtx>(options);
  const onRedis = createCaching<BenchCtx>({ ...options, store: createRawStringStore(new KeyvRedis(redisUrl)) });
  process.on('message', () => process.send?.({ faults }));
  const CONSTANT = makeList(1);
  const query = async (page: number) => {
    await sleep(5);
    return makeList(page);
  };
  const router = t.router({
    constant: base.input(listInput).query(() => CONSTANT),
    cached: memory
      .cachedQuery(base)
      .input(listInput)
      .query(({ input }) => query(input.page)),
    cachedRedis: onRedis
      .cachedQuery(base)
      .input(listInput)
      .query(({ input }) => query(input.page)),
    uncached: base.input(listInput).query(({ input }) => query(input.page)),
  });
  const userOf = (req: IncomingMessage) => /^Bearer (\w+)$/.exec(req.headers.authorization ?? '')?.[1];
  const server = createHTTPServer({
    router,
    createContext: ({ req }): BenchCtx => {
      const id = userOf(req);
      return { user: id ? { id } : null };
    },
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (typeof address === 'object' && address !== null) process.send?.({ port: address.port });
  });
}

/** The load side: starts Redis and the server, then runs autocannon on each endpoint, interleaved. */
async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] ?? 0;
  const redis = await startRedis();
  let child: ChildProcess | undefined;
  try {
    child = fork(fileURLToPath(import.meta.url), ['serve', redis.url], { execArgv: process.execArgv, stdio: 'inherit' });
    const port = await new Promise<number>((resolve, reject) => {
      child?.once('message', (message: { port: number }) => resolve(message.port));
      child?.once('exit', (code) => reject(new Error(`the server exited with code ${code}`)));
    });
    const input = encodeURIComponent(JSON.stringify(superjson.serialize(INPUT)));
    const url = (endpoint: Endpoint) => `http://127.0.0.1:${port}/${endpoint}?input=${input}`;
    const headers = { authorization: 'Bearer reader' };
    for (const [endpoint] of ENDPOINTS) {
      const response = await fetch(url(endpoint), { headers });
      if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}: ${await response.text()}`);
    }
    console.log(
      `trpc-caching HTTP benchmark: ${PAYLOAD_BYTES} bytes of JSON per response, ${connections} connections, ${ROUNDS} x ${duration} s per endpoint\n`,
    );
    const load = async (clients: number, rounds: number) => {
      const runs: Record<string, Result[]> = {};
      for (let round = 0; round < rounds; round++) {
        for (const [endpoint] of ENDPOINTS) {
          const result = await autocannon({ url: url(endpoint), connections: clients, duration, headers });
          if (result.errors > 0 || result.non2xx > 0)
            throw new Error(`${endpoint}: ${result.errors} errors, ${result.non2xx} non-2xx responses`);
          runs[endpoint] = [...(runs[endpoint] ?? []), result];
        }
      }
      return runs;
    };
    const runs = await load(connections, ROUNDS);
    // One request at a time: what a single client waits for each answer.
    const sequential = await load(1, SEQUENTIAL_ROUNDS);
    const adapters = await measureAdapters(`/trpc/cached?input=${input}`, headers);
    const faults = await new Promise<number>((resolve) => {
      child?.once('message', (message: { faults: number }) => resolve(message.faults));
      child?.send('faults?');
    });
    if (faults > 0) console.warn(`the server reported ${faults} cache faults: some cached requests bypassed the store`);
    await saveResults({ http: report(runs, sequential, adapters) }, loadAtStart);
  } finally {
    child?.kill();
    await redis.dispose();
  }
}

/** Forks a child serving one adapter (the bare one with `hit`'s bytes) and resolves to it and its port. */
async function forkAdapter(name: AdapterName, hit?: Hit): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve-adapter', name], { execArgv: process.execArgv, stdio: 'inherit' });
  const port = new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`the ${name} server exited with code ${code}`)));
  });
  if (hit !== undefined) child.send(hit);
  return { child, port: await port };
}

/**
 * Requests/s of a cached hit through each adapter, interleaved over the rounds, as a share of bare node:http
 * writing the same bytes (the standalone adapter's hit, its headers included) in the same run.
 */
async function measureAdapters(path: string, headers: Record<string, string>): Promise<Table> {
  const children: ChildProcess[] = [];
  try {
    const ports = new Map<AdapterName, number>();
    for (const [name] of ADAPTERS) {
      if (name === 'bare') continue;
      const { child, port } = await forkAdapter(name);
      children.push(child);
      ports.set(name, port);
      // Warm: the first request fills the entry; every later one is a hit.
      await fetch(`http://127.0.0.1:${port}${path}`, { headers });
    }
    const sample = await fetch(`http://127.0.0.1:${ports.get('standalone')}${path}`, { headers });
    const hit: Hit = {
      body: await sample.text(),
      headers: Object.fromEntries(
        REPEATED_HEADERS.flatMap((name) => (sample.headers.has(name) ? [[name, sample.headers.get(name) ?? '']] : [])),
      ),
    };
    const bare = await forkAdapter('bare', hit);
    children.push(bare.child);
    ports.set('bare', bare.port);
    for (const [name, port] of ports) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
      const body = await response.text();
      if (response.headers.get('x-cache') !== 'HIT' || body !== hit.body) throw new Error(`${name} did not answer the same hit`);
    }
    const runs: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name] of ADAPTERS) {
        const result = await autocannon({ url: `http://127.0.0.1:${ports.get(name)}${path}`, connections, duration, headers });
        if (result.errors > 0 || result.non2xx > 0) throw new Error(`${name}: ${result.errors} errors, ${result.non2xx} non-2xx responses`);
        runs[name] = [...(runs[name] ?? []), result.requests.average];
      }
    }
    const perSecond = (name: AdapterName) => median(runs[name] ?? []);
    return {
      title: `A cached hit per adapter, as docs/adapters.md serves it (${connections} connections, median of ${ROUNDS} interleaved runs of ${duration} s, ${Buffer.byteLength(hit.body)} bytes)`,
      columns: ['server', 'requests/s', 'share of bare node:http'],
      rows: ADAPTERS.map(([name, label]) => [
        label,
        Math.round(perSecond(name)).toLocaleString('en-US'),
        `${((perSecond(name) / perSecond('bare')) * 100).toFixed(1)}%`,
      ]),
      note: "Each server in a child process of its own; the bare server writes the standalone hit's body and cache headers with a Content-Length.",
    };
  } finally {
    for (const child of children) child.kill();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Median over rounds of each endpoint's requests/s and latencies, and the spread of its requests/s. */
function report(runs: Record<string, Result[]>, sequential: Record<string, Result[]>, adapters: Table) {
  const of = (endpoint: Endpoint, pick: (result: Result) => number, from = runs) => median((from[endpoint] ?? []).map(pick));
  const perSecond = (endpoint: Endpoint) => of(endpoint, (result) => result.requests.average);
  const spread = (endpoint: Endpoint) => {
    const values = (runs[endpoint] ?? []).map((result) => result.requests.average);
    return `±${Math.round(((Math.max(...values) - Math.min(...values)) / perSecond(endpoint)) * 50)}%`;
  };
  const latency = (endpoint: Endpoint) => ({
    p50: of(endpoint, (result) => result.latency.p50),
    p99: of(endpoint, (result) => result.latency.p99),
  });
  const constant = perSecond('constant');
  const table = {
    title: `HTTP through the standalone adapter (${connections} connections, autocannon, median of ${ROUNDS} interleaved runs of ${duration} s)`,
    columns: ['endpoint', 'requests/s', 'spread', 'share of constant', 'p50 ms', 'p99 ms'],
    rows: ENDPOINTS.map(([endpoint, label]) => [
      label,
      Math.round(perSecond(endpoint)).toLocaleString('en-US'),
      spread(endpoint),
      `${((perSecond(endpoint) / constant) * 100).toFixed(0)}%`,
      String(latency(endpoint).p50),
      String(latency(endpoint).p99),
    ]),
  };
  const oneByOne = (endpoint: Endpoint) => of(endpoint, (result) => result.requests.average, sequential);
  const sequentialTable = {
    title: `One request at a time (1 connection, median of ${SEQUENTIAL_ROUNDS} runs of ${duration} s)`,
    columns: ['endpoint', 'requests/s', 'mean ms per request', 'x constant time'],
    rows: ENDPOINTS.map(([endpoint, label]) => [
      label,
      Math.round(oneByOne(endpoint)).toLocaleString('en-US'),
      (1000 / oneByOne(endpoint)).toFixed(2),
      ratio(oneByOne('constant') / oneByOne(endpoint)),
    ]),
  };
  printTable(table);
  printTable(sequentialTable);
  printTable(adapters);
  const bars: Bar[] = ENDPOINTS.map(([endpoint, label]) => ({
    group: 'http',
    label: label.replace(' (the limit)', ''),
    ratio: perSecond(endpoint) / constant,
    ours: endpoint.startsWith('cached'),
  }));
  const share = perSecond('cached') / constant;
  return {
    targets: [
      {
        goal: 'HTTP: cached endpoint at least 85% of the constant requests/s',
        measured: `${(share * 100).toFixed(0)}%`,
        met: share >= 0.85,
      },
    ],
    tables: [table, sequentialTable, adapters],
    bars,
    groups: {
      http: {
        title: 'HTTP requests/s, multiple of the constant endpoint (higher is better)',
        target: { ratio: 0.85, label: 'target 0.85x' },
      },
    },
    headline: {
      httpCachedShare: `${((perSecond('cached') / constant) * 100).toFixed(0)}%`,
      httpRedisShare: `${((perSecond('cachedRedis') / constant) * 100).toFixed(0)}%`,
      httpCachedVsUncached: ratio(perSecond('cached') / perSecond('uncached')),
      httpCached: Math.round(perSecond('cached')).toLocaleString('en-US'),
      httpConstant: Math.round(constant).toLocaleString('en-US'),
      httpUncached: Math.round(perSecond('uncached')).toLocaleString('en-US'),
      httpSequentialCachedMs: (1000 / oneByOne('cached')).toFixed(2),
      httpSequentialUncachedMs: (1000 / oneByOne('uncached')).toFixed(2),
    },
  };
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3] ?? '');
} else if (process.argv[2] === 'serve-adapter') {
  const name = process.argv[3] as AdapterName;
  // The bare server first waits for the bytes it is to write.
  const hit =
    name === 'bare' ? await new Promise<Hit>((resolve) => process.once('message', (message) => resolve(message as Hit))) : undefined;
  process.send?.({ port: await serveAdapter(name, hit) });
} else {
  await main();
  process.exit(0);
}
