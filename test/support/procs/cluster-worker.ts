/**
 * One "server process" of the Cluster failover suite: the adversity app with its cache on a Redis Cluster
 * (`createRedisStore({ cluster })`) and its data in a database Redis, driven over IPC by
 * test/support/procs/cluster-workers.ts. Run as `node --import tsx cluster-worker.ts`.
 */
import { createClient } from '@keyv/redis';
import { createRedisStore, type RedisStore } from '../../../src/stores/redis/index.js';
import { type AdversityApp, type CounterDb, createAdversityApp } from './app.js';
import { CLUSTER_ENV, type ClusterCommandName, type ClusterCommands } from './cluster-workers.js';
import type { Response } from './protocol.js';

const roots = process.env[CLUSTER_ENV.roots];
const dbUrl = process.env[CLUSTER_ENV.dbUrl];
if (!roots || !dbUrl || !process.send) throw new Error('start me through test/support/procs/cluster-workers.ts');
const rootNodes = (JSON.parse(roots) as string[]).map((url) => ({ url }));

const send = (message: Response): void => {
  process.send?.(message);
};
process.on('disconnect', () => process.exit(0));

const dbClient = createClient({ url: dbUrl });
dbClient.on('error', () => {});
await dbClient.connect();
const db: CounterDb = {
  async get(slot) {
    return Number((await dbClient.get(slot)) ?? 0);
  },
  async bump(slots) {
    const multi = dbClient.multi();
    for (const slot of slots) multi.incr(slot);
    return (await multi.exec()).map(Number);
  },
};

let current: { app: AdversityApp; store: RedisStore } | undefined;

function app(): AdversityApp {
  if (!current) throw new Error('configure the worker first');
  return current.app;
}

type Handlers = { [K in ClusterCommandName]: (args: ClusterCommands[K]['args']) => Promise<ClusterCommands[K]['reply']> };

const handlers: Handlers = {
  async configure({ store: settings, caching }) {
    const previous = current;
    current = undefined;
    if (previous) {
      previous.app.caching.close();
      await previous.store.close().catch(() => {});
    }
    const store = createRedisStore({ cluster: { rootNodes }, ...settings });
    store.on('error', () => {});
    // Start with a store that knows the topology, as a deployed process would after its first seconds.
    const end = Date.now() + 10_000;
    while (Date.now() < end && !(await store.set('probe', '1', 1_000))) await new Promise((resolve) => setTimeout(resolve, 20));
    current = { app: createAdversityApp(db, store, caching), store };
    return null;
  },
  read: (spec) => app().read(spec),
  mutate: ({ user, id }) => app().mutate(user, id),
  async stats() {
    const stats = app().caching.stats();
    return {
      hits: stats.hits,
      bypassReasons: stats.bypassReasons,
      breaker: stats.breaker,
      pending: stats.pendingInvalidations,
      storeNodes: stats.storeNodes ?? [],
      errors: app()
        .errors.slice(-3)
        .map((error) => `${error.operation}: ${error.message}`),
    };
  },
};

process.on('message', (message: { seq: number; cmd: ClusterCommandName; args: unknown }) => {
  const handler = handlers[message.cmd] as (args: unknown) => Promise<unknown>;
  handler(message.args).then(
    (value) => send({ kind: 'reply', seq: message.seq, ok: true, value }),
    (error: unknown) =>
      send({ kind: 'reply', seq: message.seq, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
send({ kind: 'ready' });
