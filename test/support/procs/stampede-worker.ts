/**
 * One "server process" of the stampede tests (test/stores/redis/stampede.test.ts): a tRPC app whose one cached
 * query is slow and counts its runs in Redis, cached through createRedisStore with `lock`. Driven over IPC by
 * test/support/procs/stampede.ts. Run as `node --import tsx stampede-worker.ts`.
 */
import { createClient } from '@keyv/redis';
import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { type CachingError, type CachingMeta, createCaching } from '../../../src/index.js';
import { createRedisStore } from '../../../src/stores/redis/index.js';
import { RUNS_KEY, STAMPEDE_ENV, STARTS_KEY, type StampedeReply, type StampedeRequest } from './stampede.js';

const url = process.env[STAMPEDE_ENV.url];
if (!url || !process.send) throw new Error('start me through test/support/procs/stampede.ts');
const lease = Number(process.env[STAMPEDE_ENV.lease]);
const wait = Number(process.env[STAMPEDE_ENV.wait]);
const send = (message: StampedeReply): void => {
  process.send?.(message);
};
process.on('disconnect', () => process.exit(0));

// The resolver's bookkeeping, on a connection of its own: never under the cache's prefix.
const db = createClient({ url });
db.on('error', () => {});
await db.connect();

const store = createRedisStore({ url });
const errors: CachingError[] = [];
// A generous timeout: on a loaded 2-core box a slow store call must not turn a miss into a bypass (and an extra run).
const caching = createCaching<{ user: string }>({
  user: (ctx) => ctx.user,
  store,
  lock: { lease, wait },
  timeout: 2_000,
  onError: (error) => errors.push(error),
});
/** While true, the next resolver run never finishes (a holder that hangs until it is killed). */
let hangNext = false;

const t = initTRPC.context<{ user: string }>().meta<CachingMeta>().create();
const router = t.router({
  report: caching
    .cachedQuery(t.procedure)
    .input(z.object({ id: z.number(), delayMs: z.number() }))
    .query(async ({ input }) => {
      const hang = hangNext;
      hangNext = false;
      await db.incr(`${RUNS_KEY}:${input.id}`);
      await db.rPush(`${STARTS_KEY}:${input.id}`, JSON.stringify({ pid: process.pid, at: Date.now() }));
      if (hang) await new Promise(() => {});
      await new Promise((resolve) => setTimeout(resolve, input.delayMs));
      return { id: input.id, by: process.pid };
    }),
});
const createCaller = t.createCallerFactory(router);

// Connected before the driver sends anything, so that the first misses find the store ready.
const end = Date.now() + 5_000;
while (Date.now() < end && !(await store.set(`stampede:ready:${process.pid}`, '1', 1_000))) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

process.on('message', async (request: StampedeRequest) => {
  try {
    if (request.cmd === 'hangNext') {
      hangNext = true;
      send({ kind: 'reply', seq: request.seq, ok: true, value: null });
      return;
    }
    if (request.cmd === 'errors') {
      send({ kind: 'reply', seq: request.seq, ok: true, value: errors.map((error) => `${error.operation}: ${error.message}`) });
      return;
    }
    const caller = createCaller({ user: 'reader' });
    const answers = await Promise.all(Array.from({ length: request.n }, () => caller.report({ id: request.id, delayMs: request.delayMs })));
    send({ kind: 'reply', seq: request.seq, ok: true, value: answers.map((answer) => answer.by) });
  } catch (error) {
    send({ kind: 'reply', seq: request.seq, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
send({ kind: 'ready', pid: process.pid });
