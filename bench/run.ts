/**
 * `npm run bench`: trpc-caching against its limits and its peers, in one
 * process run, through tRPC's createCaller. Prints tables of medians and
 * ratios and writes docs/benchmarks.md and docs/benchmarks.svg.
 *
 * Needs only `npm ci` and Debian's redis-server (started on a free loopback
 * port, as the tests do). `BENCH_ROUNDS` and `BENCH_TIME` (ms per round and
 * task) trade time for precision; the defaults take about two minutes.
 */

import { loadavg } from 'node:os';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { Cacheable } from 'cacheable';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import superjson from 'superjson';
import { formatEntry } from '../src/engine/entry.js';
import { createMemoryStore, createRawStringStore } from '../src/index.js';
import { memoryStoreSize } from '../src/stores/memory.js';
import { startRedis } from '../test/support/redis.js';
import { type BenchCaller, createBenchApp } from './apps.js';
import { INPUT, makeList, PAYLOAD_BYTES } from './fixtures.js';
import { collectGarbage } from './gc.js';
import { type Measured, measure, roundsFromEnv, type Task, underLoad } from './measure.js';
import { withNearCacheRows } from './near-cache.js';
import { withRedisStoreRows } from './redis-store.js';
import { type InProcessResults, micros, printTable, ratio, saveResults } from './report.js';

const { rounds, time } = roundsFromEnv();

/** Commands Redis counted that a benchmark did not send (our own INFO and CONFIG, connection set-up). */
const HOUSEKEEPING = new Set(['config', 'info', 'hello', 'client', 'ping', 'select', 'auth']);

