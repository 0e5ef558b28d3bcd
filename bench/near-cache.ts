/**
 * The near cache of `createRedisStore`, measured: a near-cache hit against an
 * in-memory-store hit (target 1.5x) and a plain Redis hit, the Redis commands
 * a hot hit sends, and how long another process's mutation takes to become
 * visible here, with a healthy tracking connection and with one that goes
 * silent (a TCP proxy that stops forwarding without closing) again and again.
 *
 * Called by bench/run.ts (its rows go to docs/benchmarks.md); `tsx bench/near-cache.ts`
 * runs it alone and prints the tables. Starts its own redis-servers on free loopback ports.
 */
import { createMemoryStore } from '../src/index.js';
import { createRedisStore, nearCacheStats } from '../src/stores/redis/index.js';
import { NearWorker, visibilityDelays } from '../test/support/procs/near-driver.js';
import { machineNow, type ReadLog, type WriteLog } from '../test/support/procs/near-worker.js';
import { type RedisServer, startRedis } from '../test/support/redis.js';
import { startTcpProxy, trackingConnection } from '../test/support/tcp-proxy.js';
import { createBenchApp, keyvOnly, storeConnected } from './apps.js';
import { INPUT } from './fixtures.js';
import { measure, percentile, roundsFromEnv } from './measure.js';
import { type ExtraRows, type InProcessResults, micros, ratio, runAlone, type Table, withRows } from './report.js';

const MAX_STALENESS = 250;
const { rounds, time } = roundsFromEnv();
const UNUSED = 'not used by the near-cache benchmark';
/** How long each staleness run mutates, in ms. */
const STALENESS_MS = Number(process.env.BENCH_NEAR_MS ?? 8_000);

