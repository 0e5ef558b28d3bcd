/**
 * One "server process" of the adversity suite: the adversity app with a cache on
 * the shared cache Redis and its data in the shared database Redis, driven over
 * IPC by test/support/procs/driver.ts. Run as `node --import tsx worker.ts`.
 */
import { randomUUID } from 'node:crypto';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import KeyvRedis, { createClient } from '@keyv/redis';
import { Keyv } from 'keyv';
import { createRedisStore } from '../../../src/stores/redis/index.js';
import { connecting } from '../redis-store.js';
import { type AdversityApp, type CounterDb, createAdversityApp } from './app.js';
import { type BusyStretches, watchBusyStretches } from './busy-stretch.js';
import {
  type CommandName,
  type Commands,
  ENV,
  type Request,
  type Response,
  type StoreForm,
  type WorkerCachingOptions,
} from './protocol.js';

const cacheUrl = process.env[ENV.cacheUrl];
const dbUrl = process.env[ENV.dbUrl];
if (!cacheUrl || !dbUrl || !process.send) throw new Error('start me through test/support/procs/driver.ts');

const send = (message: Response): void => {
  process.send?.(message);
};
// The driver owns this process: once it is gone, nobody will ever ask anything again.
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

interface Instance {
  readonly app: AdversityApp;
  readonly store: Keyv;
  close(): Promise<void>;
}

/** The cache store in the form asked for, on a connection of its own. */
async function openStore(form: StoreForm, url: string): Promise<{ store: Keyv; close(): Promise<void> }> {
  if (form === 'near') {
    const store = createRedisStore({ url, nearCache: { maxStaleness: 250 } });
    await store.ready();
    return { store, close: () => store.close() };
  }
  if (form === 'plain') {
    const store = new Keyv(new KeyvRedis(url));
    return { store, close: () => store.disconnect().catch(() => {}) };
  }
  // README's client options: fail at once while disconnected, reconnect for ever in the background.
  const { client, store } = connecting(url);
  // Start with a ready connection when Redis is up, so that the first calls do not find it offline; not when it is down.
  const end = Date.now() + 2_000;
  while (!client.isReady && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
  return {
    store,
    async close() {
      client.destroy();
    },
  };
}

let current: Instance | undefined;
let histogram: IntervalHistogram | undefined;
let busyStretches: (() => BusyStretches) | undefined;

async function configure(form: StoreForm, options: WorkerCachingOptions): Promise<null> {
  const previous = current;
  current = undefined;
  if (previous) await previous.close();
  const { store, close } = await openStore(form, cacheUrl as string);
  const app = createAdversityApp(db, store, options);
  current = {
    app,
    store,
    async close() {
      app.caching.close();
      await close();
    },
  };
  return null;
}

function app(): AdversityApp {
  if (!current) throw new Error('configure the worker first');
  return current.app;
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Burn the CPU without yielding: the event loop is blocked, as in a long GC pause or a heavy request.
  }
}

const ms = (nanoseconds: number): number => Math.round(nanoseconds / 1e4) / 100;

type Handlers = { [K in CommandName]: (args: Commands[K]['args']) => Promise<Commands[K]['reply']> };

const handlers: Handlers = {
  configure: ({ store, options }) => configure(store, options),
  read: (spec) => app().read(spec),
  mutate: ({ user, id }) => app().mutate(user, id),
  async stall({ ms: stallMs, reads }) {
    const replies = reads.map((spec) => app().read(spec));
    // One macrotask: every read has sent its store call and armed its timeout before the loop blocks.
    await new Promise((resolve) => setImmediate(resolve));
    busy(stallMs);
    return { replies: await Promise.all(replies) };
  },
  async invalidateTags({ prefix, count, perCall, concurrency }) {
    const caching = app().caching;
    const started = performance.now();
    let next = 0;
    let calls = 0;
    let unwritten = 0;
    const lane = async () => {
      while (next < count) {
        const tags: string[] = [];
        for (; tags.length < perCall && next < count; next++) tags.push(`${prefix}${next}`);
        calls++;
        if (!(await caching.invalidate({ tags }))) unwritten++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    return { calls, unwritten, ms: performance.now() - started };
  },
  async status() {
    const errors: Record<string, number> = {};
    const messages = new Set<string>();
    for (const error of app().errors) {
      errors[error.operation] = (errors[error.operation] ?? 0) + 1;
      if (messages.size < 5) messages.add(`${error.operation}: ${error.message}`);
    }
    const { checks, discarded, divergences, skipped, paths } = app().caching.stats().audit;
    const diverged = paths.filter((path) => path.divergences > 0);
    return {
      pending: app().caching.pendingInvalidations,
      errors,
      messages: [...messages],
      audit: { checks, discarded, divergences, skipped },
      divergences: diverged.map((path) => `${path.path} x${path.divergences} after ${path.culprits.map((c) => c.mutation).join(', ')}`),
    };
  },
  async writeAtOnce({ prefix, count }) {
    if (!current) throw new Error('configure the worker first');
    const entries = Array.from({ length: count }, (_, n) => ({ key: `${prefix}${n}`, value: randomUUID(), ttl: 60_000 }));
    await current.store.setMany(entries);
    return null;
  },
  async loopDelayStart() {
    histogram?.disable();
    histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    busyStretches?.();
    busyStretches = watchBusyStretches();
    return null;
  },
  async loopDelayStop() {
    if (!histogram || !busyStretches) throw new Error('loopDelayStart first');
    histogram.disable();
    const busy = busyStretches().max;
    const seen = {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      count: histogram.count,
      busy,
    };
    histogram = undefined;
    busyStretches = undefined;
    return seen;
  },
};

process.on('message', (message: Request) => {
  const handler = handlers[message.cmd] as (args: unknown) => Promise<unknown>;
  handler(message.args).then(
    (value) => send({ kind: 'reply', seq: message.seq, ok: true, value }),
    (error: unknown) =>
      send({ kind: 'reply', seq: message.seq, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
send({ kind: 'ready' });
