/**
 * One server process of the near-cache tests: a tRPC app whose cache is
 * `createRedisStore({ url, nearCache })`, with its data (counters) in a Redis
 * of its own. Driven over IPC by test/stores/redis/near-cache-procs.test.ts and
 * bench/near-cache.ts; it runs whole read or write loops by itself and sends
 * back what it saw, so that IPC never sits between two operations.
 * Run as `node --import tsx near-worker.ts`.
 */
import { createClient } from '@keyv/redis';
import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { type CachingMeta, createCaching } from '../../../src/index.js';
import { createRedisStore, type NearCacheStats, nearCacheStats } from '../../../src/stores/redis/index.js';

/** Environment a worker reads. */
export const NEAR_ENV = { cacheUrl: 'NEAR_CACHE_URL', dbUrl: 'NEAR_DB_URL', maxStaleness: 'NEAR_MAX_STALENESS' } as const;

/** Milliseconds on the machine's monotonic clock: one clock for every process, so times compare across them. */
export const machineNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Reads of one loop, as parallel columns. */
export interface ReadLog {
  readonly ids: number[];
  readonly values: number[];
  /** {@link machineNow} when each read started and ended. */
  readonly startedAt: number[];
  readonly endedAt: number[];
}

/** Mutations of one loop: what each wrote, when it returned, and what this process read right after. */
export interface WriteLog {
  readonly ids: number[];
  readonly values: number[];
  readonly returnedAt: number[];
  /** The value this process's next read of the id returned (read-your-writes: never below `values`). */
  readonly ownReads: number[];
}

/** What a worker says about its cache. */
export interface NearStatus {
  readonly near: NearCacheStats | undefined;
  /** `onError` reports by operation. */
  readonly errors: Record<string, number>;
}

export type NearCommand =
  | { readonly cmd: 'read'; readonly durationMs: number; readonly lanes: number; readonly items: number; readonly pauseMs?: number }
  | { readonly cmd: 'poll'; readonly id: number; readonly durationMs: number }
  | { readonly cmd: 'write'; readonly durationMs: number; readonly items: number; readonly gapMs: number }
  | { readonly cmd: 'status' };

export interface NearReplies {
  read: ReadLog;
  poll: ReadLog;
  write: WriteLog;
  status: NearStatus;
}

const cacheUrl = process.env[NEAR_ENV.cacheUrl];
const dbUrl = process.env[NEAR_ENV.dbUrl];
const maxStaleness = Number(process.env[NEAR_ENV.maxStaleness] ?? 250);
if (cacheUrl && dbUrl && process.send) await serve(cacheUrl, dbUrl);

async function serve(cacheUrl: string, dbUrl: string): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  const db = createClient({ url: dbUrl });
  db.on('error', () => {});
  await db.connect();

  const store = createRedisStore({ url: cacheUrl, nearCache: { maxStaleness } });
  const errors: Record<string, number> = {};
  const t = initTRPC.context<{ user: string }>().meta<CachingMeta>().create();
  // A generous timeout: on a shared 2-core box a slow call would only turn hits into bypasses.
  const caching = createCaching<{ user: string }>({
    user: (ctx) => ctx.user,
    store,
    timeout: 1_000,
    onError: (error) => {
      errors[error.operation] = (errors[error.operation] ?? 0) + 1;
    },
  });
  const item = z.object({ id: z.number().int() });
  const router = t.router({
    item: t.router({
      get: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { scope: 'public', tags: ({ input }) => [`item-${String(input.id)}`] } })
        .input(item)
        .query(async ({ input }) => Number((await db.get(`item:${input.id}`)) ?? 0)),
      bump: caching
        .invalidatingMutation(t.procedure)
        .meta({ invalidate: { self: false, tags: ({ input }) => [`item-${String(input.id)}`] } })
        .input(item)
        .mutation(async ({ input }) => db.incr(`item:${input.id}`)),
    }),
  });
  caching.validateRouter(router);
  const caller = t.createCallerFactory(router)({ user: `pid-${process.pid}` });

  const emptyReads = (): ReadLog => ({ ids: [], values: [], startedAt: [], endedAt: [] });
  const read = async (log: ReadLog, id: number) => {
    const startedAt = machineNow();
    const value = await caller.item.get({ id });
    log.ids.push(id);
    log.values.push(value);
    log.startedAt.push(startedAt);
    log.endedAt.push(machineNow());
  };
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const run = async (command: NearCommand): Promise<NearReplies[NearCommand['cmd']]> => {
    switch (command.cmd) {
      case 'read': {
        const log = emptyReads();
        const end = machineNow() + command.durationMs;
        const lane = async () => {
          while (machineNow() < end) {
            await read(log, 1 + Math.floor(Math.random() * command.items));
            // Yield to I/O now and then: a loop of synchronous near hits would starve the heartbeat.
            await (command.pauseMs ? pause(command.pauseMs) : new Promise((resolve) => setImmediate(resolve)));
          }
        };
        await Promise.all(Array.from({ length: command.lanes }, lane));
        return log;
      }
      case 'poll': {
        const log = emptyReads();
        const end = machineNow() + command.durationMs;
        while (machineNow() < end) {
          await read(log, command.id);
          await new Promise((resolve) => setImmediate(resolve));
        }
        return log;
      }
      case 'write': {
        const log: WriteLog = { ids: [], values: [], returnedAt: [], ownReads: [] };
        const end = machineNow() + command.durationMs;
        while (machineNow() < end) {
          const id = 1 + Math.floor(Math.random() * command.items);
          const value = await caller.item.bump({ id });
          log.returnedAt.push(machineNow());
          log.ids.push(id);
          log.values.push(value);
          log.ownReads.push(await caller.item.get({ id }));
          await pause(command.gapMs * Math.random() * 2);
        }
        return log;
      }
      case 'status':
        return { near: nearCacheStats(store), errors: { ...errors } };
    }
  };

  process.on('message', (message: { seq: number; command: NearCommand }) => {
    run(message.command).then(
      (value) => process.send?.({ seq: message.seq, ok: true, value }),
      (error: unknown) =>
        process.send?.({ seq: message.seq, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  process.send?.({ ready: true });
}