/** Hit latency through createCaller: the in-memory store, Redis with a near cache, Redis without. */
async function hitLatency(redis: RedisServer) {
  const nearStore = createRedisStore({ url: redis.url, nearCache: { maxStaleness: MAX_STALENESS } });
  const plainStore = createRedisStore({ url: redis.url });
  try {
    await Promise.all([storeConnected(nearStore), storeConnected(plainStore)]);
    const apps = {
      memory: createBenchApp(keyvOnly(createMemoryStore(), UNUSED)),
      near: createBenchApp(keyvOnly(nearStore, UNUSED)),
      redis: createBenchApp(keyvOnly(plainStore, UNUSED)),
    };
    const callers = { memory: apps.memory.caller('reader'), near: apps.near.caller('reader'), redis: apps.redis.caller('reader') };
    for (const caller of Object.values(callers)) for (let i = 0; i < 3; i++) await caller.cached(INPUT);
    for (let i = 0; i < 200 && (nearCacheStats(nearStore)?.hits ?? 0) === 0; i++) {
      await callers.near.cached(INPUT);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const before = nearCacheStats(nearStore);
    const m = await measure(
      {
        memory: () => callers.memory.cached(INPUT),
        near: () => callers.near.cached(INPUT),
        redis: () => callers.redis.cached(INPUT),
      },
      { rounds, time },
    );
    const after = nearCacheStats(nearStore);
    const hits = (after?.hits ?? 0) - (before?.hits ?? 0);
    const others = (after?.loads ?? 0) + (after?.fallbacks ?? 0) - (before?.loads ?? 0) - (before?.fallbacks ?? 0);

    // Redis commands of 1 000 hot hits, then the heartbeat's PINGs over one idle second.
    await redis.resetStats();
    for (let i = 0; i < 1_000; i++) await callers.near.cached(INPUT);
    const counts = await redis.commandCounts();
    const sent = Object.entries(counts)
      .filter(([name]) => !/^(ping|config\|resetstat|info)$/.test(name))
      .reduce((sum, [, calls]) => sum + calls, 0);
    await redis.resetStats();
    const idleFrom = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const pings = (await redis.commandCounts()).ping ?? 0;
    const idle = performance.now() - idleFrom;
    for (const app of Object.values(apps)) if (app.errors.length > 0) throw new Error(`cache fault: ${app.errors[0]?.message}`);
    return {
      m,
      hitShare: hits / Math.max(1, hits + others),
      commandsPerHit: sent / 1_000,
      pingsPerSecond: (pings * 1_000) / idle,
    };
  } finally {
    await Promise.all([nearStore.close(), plainStore.close()]);
  }
}

/**
 * From each mutation's return in one process to the end of the first read in another that started after it and
 * returned its value. `silentCycle`: the reader's tracking connection goes silent for the second half of every
 * `silentCycle` ms, and only mutations made while it was silent count.
 */
async function visibility(cacheUrl: string, db: RedisServer, silence?: { cycleMs: number; hold(): void; release(): void }) {
  const env = { cacheUrl, dbUrl: db.url, maxStaleness: MAX_STALENESS };
  const [writer, reader] = await Promise.all([NearWorker.spawn('writer', env), NearWorker.spawn('reader', env)]);
  try {
    // Warm both processes (their connections, the entry) before measuring.
    await Promise.all([
      writer.run({ cmd: 'write', durationMs: 300, items: 1, gapMs: 10 }),
      reader.run({ cmd: 'poll', id: 1, durationMs: 300 }),
    ]);
    const windows: Array<[number, number]> = [];
    const startedAt = machineNow();
    let ticker: ReturnType<typeof setInterval> | undefined;
    if (silence) {
      ticker = setInterval(() => {
        const silent = Math.floor((machineNow() - startedAt) / (silence.cycleMs / 2)) % 2 === 1;
        const open = windows.at(-1);
        if (silent && (open === undefined || open[1] !== Number.POSITIVE_INFINITY)) {
          silence.hold();
          windows.push([machineNow(), Number.POSITIVE_INFINITY]);
        } else if (!silent && open !== undefined && open[1] === Number.POSITIVE_INFINITY) {
          silence.release();
          open[1] = machineNow();
        }
      }, 10);
    }
    const [writes, reads] = (await Promise.all([
      writer.run({ cmd: 'write', durationMs: STALENESS_MS, items: 1, gapMs: 10 }),
      reader.run({ cmd: 'poll', id: 1, durationMs: STALENESS_MS + MAX_STALENESS * 2 }),
    ])) as [WriteLog, ReadLog];
    if (ticker) clearInterval(ticker);
    silence?.release();
    const counted: WriteLog =
      windows.length === 0
        ? writes
        : (() => {
            const keep = writes.returnedAt.map((at) => windows.some(([from, to]) => at >= from && at < to));
            const pick = <T>(column: T[]) => column.filter((_, i) => keep[i]);
            return {
              ids: pick(writes.ids),
              values: pick(writes.values),
              returnedAt: pick(writes.returnedAt),
              ownReads: pick(writes.ownReads),
            };
          })();
    const delays = visibilityDelays(reads, counted, 1);
    const status = await reader.run({ cmd: 'status' });
    return { delays, mutations: counted.ids.length, near: status.near, windows: windows.length };
  } finally {
    writer.kill();
    reader.kill();
  }
}

/** Runs everything and returns the rows for docs/benchmarks.md. */
export async function nearCacheResults(): Promise<ExtraRows> {
  const [redis, db] = await Promise.all([startRedis(), startRedis()]);
  const proxy = await startTcpProxy(redis.port);
  try {
    const hit = await hitLatency(redis);
    const healthy = await visibility(redis.url, db);
    const silent = await visibility(proxy.url, db, {
      cycleMs: 2_000,
      hold: () => proxy.blackhole(trackingConnection),
      release: () => proxy.forward(),
    });
    const near = hit.m.near?.median ?? Number.NaN;
    const memory = hit.m.memory?.median ?? Number.NaN;
    const redisHit = hit.m.redis?.median ?? Number.NaN;
    const ms = (value: number) => (value >= 10 ? value.toFixed(0) : value.toFixed(2));
    const spread = (label: string, run: Awaited<ReturnType<typeof visibility>>) => [
      label,
      String(run.delays.length),
      ms(percentile(run.delays, 50)),
      ms(percentile(run.delays, 99)),
      ms(Math.max(...run.delays)),
      String(run.near?.hits ?? 0),
      String(run.near?.fallbacks ?? 0),
    ];
    const tables: Table[] = [
      {
        title: `Near cache hit (createRedisStore({ url, nearCache: { maxStaleness: ${MAX_STALENESS} } })), createCaller, median of ${rounds} rounds`,
        columns: ['procedure', 'median µs', 'x in-memory hit', 'spread', 'Redis commands per call'],
        rows: [
          ['trpc-caching hit, in-memory store', micros(memory), ratio(1), `±${Math.round((hit.m.memory?.spread ?? 0) * 50)}%`, '0'],
          [
            'trpc-caching hit, Redis + near cache',
            micros(near),
            ratio(near / memory),
            `±${Math.round((hit.m.near?.spread ?? 0) * 50)}%`,
            `${hit.commandsPerHit} (heartbeat: ${hit.pingsPerSecond.toFixed(0)} PING/s per process)`,
          ],
          [
            'trpc-caching hit, Redis without near cache',
            micros(redisHit),
            ratio(redisHit / memory),
            `±${Math.round((hit.m.redis?.spread ?? 0) * 50)}%`,
            '1 MGET',
          ],
        ],
        note: `${(hit.hitShare * 100).toFixed(1)}% of the near-cache calls measured were answered from memory.`,
      },
      {
        title: `Cross-process staleness: ms from a mutation's return to the end of the first read in another process that returns it (maxStaleness ${MAX_STALENESS})`,
        columns: ['tracking connection', 'mutations', 'p50 ms', 'p99 ms', 'max ms', 'reader near hits', 'reader fallbacks'],
        rows: [spread('healthy', healthy), spread(`silenced by a proxy (no FIN/RST) 1 s in every 2 s; mutations while silent`, silent)],
        note: 'The reader polls one item as fast as it can; each delay includes the read that found the new value. While its tracking connection is silent, copies are served until the last answered heartbeat is maxStaleness old, then Redis is read.',
      },
    ];
    const silentMax = Math.max(...silent.delays);
    return {
      tables,
      targets: [
        { goal: 'near-cache hit at most 1.5x an in-memory-store hit', measured: ratio(near / memory), met: near <= 1.5 * memory },
        { goal: 'near-cache hot hit: no Redis command', measured: String(hit.commandsPerHit), met: hit.commandsPerHit === 0 },
        {
          goal: `another process's mutation visible within maxStaleness (${MAX_STALENESS} ms), tracking connection silenced`,
          measured: `max ${ms(silentMax)} ms`,
          met: silentMax <= MAX_STALENESS,
        },
      ],
      headline: {
        nearHit: micros(near),
        nearHitX: ratio(near / memory),
        nearVsRedisHit: ratio(near / redisHit),
        nearStalenessHealthyP99: ms(percentile(healthy.delays, 99)),
        nearStalenessSilentMax: ms(silentMax),
      },
    };
  } finally {
    await proxy.close();
    await Promise.all([redis.dispose(), db.dispose()]);
  }
}

/** Adds the near-cache tables and targets to bench/run.ts's results. */
export async function withNearCacheRows(results: InProcessResults): Promise<InProcessResults> {
  return withRows(results, await nearCacheResults());
}

await runAlone(import.meta.url, nearCacheResults);
