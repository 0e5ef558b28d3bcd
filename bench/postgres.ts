/**
 * `npx tsx bench/postgres.ts`: the PostgreSQL change-stream listener (trpc-caching/postgres) on loopback, with a
 * throwaway PostgreSQL (wal_level = logical) and Redis as the cache store.
 *
 * - Commit-to-invalidation latency: single-row autocommit UPDATEs one after another, each timed from the writer
 *   sending it (so the commit's own round trip is included) until the listener's `caching.invalidate` for it
 *   returned (the versions moved in Redis), p50/p99.
 * - Sustained rate: a backlog of committed transactions written by pgbench while no listener runs, then the time a
 *   fresh listener takes to apply all of it (transactions per second it keeps up with).
 * - Cost on the app process: event-loop delay and CPU of this process over the same steady pgbench load, once with
 *   the listener following it and once without (same run, same load).
 *
 * `BENCH_PG_LATENCY_WRITES` (default 1000), `BENCH_PG_BACKLOG` (default 20000), `BENCH_PG_RATE` (writes/s of the
 * steady load, default 1000) and `BENCH_PG_SECONDS` (per cost window, default 5) set the sizes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { createCaching } from '../src/index.js';
import { createPostgresListener, type PostgresListener } from '../src/postgres/index.js';
import { startPostgres } from '../test/support/postgres.js';
import { startRedis } from '../test/support/redis.js';
import { destroyStore, readyRedisStore } from '../test/support/redis-store.js';

const LATENCY_WRITES = Number(process.env.BENCH_PG_LATENCY_WRITES ?? 1_000);
const BACKLOG = Number(process.env.BENCH_PG_BACKLOG ?? 20_000);
const RATE = Number(process.env.BENCH_PG_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_PG_SECONDS ?? 5);
const ROWS = 1_000;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

const pgbenchBin = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']
  .map((dir) => join(dir, 'pgbench'))
  .find((path) => existsSync(path));
if (pgbenchBin === undefined) throw new Error('pgbench not found (Debian package postgresql)');

const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
const script = join(postgres.dir, 'update.sql');
writeFileSync(script, `\\set id random(1, ${ROWS})\nUPDATE posts SET rev = rev + 1 WHERE id = :id;\n`);
/** pgbench's single-row update transactions: `-t` per client, or `-R` a second for `-T` seconds. */
function pgbench(args: string[]): ReturnType<typeof spawn> {
  return spawn(
    pgbenchBin as string,
    ['-n', '-f', script, '-h', '127.0.0.1', '-p', String(postgres.port), '-U', 'postgres', ...args, 'postgres'],
    {
      stdio: 'ignore',
    },
  );
}
const finished = (child: ReturnType<typeof spawn>) => new Promise<void>((resolve) => child.once('exit', () => resolve()));