const loadAtStart = loadavg()[0] ?? 0;
const redis = await startRedis();
const redisClients: Array<{ disconnect(): unknown }> = [];
try {
  // --- The two sides: everything in memory, everything on one Redis. ---
  const memory = createBenchApp({
    keyv: createMemoryStore(),
    bento: new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) } }),
    cacheable: new Cacheable(),
  });
  const keyvRedis = new KeyvRedis(redis.url);
  const ioredis = new Redis(redis.port, '127.0.0.1');
  const cacheableRedis = new KeyvRedis(redis.url);
  redisClients.push(ioredis);
  const onRedis = createBenchApp({
    // As README recommends for Redis: entries stored as their own text, no Keyv JSON envelope.
    keyv: createRawStringStore(keyvRedis),
    bento: new BentoCache({ default: 'redis', stores: { redis: bentostore().useL2Layer(redisDriver({ connection: ioredis })) } }),
    cacheable: new Cacheable({ primary: new Keyv({ store: cacheableRedis }) }),
  });

  // Separate users, so that misses and mutations never invalidate the entries the hit tasks read.
  const hitUser = { memory: memory.caller('reader'), redis: onRedis.caller('reader') };
  // The same in-memory hit with stats off: what counting costs (stats are on by default).
  const noStats = createBenchApp(
    { keyv: createMemoryStore(), bento: { getOrSet: never }, cacheable: { getOrSet: never } },
    { stats: false },
  );
  const noStatsUser = noStats.caller('reader');
  await noStatsUser.cached(INPUT);
  await noStatsUser.cached(INPUT);
  const missUser = { memory: memory.caller('misser'), redis: onRedis.caller('misser') };
  const writer = { memory: memory.caller('writer'), redis: onRedis.caller('writer') };
  const warm = async (caller: BenchCaller) => {
    for (const procedure of ['cached', 'cachedDates', 'bento', 'cacheable', 'adrf', 'rawRead'] as const) {
      await caller[procedure](INPUT);
      await caller[procedure](INPUT);
    }
  };
  await warm(hitUser.memory);
  // A hot set of 2048 entries (more than the 512 decoded templates kept before templates were bounded by size).
  const spread = Array.from({ length: 2048 }, (_, i) => ({ ...INPUT, page: 10_000 + i }));
  // A miss, a hit that decodes the entry, a hit that keeps its template: the steady state of a hot set.
  for (let pass = 0; pass < 3; pass++) for (const input of spread) await hitUser.memory.cached(input);
  let next = 0;
  await warm(hitUser.redis);
  await sanityChecks(hitUser.memory, hitUser.redis);

  // The limit on Redis: one GET of the entry trpc-caching reads, with the client @keyv/redis uses.
  const entryKeys = await keyvRedis.client.keys('trpc-caching:q:cached:*');
  const entryKey = entryKeys[0];
  if (entryKeys.length !== 1 || entryKey === undefined) throw new Error(`expected one cached entry on Redis, found ${entryKeys.length}`);
  const rawGet: Task = () => keyvRedis.client.get(entryKey);
  onRedis.setRawRead(() => keyvRedis.client.get(entryKey));
  // What the Keyv boundary alone costs: the one getMany a hit makes, with the keys it reads.
  const keyvRead = createRawStringStore(new KeyvRedis(redis.url));
  const readKeys = [entryKey, 'trpc-caching:v:all', 'trpc-caching:v:s:x', 'trpc-caching:v:p:cached'];
  redisClients.push({ disconnect: () => keyvRead.disconnect() });

  let page = 1_000;
  const fresh = () => ({ ...INPUT, page: page++ });
  const tasks: Record<string, Task> = {
    'memory.constant': () => hitUser.memory.constant(INPUT),
    'memory.cached': () => hitUser.memory.cached(INPUT),
    'memory.cachedNoStats': () => noStatsUser.cached(INPUT),
    'memory.cachedDates': () => hitUser.memory.cachedDates(INPUT),
    'memory.cachedParse': () => hitUser.memory.cached(spread[next++ % spread.length] ?? INPUT),
    'memory.bento': () => hitUser.memory.bento(INPUT),
    'memory.cacheable': () => hitUser.memory.cacheable(INPUT),
    'memory.adrf': () => hitUser.memory.adrf(INPUT),
    'redis.rawGet': rawGet,
    'redis.procGet': () => hitUser.redis.rawRead(INPUT),
    'redis.keyv': () => keyvRead.getMany(readKeys),
    'redis.cached': () => hitUser.redis.cached(INPUT),
    'redis.bento': () => hitUser.redis.bento(INPUT),
    'redis.cacheable': () => hitUser.redis.cacheable(INPUT),
    'redis.adrf': () => hitUser.redis.adrf(INPUT),
    'miss.uncached': () => missUser.memory.uncached(fresh()),
    'miss.memory': () => missUser.memory.cached(fresh()),
    'miss.redis': () => missUser.redis.cached(fresh()),
    'mutation.plain': () => writer.memory.save(INPUT),
    'mutation.memory': () => writer.memory.saveInvalidating(INPUT),
    'mutation.redis': () => writer.redis.saveInvalidating(INPUT),
  };
  console.log(`trpc-caching benchmark: payload ${PAYLOAD_BYTES} bytes of JSON, ${rounds} rounds of ${time} ms per task\n`);
  const m = await measure(tasks, { rounds, time });

  // --- Redis commands per operation, from INFO commandstats. ---
  const commandsPer = async (run: () => Promise<unknown>, times = 50): Promise<string> => {
    await redis.resetStats();
    for (let i = 0; i < times; i++) await run();
    const counts = await redis.commandCounts();
    const parts = Object.entries(counts)
      .filter(([name]) => !HOUSEKEEPING.has(name.split('|')[0] ?? name))
      .map(([name, calls]) => `${Number((calls / times).toFixed(2))} ${name.toUpperCase()}`);
    return parts.length === 0 ? '0' : parts.join(' + ');
  };
  const commands = {
    rawGet: await commandsPer(rawGet),
    hit: await commandsPer(() => hitUser.redis.cached(INPUT)),
    bento: await commandsPer(() => hitUser.redis.bento(INPUT)),
    cacheable: await commandsPer(() => hitUser.redis.cacheable(INPUT)),
    adrf: await commandsPer(() => hitUser.redis.adrf(INPUT)),
    miss: await commandsPer(() => missUser.redis.cached(fresh())),
    mutation: await commandsPer(() => writer.redis.saveInvalidating(INPUT)),
  };

  // --- Latency of a hit under 100 concurrent callers. ---
  // A hit whose entry is past its TTL (1 ms) and within its window, its one refresh held in flight: every call is STALE.
  const staleUser = { memory: memory.caller('stale'), redis: onRedis.caller('stale') };
  for (const caller of Object.values(staleUser)) await caller.stale(INPUT);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const releaseRefreshes = [memory.holdRefreshes(), onRedis.holdRefreshes()];
  for (const caller of Object.values(staleUser)) await caller.stale(INPUT);
  const load = { concurrency: 100, durationMs: 1_500 };
  const loaded = {
    constant: await underLoad(tasks['memory.constant'] as Task, load),
    memory: await underLoad(tasks['memory.cached'] as Task, load),
    rawGet: await underLoad(rawGet, load),
    redis: await underLoad(tasks['redis.cached'] as Task, load),
    staleMemory: await underLoad(() => staleUser.memory.stale(INPUT), load),
    staleRedis: await underLoad(() => staleUser.redis.stale(INPUT), load),
  };
  for (const release of releaseRefreshes) release();
  // One fill and one refresh per side: otherwise the stale rows measured something else.
  if (memory.staleRuns() !== 2 || onRedis.staleRuns() !== 2) throw new Error('the stale rows did not measure one held refresh');

  const footprint = await memoryPer100k();

  const results = await withRedisStoreRows(await withNearCacheRows(tables(m, commands, loaded, footprint)));
  for (const table of results.tables) printTable(table);
  await saveResults({ inProcess: results }, loadAtStart);
  for (const app of [memory, onRedis]) {
    if (app.errors.length > 0) console.warn(`cache faults during the run: ${app.errors.map((e) => e.message).join('; ')}`);
  }
} finally {
  for (const client of redisClients) client.disconnect();
  await redis.dispose();
}
process.exit(0);

