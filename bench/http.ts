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
import { Agent, type IncomingMessage, request } from 'node:http';
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
import { ADAPTERS, type AdapterName, EXTRA_ROWS, type Hit, REPEATED_HEADERS, serveAdapter } from './http-adapters.js';
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

/** p50 latency in ms of `count` requests sent one at a time over one keep-alive connection. */
async function sequentialP50(url: string, headers: Record<string, string>, count = 1500): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const started = process.hrtime.bigint();
      await new Promise<void>((resolve, reject) => {
        const req = request(url, { headers, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    agent.destroy();
  }
  return median(times);
}

/**
 * Requests/s of a cached hit through each adapter, interleaved over the rounds, as a share of bare node:http
 * writing the same bytes (the standalone adapter's hit, its headers included) in the same run; then a 304 and a
 * request that always falls back, through the fast path and through the regular handler alone; and the p50 latency
 * of each, one request at a time.
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
      const served = name === 'constant' ? response.status === 200 : response.headers.get('x-cache') === 'HIT';
      if (!served || body !== hit.body) throw new Error(`${name} did not answer the same hit`);
    }
    // The extra rows: what each sends, and the status it must answer with.
    const conditional = { ...headers, 'if-none-match': hit.headers.etag ?? '' };
    const failing = path.replace('/trpc/cached', '/trpc/failing');
    const rows: Array<{ key: string; label: string; url: string; headers: Record<string, string>; status: number }> = [
      ...ADAPTERS.map(([name, label]) => ({ key: name, label, url: `http://127.0.0.1:${ports.get(name)}${path}`, headers, status: 200 })),
      ...EXTRA_ROWS.map(([key, server, label]) => ({
        key,
        label,
        url: `http://127.0.0.1:${ports.get(server)}${key.startsWith('fallback') ? failing : path}`,
        headers: key.endsWith('304') ? conditional : headers,
        status: key.endsWith('304') ? 304 : 404,
      })),
    ];
    for (const row of rows) {
      const response = await fetch(row.url, { headers: row.headers });
      await response.text();
      if (response.status !== row.status) throw new Error(`${row.key} answered ${response.status}, not ${row.status}`);
    }
    const runs: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const row of rows) {
        const result = await autocannon({ url: row.url, connections, duration, headers: row.headers });
        const expected = row.status === 200 ? 0 : row.status === 304 ? result['3xx'] : result['4xx'];
        const wrong = row.status === 200 ? result.non2xx : result['2xx'] + result.non2xx - expected;
        if (result.errors > 0 || wrong > 0)
          throw new Error(`${row.key}: ${result.errors} errors, ${wrong} responses without ${row.status}`);
        runs[row.key] = [...(runs[row.key] ?? []), result.requests.average];
      }
    }
    const p50 = new Map<string, number>();
    for (const row of rows) p50.set(row.key, await sequentialP50(row.url, row.headers));
    const perSecond = (key: string) => median(runs[key] ?? []);
    const bareRate = perSecond('bare');
    const bareP50 = p50.get('bare') ?? 1;
    return {
      title: `A cached hit per adapter, as docs/adapters.md serves it, and the fast path (${connections} connections, median of ${ROUNDS} interleaved runs of ${duration} s, ${Buffer.byteLength(hit.body)} bytes)`,
      columns: ['server', 'requests/s', 'share of bare node:http', 'x standalone constant', 'p50 ms, 1 at a time', 'x bare p50'],
      rows: rows.map((row) => [
        row.label,
        Math.round(perSecond(row.key)).toLocaleString('en-US'),
        `${((perSecond(row.key) / bareRate) * 100).toFixed(1)}%`,
        ratio(perSecond(row.key) / perSecond('constant')),
        (p50.get(row.key) ?? 0).toFixed(3),
        ratio((p50.get(row.key) ?? 0) / bareP50),
      ]),
      note:
        "Each server in a child process of its own; the bare server writes the standalone hit's body and cache headers with a Content-Length. " +
        'The fallback rows: a cached query whose resolver fails (404), never a hit: the fast path runs it hit-only, then hands it to the regular handler.',
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
