import type { Keyv } from 'keyv';
import { type AdversityApp, type CounterDb, createAdversityApp, memoryCounterDb, slotOf } from './procs/app.js';
import { everyRead, seeded } from './procs/driver.js';
import type { ReadReply, ReadSpec, WorkerCachingOptions } from './procs/protocol.js';
import { eventually } from './redis-store.js';

/**
 * Several caching instances in one process, each with its own store connection, over one database: what
 * several app servers behind a load balancer are to the cache, without the cost of OS processes. Every
 * read and mutation is timed, so that {@link Fleet.verdict} can tell a stale answer: a read that started
 * after a mutation of its slot returned and shows a value from before it.
 */
export interface Fleet {
  readonly db: CounterDb;
  readonly apps: AdversityApp[];
  /** Adds an instance on `store` (a new server process joining). */
  join(store: Keyv, options?: WorkerCachingOptions): AdversityApp;
  read(app: AdversityApp, spec: ReadSpec): Promise<ReadReply>;
  mutate(app: AdversityApp, user: string, id: number): Promise<void>;
  /**
   * Reads and mutates from every instance until `done()` says stop: `readers` concurrent read loops and one
   * mutation loop, a few hundred operations a second in all. Resolves to the number of failed calls.
   */
  churn(done: () => boolean, options?: { readers?: number; pauseMs?: number }): Promise<number>;
  verdict(): { reads: number; cached: number; mutations: number; stale: number; examples: string[] };
  /** Waits until none of `instances` has an invalidation pending. */
  drained(instances: readonly AdversityApp[], deadlineMs: number): Promise<void>;
  /** Waits until a read of the first spec, repeated on each of `instances`, is served from the cache on every one. */
  hitting(instances: readonly AdversityApp[], deadlineMs: number): Promise<void>;
  /** Reads every spec on `app`, each reply beside the value the database holds for its slot once it is answered. */
  readEvery(app: AdversityApp): Promise<Array<{ reply: ReadReply; current: number }>>;
  /** Every read the fleet's users can make. */
  readonly specs: readonly ReadSpec[];
  readonly users: readonly string[];
  readonly ids: readonly number[];
}

export function fleet(users: readonly string[] = ['ann', 'bob', 'cy'], ids: readonly number[] = [1, 2]): Fleet {
  const db = memoryCounterDb();
  const apps: AdversityApp[] = [];
  const mutations = new Map<string, Array<{ value: number; returnedAt: number }>>();
  const reads: Array<{ spec: ReadSpec; sentAt: number; reply: ReadReply }> = [];
  let mutationCount = 0;
  const specs = everyRead(users, ids);
  const pick = seeded(7);
  const self: Fleet = {
    db,
    apps,
    specs,
    users,
    ids,
    join(store, options = {}) {
      const app = createAdversityApp(db, store, { timeout: 2_000, ...options });
      apps.push(app);
      return app;
    },
    async read(app, spec) {
      const sentAt = performance.now();
      const reply = await app.read(spec);
      reads.push({ spec, sentAt, reply });
      return reply;
    },
    async mutate(app, user, id) {
      const { writes } = await app.mutate(user, id);
      const returnedAt = performance.now();
      mutationCount++;
      for (const { slot, value } of writes) {
        const list = mutations.get(slot) ?? [];
        list.push({ value, returnedAt });
        mutations.set(slot, list);
      }
    },
    async churn(done, { readers = 4, pauseMs = 5 } = {}) {
      let failed = 0;
      const sleep = () => new Promise((resolve) => setTimeout(resolve, pauseMs));
      const lane = async (work: () => Promise<unknown>) => {
        while (!done()) {
          try {
            await work();
          } catch {
            failed++;
          }
          await sleep();
        }
      };
      await Promise.all([
        ...Array.from({ length: readers }, () => lane(() => self.read(pick(apps), pick(specs)))),
        lane(() => self.mutate(pick(apps), pick(users), pick(ids))),
      ]);
      return failed;
    },
    drained(instances, deadlineMs) {
      return eventually('no invalidation is pending', () => instances.every((app) => app.caching.pendingInvalidations === 0), deadlineMs);
    },
    hitting(instances, deadlineMs) {
      return eventually(
        'every instance serves hits',
        async () => {
          const spec = specs[0];
          if (spec === undefined) return false;
          for (const app of instances) await self.read(app, spec);
          for (const app of instances) if (!(await self.read(app, spec)).cached) return false;
          return true;
        },
        deadlineMs,
      );
    },
    async readEvery(app) {
      const replies: Array<{ reply: ReadReply; current: number }> = [];
      for (const spec of specs) {
        const reply = await self.read(app, spec);
        replies.push({ reply, current: await db.get(reply.slot) });
      }
      return replies;
    },
    verdict() {
      let stale = 0;
      let cached = 0;
      const examples: string[] = [];
      for (const read of reads) {
        if (read.reply.cached) cached++;
        const slot = slotOf(read.spec);
        const missed = (mutations.get(slot) ?? []).find((m) => m.returnedAt < read.sentAt && m.value > read.reply.value);
        if (missed === undefined && read.reply.slot === slot) continue;
        stale++;
        if (examples.length < 3) {
          examples.push(
            `${slot} read ${read.reply.value}${read.reply.cached ? ' (cached)' : ''} after a mutation returned ${missed?.value}`,
          );
        }
      }
      return { reads: reads.length, cached, mutations: mutationCount, stale, examples };
    },
  };
  return self;
}
