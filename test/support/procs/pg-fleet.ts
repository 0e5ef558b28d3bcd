import { fileURLToPath } from 'node:url';
import { forkWorker, type Reply, Requests } from './child.js';
import type { PgReadReply, PgResponse } from './pg-protocol.js';

const WORKER = fileURLToPath(new URL('./pg-worker.ts', import.meta.url));

/** A worker process (pg-worker.ts): an app server reading posts from PostgreSQL through a cached query on Redis. */
export interface PgWorker {
  readonly name: string;
  read(ids: readonly number[]): Promise<PgReadReply[]>;
  kill(): void;
}

/**
 * Starts `count` app servers on one Redis and one PostgreSQL, in parallel, resolving once all are ready.
 *
 * @example
 * ```ts
 * const workers = await pgFleet(3, { cacheUrl: redis.url, dbUrl: postgres.url });
 * ```
 */
export async function pgFleet(count: number, urls: { cacheUrl: string; dbUrl: string }): Promise<PgWorker[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const name = `app-${n + 1}`;
      const { child } = await forkWorker(WORKER, {
        label: `worker ${name}`,
        env: { PG_FLEET_CACHE_URL: urls.cacheUrl, PG_FLEET_DB_URL: urls.dbUrl },
        ready: (message: PgResponse) => message.kind === 'ready',
      });
      const requests = new Requests(child, name, (message) => ((message as PgResponse).kind === 'reply' ? (message as Reply) : undefined));
      return {
        name,
        read: (ids) => requests.send((seq) => ({ seq, ids })) as Promise<PgReadReply[]>,
        kill: () => requests.kill(),
      };
    }),
  );
}