const store = await readyRedisStore(redis.url);
const caching = createCaching({ user: () => null, store });
try {
  await postgres.query(`
    CREATE TABLE posts (id int PRIMARY KEY, owner_id text NOT NULL, rev int NOT NULL DEFAULT 0);
    ALTER TABLE posts REPLICA IDENTITY FULL;
    INSERT INTO posts (id, owner_id) SELECT g, 'u' || (g % 50) FROM generate_series(1, ${ROWS}) g;`);

  let onApplied: (tags: readonly string[]) => void = () => {};
  const seen = new Map<string, number>();
  let applied = 0;
  const listen = (): PostgresListener =>
    createPostgresListener<{ posts: { id: number; owner_id: string; rev: number } }>(caching, {
      connection: postgres.url,
      tables: { posts: ({ row }) => ({ tags: [`post:${row.id}:${row.rev}`], users: [row.owner_id] }) },
      onEvent: (event) => {
        if (event.type !== 'applied') return;
        applied++;
        const now = performance.now();
        for (const tag of event.targets.tags ?? []) seen.set(tag, now);
        onApplied(event.targets.tags ?? []);
      },
    });

  // 1. Latency, one commit at a time.
  let listener = listen();
  await listener.ready;
  const writer = new pg.Client({ connectionString: postgres.url });
  await writer.connect();
  const latencies: number[] = [];
  for (let n = 0; n < LATENCY_WRITES; n++) {
    const id = 1 + (n % ROWS);
    const sentAt = performance.now();
    const { rows } = await writer.query<{ rev: number }>('UPDATE posts SET rev = rev + 1 WHERE id = $1 RETURNING rev', [id]);
    const tag = `post:${id}:${rows[0]?.rev}`;
    // The stream often delivers the change before the writer hears its COMMIT returned (two sockets), so the clock
    // starts when the autocommit UPDATE is sent: an upper bound that includes the commit's own round trip.
    const appliedAt =
      seen.get(tag) ??
      (await new Promise<number>((resolve) => {
        onApplied = (tags) => {
          if (tags.includes(tag)) resolve(performance.now());
        };
      }));
    seen.clear();
    latencies.push(appliedAt - sentAt);
  }
  onApplied = () => {};
  latencies.sort((a, b) => a - b);
  await writer.end();

  // 2. Sustained rate: a backlog committed while no listener runs, applied by a fresh one.
  await listener.close();
  await finished(pgbench(['-c', '4', '-j', '2', '-t', String(Math.ceil(BACKLOG / 4))]));
  const appliedBefore = applied;
  const started = performance.now();
  listener = listen();
  await listener.ready;
  await listener.caughtUp(600_000);
  const catchUpMs = performance.now() - started;
  const backlogApplied = applied - appliedBefore;

  // 3. Cost on this process over the same steady load, with and without the listener.
  const window = async (): Promise<{ p50: number; p99: number; max: number; cpuMs: number }> => {
    const load = pgbench(['-c', '2', '-j', '1', '-R', String(RATE), '-T', String(SECONDS)]);
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    const cpu = process.cpuUsage();
    histogram.enable();
    await finished(load);
    histogram.disable();
    const used = process.cpuUsage(cpu);
    const ms = (ns: number) => round(ns / 1e6);
    return {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      cpuMs: round((used.user + used.system) / 1000, 0),
    };
  };
  const withListener = await window();
  await listener.caughtUp(600_000);
  await listener.close();
  const without = await window();

  const cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  console.log(
    `\ntrpc-caching/postgres on loopback (PostgreSQL ${(await postgres.query<{ v: string }>('SELECT current_setting($$server_version$$) AS v'))[0]?.v}, ${cores} cores)\n`,
  );
  console.log(
    `commit-to-invalidation latency over ${LATENCY_WRITES} single-row commits: p50 ${round(percentile(latencies, 50))} ms, p99 ${round(percentile(latencies, 99))} ms, max ${round(latencies.at(-1) ?? Number.NaN)} ms`,
  );
  console.log(
    `sustained: a backlog of ${backlogApplied} transactions applied in ${round(catchUpMs / 1000)} s = ${Math.round(backlogApplied / (catchUpMs / 1000))} transactions/s`,
  );
  console.log(`cost on the app process over ${SECONDS} s of ${RATE} writes/s (pgbench):`);
  console.log(
    `  with the listener:    event-loop delay p50 ${withListener.p50} ms, p99 ${withListener.p99} ms, max ${withListener.max} ms; CPU ${withListener.cpuMs} ms (${round(withListener.cpuMs / (SECONDS * 10), 1)}% of a core)`,
  );
  console.log(
    `  without the listener: event-loop delay p50 ${without.p50} ms, p99 ${without.p99} ms, max ${without.max} ms; CPU ${without.cpuMs} ms (${round(without.cpuMs / (SECONDS * 10), 1)}% of a core)`,
  );
} finally {
  caching.close();
  await destroyStore(store);
  await Promise.all([postgres.dispose(), redis.dispose()]);
}