/** Checks that every variant serves the same list and that a hit is a copy a caller may change. */
async function sanityChecks(memory: BenchCaller, onRedis: BenchCaller): Promise<void> {
  const expected = JSON.stringify(await memory.constant(INPUT));
  for (const caller of [memory, onRedis]) {
    for (const procedure of ['cached', 'bento', 'cacheable', 'adrf'] as const) {
      const value = await caller[procedure](INPUT);
      if (JSON.stringify(value) !== expected) throw new Error(`${procedure} does not serve the same list as the constant procedure`);
    }
    const hit = await caller.cached(INPUT);
    const first = hit[0];
    if (first === undefined) throw new Error('empty list');
    first.title = 'changed by a caller';
    first.tags.push('changed');
    hit.pop();
    if (JSON.stringify(await caller.cached(INPUT)) !== expected) throw new Error('a caller changed what the next hit returns');
  }
}

/**
 * Heap held by the default store per 100k entries of the benchmark list, after
 * a full GC, against the size of the stored text itself.
 */
async function memoryPer100k(): Promise<{ bytesPerEntry: number; entryChars: number; entries: number }> {
  const entries = 100_000;
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  const store = createMemoryStore({ maxEntries: entries });
  const app = createBenchApp({ keyv: store, bento: { getOrSet: never }, cacheable: { getOrSet: never } });
  const users = 100;
  const callers = Array.from({ length: users }, (_, i) => app.caller(`user-${i}`));
  for (let i = 0; i < entries; i++) await callers[i % users]?.cached({ ...INPUT, page: 1 + Math.floor(i / users) });
  collectGarbage();
  const after = process.memoryUsage().heapUsed;
  if (app.errors.length > 0) throw new Error(`cache fault while filling the store: ${app.errors[0]?.message}`);
  if (memoryStoreSize(store) !== entries) throw new Error(`expected ${entries} entries, the store holds ${memoryStoreSize(store)}`);
  // The stored text: the entry header (format, etag, version tokens) and the superjson payload.
  const entryChars = formatEntry('- - -', superjson.stringify(makeList(1))).text.length;
  return { bytesPerEntry: (after - before) / entries, entryChars, entries };
}

function never(): never {
  throw new Error('not used by the memory measurement');
}

type Loaded = Awaited<ReturnType<typeof underLoad>>;

