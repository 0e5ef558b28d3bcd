import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeFreshness, NearWorker } from '../../support/procs/near-driver.js';
import type { NearStatus, ReadLog, WriteLog } from '../../support/procs/near-worker.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { startTcpProxy, type TcpProxy, trackingConnection } from '../../support/tcp-proxy.js';

const MAX_STALENESS = 250;
const ITEMS = 6;
const RUN_MS = 9_000;
const MIN_WRITES = 1_000;
const MIN_JUDGED = 5_000;
const GIVE_UP_MS = 100_000;

/**
 * Three OS processes share one cache Redis, each through createRedisStore with a near cache: one
 * mutates items as fast as it can (reading each back at once), two read them on four lanes each.
 * Every connection goes through a TCP proxy the test controls, so that it can silence the near
 * caches' tracking connections without closing them.
 */
describe('near cache across processes', () => {
  let cache: RedisServer;
  let db: RedisServer;
  let proxy: TcpProxy;
  let writer: NearWorker;
  let readers: NearWorker[];

  beforeAll(async () => {
    [cache, db] = await Promise.all([startRedis(), startRedis()]);
    proxy = await startTcpProxy(cache.port);
    const env = { cacheUrl: proxy.url, dbUrl: db.url, maxStaleness: MAX_STALENESS };
    const workers = await Promise.all(['writer', 'reader-1', 'reader-2'].map((name) => NearWorker.spawn(name, env)));
    writer = workers[0] as NearWorker;
    readers = workers.slice(1);
  }, 60_000);
  afterAll(async () => {
    for (const worker of [writer, ...(readers ?? [])]) worker?.kill();
    await proxy?.close();
    await Promise.all([cache?.dispose(), db?.dispose()]);
  });

  /** Runs the writer and both readers at once for `ms`, meanwhile calling `during` with the elapsed time every 50 ms. */
  async function run(ms: number, during?: (elapsed: number) => void): Promise<{ reads: ReadLog[]; writes: WriteLog }> {
    const startedAt = Date.now();
    const ticker = during ? setInterval(() => during(Date.now() - startedAt), 50) : undefined;
    try {
      const [writes, ...reads] = await Promise.all([
        writer.run({ cmd: 'write', durationMs: ms, items: ITEMS, gapMs: 1 }),
        ...readers.map((reader) => reader.run({ cmd: 'read', durationMs: ms, lanes: 4, items: ITEMS, pauseMs: 1 })),
      ]);
      return { reads, writes: writes as WriteLog };
    } finally {
      if (ticker) clearInterval(ticker);
    }
  }
  const statuses = (): Promise<NearStatus[]> => Promise.all(readers.map((reader) => reader.run({ cmd: 'status' })));
  const delta = (after: NearStatus[], before: NearStatus[], field: 'hits' | 'fallbacks' | 'loads' | 'invalidations'): number =>
    after.reduce((sum, status, i) => sum + (status.near?.[field] ?? 0) - (before[i]?.near?.[field] ?? 0), 0);

  /** The checks both scenarios share: every judged read fresh, and this process's own writes visible at once. */
  function expectFresh(reads: ReadLog[], writes: WriteLog): ReturnType<typeof judgeFreshness> {
    const report = judgeFreshness(reads, [writes], MAX_STALENESS);
    expect(report.examples).toEqual([]);
    expect(report.stale).toBe(0);
    const ownStale = writes.ownReads.filter((value, i) => value < (writes.values[i] as number)).length;
    expect(ownStale).toBe(0);
    return report;
  }

  /**
   * Runs rounds of RUN_MS, each judged on its own, until the processes have done MIN_WRITES mutations and MIN_JUDGED
   * judged reads (a loaded machine takes more rounds; GIVE_UP_MS only ends a machine that makes no progress).
   */
  async function runEnough(during?: (elapsed: number) => void, between?: () => void) {
    const startedAt = Date.now();
    const total = { writes: 0, reads: 0, judged: 0, stale: 0, withinBound: 0 };
    do {
      between?.();
      const { reads, writes } = await run(RUN_MS, during);
      const report = expectFresh(reads, writes);
      total.writes += writes.ids.length;
      total.reads += reads.reduce((sum, log) => sum + log.ids.length, 0);
      total.judged += report.judged;
      total.stale += report.stale;
      total.withinBound += report.withinBound;
    } while ((total.writes <= MIN_WRITES || total.judged <= MIN_JUDGED) && Date.now() - startedAt < GIVE_UP_MS);
    return total;
  }

  it('serves hot reads from memory while every read started more than maxStaleness after a mutation elsewhere returned is fresh', async () => {
    const before = await statuses();
    const total = await runEnough();
    const after = await statuses();
    const hits = delta(after, before, 'hits');
    console.log(
      `healthy: ${total.writes} mutations, ${total.reads} reads (${total.judged} judged, ${total.stale} stale, ${total.withinBound} older than a mutation less than ${MAX_STALENESS} ms old), ` +
        `near hits ${hits}, loads ${delta(after, before, 'loads')}, fallbacks ${delta(after, before, 'fallbacks')}, invalidations ${delta(after, before, 'invalidations')}`,
    );
    expect(total.writes).toBeGreaterThan(MIN_WRITES);
    expect(total.judged).toBeGreaterThan(MIN_JUDGED);
    // The near cache did serve: without it this would prove nothing about it.
    expect(hits).toBeGreaterThan(1_000);
    expect(delta(after, before, 'invalidations')).toBeGreaterThan(1_000);
  }, 180_000);

  it('stays within maxStaleness when the tracking connections go silent without closing, again and again', async () => {
    const before = await statuses();
    const holds: number[] = [];
    // 1.5 s healthy, 1.5 s silent, over and over: each onset of silence finds copies hot and mutations arriving.
    const heal = () => {
      proxy.forward();
      if (holds.length % 2 === 1) holds.push(0);
    };
    const total = await runEnough((elapsed) => {
      const silent = Math.floor(elapsed / 1_500) % 2 === 1;
      if (silent && holds.length % 2 === 0) holds.push(proxy.blackhole(trackingConnection));
      else if (!silent && holds.length % 2 === 1) heal();
    }, heal);
    heal();
    const after = await statuses();
    console.log(
      `blackholed: ${total.writes} mutations, ${total.reads} reads (${total.judged} judged, ${total.stale} stale, ${total.withinBound} older than a mutation less than ${MAX_STALENESS} ms old), ` +
        `near hits ${delta(after, before, 'hits')}, fallbacks ${delta(after, before, 'fallbacks')}, tracking connections held ${holds.filter((_, i) => i % 2 === 0).join('/')}`,
    );
    expect(total.writes).toBeGreaterThan(MIN_WRITES);
    expect(total.judged).toBeGreaterThan(MIN_JUDGED);
    // Every silence held the tracking connections of all three processes (their near caches were live).
    expect(holds.filter((_, i) => i % 2 === 0).every((held) => held >= 3)).toBe(true);
    expect(holds.length).toBeGreaterThanOrEqual(4);
    expect(delta(after, before, 'fallbacks')).toBeGreaterThan(100);
    expect(delta(after, before, 'hits')).toBeGreaterThan(100);
  }, 180_000);
});
