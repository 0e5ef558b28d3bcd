/**
 * One "app server" of the Postgres change-stream tests: a tRPC app whose cached queries read posts from PostgreSQL,
 * its cache on the shared Redis, driven over IPC by test/support/procs/pg-fleet.ts. It never invalidates anything
 * itself: only the listener (in another process) moves versions. Run as `node --import tsx pg-worker.ts`.
 */
import { initTRPC } from '@trpc/server';
import pg from 'pg';
import { z } from 'zod';
import { type CachingMeta, createCaching } from '../../../src/index.js';
import { connecting } from '../redis-store.js';
import type { PgReadReply, PgRequest, PgResponse } from './pg-protocol.js';

const cacheUrl = process.env.PG_FLEET_CACHE_URL;
const dbUrl = process.env.PG_FLEET_DB_URL;
if (!cacheUrl || !dbUrl || !process.send) throw new Error('start me through test/support/procs/pg-fleet.ts');
process.on('disconnect', () => process.exit(0));
const send = (message: PgResponse): void => {
  process.send?.(message);
};

// A pool heals by itself across a PostgreSQL restart: a broken client is dropped, the next query opens a new one.
const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
pool.on('error', () => {});
const { client, store } = connecting(cacheUrl);
while (!client.isReady) await new Promise((resolve) => setTimeout(resolve, 10));

interface Ctx {
  trace: { ran: boolean };
}
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const caching = createCaching<Ctx>({ user: () => null, store });
const router = t.router({
  post: caching
    .cachedQuery(t.procedure)
    .meta({ cache: { scope: 'public', ttl: 600_000, tags: ({ input }) => [`post:${Number(input.id)}`] } })
    .input(z.object({ id: z.number().int() }))
    .query(async ({ ctx, input }) => {
      ctx.trace.ran = true;
      const { rows } = await pool.query<{ title: string; rev: number }>('SELECT title, rev FROM posts WHERE id = $1', [input.id]);
      return rows[0] ?? null;
    }),
});
caching.validateRouter(router);
const createCaller = t.createCallerFactory(router);

async function read(id: number): Promise<PgReadReply> {
  const trace = { ran: false };
  const post = await createCaller({ trace }).post({ id });
  return { id, title: post?.title ?? null, rev: post?.rev ?? null, cached: !trace.ran };
}

process.on('message', (message: PgRequest) => {
  Promise.all(message.ids.map(read)).then(
    (value) => send({ kind: 'reply', seq: message.seq, ok: true, value }),
    (error: unknown) => send({ kind: 'reply', seq: message.seq, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
send({ kind: 'ready' });