/** The tables, chart bars and headline figures of this run. */
function tables(
  m: Record<string, Measured>,
  commands: Record<'rawGet' | 'hit' | 'bento' | 'cacheable' | 'adrf' | 'miss' | 'mutation', string>,
  loaded: Record<'constant' | 'memory' | 'rawGet' | 'redis' | 'staleMemory' | 'staleRedis', Loaded>,
  footprint: { bytesPerEntry: number; entryChars: number; entries: number },
): InProcessResults {
  const at = (name: string): Measured => {
    const value = m[name];
    if (!value) throw new Error(`no measurement for ${name}`);
    return value;
  };
  const row = (label: string, name: string, base: string, ...extra: string[]) => [
    label,
    micros(at(name).median),
    ratio(at(name).median / at(base).median),
    `±${Math.round(at(name).spread * 50)}%`,
    ...extra,
  ];
  const added = (name: string, base: string) => `+${micros(at(name).median - at(base).median)}`;

  const memoryRows: Array<[string, string]> = [
    ['precomputed constant (the limit)', 'memory.constant'],
    ['trpc-caching hit', 'memory.cached'],
    ['trpc-caching hit, stats off', 'memory.cachedNoStats'],
    ['trpc-caching hit, list with Date fields', 'memory.cachedDates'],
    ['trpc-caching hit among 2048 hot entries', 'memory.cachedParse'],
    ['bentocache getOrSet (memory L1)', 'memory.bento'],
    ['cacheable getOrSet (memory)', 'memory.cacheable'],
    ['adrf-style: version, then entry', 'memory.adrf'],
  ];
  const redisRows: Array<[string, string, string]> = [
    ['raw GET of the entry (the limit)', 'redis.rawGet', commands.rawGet],
    ['the same tRPC procedure doing one raw GET', 'redis.procGet', commands.rawGet],
    ['Keyv getMany of the 4 keys a hit reads', 'redis.keyv', '1 MGET'],
    ['trpc-caching hit', 'redis.cached', commands.hit],
    ['bentocache getOrSet (Redis L2)', 'redis.bento', commands.bento],
    ['cacheable getOrSet (Redis primary)', 'redis.cacheable', commands.cacheable],
    ['adrf-style: version, then entry', 'redis.adrf', commands.adrf],
  ];
  const peers = ['memory.bento', 'memory.cacheable', 'memory.adrf'].map((name) => at(name).median);
  const fastestPeer = Math.min(...peers);
  const loadRow = (label: string, value: Loaded, base: Loaded) => [
    label,
    micros(value.p50),
    micros(value.p99),
    ratio(value.p99 / base.p99),
    Math.round(value.perSecond).toLocaleString('en-US'),
  ];
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const overhead = footprint.bytesPerEntry - footprint.entryChars;

  return {
    tables: [
      {
        title: `In-memory hit (default store), createCaller, median of ${rounds} rounds`,
        columns: ['procedure', 'median µs', 'x constant', 'spread'],
        rows: memoryRows.map(([label, name]) => row(label, name, 'memory.constant')),
        note: 'Every variant returns a fresh copy on each hit: trpc-caching copies a decoded template of a recently hit entry (templates are bounded by size: about 2 000 entries of this list), parsing an entry only when it has none, the adrf-style lookup and bentocache parse JSON, cacheable clones.',
      },
      {
        title: 'Redis hit (one redis-server on loopback)',
        columns: ['procedure', 'median µs', 'x raw GET', 'spread', 'Redis commands per call'],
        rows: redisRows.map(([label, name, count]) => row(label, name, 'redis.rawGet', count)),
      },
      {
        title: 'Miss and invalidation cost',
        columns: ['operation', 'median µs', 'x baseline', 'spread', 'added µs', 'Redis commands'],
        rows: [
          row('uncached procedure (baseline of a miss)', 'miss.uncached', 'miss.uncached', '', ''),
          row('miss, in-memory store', 'miss.memory', 'miss.uncached', added('miss.memory', 'miss.uncached'), ''),
          row('miss, Redis', 'miss.redis', 'miss.uncached', added('miss.redis', 'miss.uncached'), commands.miss),
          row('plain mutation (baseline of an invalidation)', 'mutation.plain', 'mutation.plain', '', ''),
          row(
            'invalidating mutation, in-memory store',
            'mutation.memory',
            'mutation.plain',
            added('mutation.memory', 'mutation.plain'),
            '',
          ),
          row(
            'invalidating mutation, Redis',
            'mutation.redis',
            'mutation.plain',
            added('mutation.redis', 'mutation.plain'),
            commands.mutation,
          ),
        ],
      },
      {
        title: `A hit under ${100} concurrent callers (in-process, ${1.5} s each)`,
        columns: ['procedure', 'p50 µs', 'p99 µs', 'p99 x limit', 'calls/s'],
        rows: [
          loadRow('precomputed constant', loaded.constant, loaded.constant),
          loadRow('trpc-caching hit, in-memory', loaded.memory, loaded.constant),
          loadRow('raw GET on Redis', loaded.rawGet, loaded.rawGet),
          loadRow('trpc-caching hit, Redis', loaded.redis, loaded.rawGet),
          loadRow('trpc-caching STALE hit while its entry is refreshed, in-memory', loaded.staleMemory, loaded.constant),
          loadRow('trpc-caching STALE hit while its entry is refreshed, Redis', loaded.staleRedis, loaded.rawGet),
        ],
      },
      {
        title: `Memory of the default store (maxEntries ${footprint.entries.toLocaleString('en-US')}, heap after a full GC)`,
        columns: ['entries', 'heap per entry', 'stored text per entry', 'overhead per entry', 'heap per 100k entries'],
        rows: [
          [
            footprint.entries.toLocaleString('en-US'),
            `${Math.round(footprint.bytesPerEntry)} B`,
            `${footprint.entryChars} B`,
            `${Math.round(overhead)} B`,
            mib(footprint.bytesPerEntry * 100_000),
          ],
        ],
      },
    ],
    groups: {
      memory: {
        title: 'In-memory hit: median latency, multiple of the constant procedure (lower is better)',
        target: { ratio: 2, label: 'target 2x' },
      },
      redis: {
        title: 'Redis hit: median latency, multiple of one raw GET (lower is better)',
        target: { ratio: 1.25, label: 'target 1.25x' },
      },
    },
    bars: [
      ...memoryRows.map(([label, name]) => ({
        group: 'memory',
        label: label.replace(' (the limit)', ''),
        ratio: at(name).median / at('memory.constant').median,
        ours: name.startsWith('memory.cached'),
      })),
      ...redisRows.map(([label, name]) => ({
        group: 'redis',
        label: label.replace(' (the limit)', ''),
        ratio: at(name).median / at('redis.rawGet').median,
        ours: name === 'redis.cached',
      })),
    ],
    targets: [
      {
        goal: 'in-memory hit at most 2x the constant procedure',
        measured: ratio(at('memory.cached').median / at('memory.constant').median),
        met: at('memory.cached').median <= 2 * at('memory.constant').median,
      },
      {
        goal: 'in-memory hit at most 1.3x the constant procedure (issue 20)',
        measured: ratio(at('memory.cached').median / at('memory.constant').median),
        met: at('memory.cached').median <= 1.3 * at('memory.constant').median,
      },
      {
        goal: 'in-memory hit among 2048 hot entries at most 1.6x the constant procedure (issue 20)',
        measured: ratio(at('memory.cachedParse').median / at('memory.constant').median),
        met: at('memory.cachedParse').median <= 1.6 * at('memory.constant').median,
      },
      {
        goal: 'in-memory hit no slower than the fastest peer',
        measured: `${ratio(at('memory.cached').median / fastestPeer)} the fastest peer`,
        met: at('memory.cached').median <= fastestPeer,
      },
      {
        goal: 'stats (on by default) cost the in-memory hit at most 3%',
        measured: ratio(at('memory.cached').median / at('memory.cachedNoStats').median),
        met: at('memory.cached').median <= 1.03 * at('memory.cachedNoStats').median,
      },
      { goal: 'Redis hit: exactly one store command', measured: commands.hit, met: commands.hit === '1 MGET' },
      {
        goal: 'Redis hit at most 1.25x a raw GET',
        measured: ratio(at('redis.cached').median / at('redis.rawGet').median),
        met: at('redis.cached').median <= 1.25 * at('redis.rawGet').median,
      },
    ],
    headline: {
      redisProcGetX: ratio(at('redis.procGet').median / at('redis.rawGet').median),
      redisKeyvX: ratio(at('redis.keyv').median / at('redis.rawGet').median),
      redisHitVsProcGet: ratio(at('redis.cached').median / at('redis.procGet').median),
      memoryHit: micros(at('memory.cached').median),
      memoryHitX: ratio(at('memory.cached').median / at('memory.constant').median),
      memoryStatsX: ratio(at('memory.cached').median / at('memory.cachedNoStats').median),
      memoryHitVsPeer: ratio(at('memory.cached').median / fastestPeer),
      memoryDatesX: ratio(at('memory.cachedDates').median / at('memory.constant').median),
      memoryParseX: ratio(at('memory.cachedParse').median / at('memory.constant').median),
      redisHitX: ratio(at('redis.cached').median / at('redis.rawGet').median),
      redisHitCommands: commands.hit,
      missMemoryAdded: micros(at('miss.memory').median - at('miss.uncached').median),
      missRedisAdded: micros(at('miss.redis').median - at('miss.uncached').median),
      mutationRedisAdded: micros(at('mutation.redis').median - at('mutation.plain').median),
      p99Memory: micros(loaded.memory.p99),
      p99Redis: micros(loaded.redis.p99),
      heapPer100k: mib(footprint.bytesPerEntry * 100_000),
    },
  };
}
