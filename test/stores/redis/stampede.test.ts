import KeyvRedis from '@keyv/redis';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CachingConfigError, createCaching, createMemoryStore, createRawStringStore, type LockOptions } from '../../../src/index.js';
import { createRedisStore } from '../../../src/stores/redis/index.js';
import { harness } from '../../support/apps/harness.js';
import { Gate } from '../../support/gate.js';
import { redisCommandsDuring } from '../../support/inspect.js';
import { RUNS_KEY, STARTS_KEY, StampedeWorker } from '../../support/procs/stampede.js';
import { fileRedis } from '../../support/redis-file.js';
import { eventually } from '../../support/redis-store.js';

const redis = fileRedis();

/** The data every instance serves: a revision that the mutation bumps, shared like a database. */
interface Shared {
  rev: number;
  runs: number;
}

/**
 * One "process": its own caching instance and Redis connection over the shared Redis. The resolver counts its
 * runs in `shared`, reads the revision, and waits on this instance's gate; `failNext` makes its next run throw.
 */
async function instance(shared: Shared, lock: boolean | LockOptions) {
  const store = redis.track(createRedisStore({ url: redis.url }));
  // The store connects in the background: a call before that bypasses the cache.
  await store.ready();
  const gate = new Gate();
  const control = { failNext: false };
  const { t, authed, caching, errors } = harness<{ user: string | null }>(store, { timeout: 2_000, lock });
  const router = t.router({
    report: caching
      .cachedQuery(authed)
      .input(z.object({ id: z.number() }))
      .query(async ({ input }) => {
        shared.runs++;
        const rev = shared.rev;
        await gate.pass();
        if (control.failNext) {
          control.failNext = false;
          throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'the report failed' });
        }
        return { id: input.id, rev };
      }),
    unlocked: caching
      .cachedQuery(authed)
      .meta({ cache: { lock: false } })
      .query(() => {
        shared.runs++;
        return { rev: shared.rev };
      }),
    touch: caching.invalidatingMutation(authed).mutation(() => ({ rev: ++shared.rev })),
  });
  caching.validateRouter(router);
  const caller = t.createCallerFactory(router)({ user: 'reader' });
  return { caller, gate, control, errors, caching };
}

/** Two instances, `a` with lock `lockA` and `b` with `lockB`, over an empty Redis and one shared database. */
async function pair(lockA: boolean | LockOptions, lockB = lockA) {
  await redis.server.command('FLUSHALL');
  const shared: Shared = { rev: 0, runs: 0 };
  return { shared, a: await instance(shared, lockA), b: await instance(shared, lockB) };
}

/** Resolves once the store has a lease key (a miss took its turn). */
async function leaseTaken(): Promise<void> {
  await eventually('a lease is held', async () => ((await redis.server.command('KEYS', 'trpc-caching:l:*')) as string[]).length > 0);
}

describe('stampede protection across processes (lock)', () => {
  describe('in OS processes', () => {
    const workers: StampedeWorker[] = [];
    beforeAll(async () => {
      // A short lease, so that a takeover after a crash is quick; a long wait, so that waiters never give up in these tests.
      workers.push(
        ...(await Promise.all(Array.from({ length: 4 }, () => StampedeWorker.spawn(redis.url, { lease: 1_000, wait: 15_000 })))),
      );
    }, 60_000);
    afterAll(() => {
      for (const worker of workers) worker.kill();
    });

    it('runs the resolver once when 4 processes each miss the same entry 50 times at once', async () => {
      await redis.server.command('FLUSHALL');
      const answers = await Promise.all(workers.map((worker) => worker.burst(50, 1, 400)));
      expect(Number(await redis.server.command('GET', `${RUNS_KEY}:1`))).toBe(1);
      // Every one of the 200 answers is the one run's result, from whichever process ran it.
      const producers = new Set(answers.flat());
      expect(answers.flat()).toHaveLength(200);
      expect(producers.size).toBe(1);
      for (const worker of workers) expect(await worker.errors()).toEqual([]);
    });

    it('lets another process take over once a holder that died mid-resolve lets its lease expire', async () => {
      await redis.server.command('FLUSHALL');
      const [holder, waiter] = workers.slice(2) as [StampedeWorker, StampedeWorker];
      await holder.hangNext();
      void holder.burst(1, 2, 0).catch(() => {});
      await eventually('the holder runs its resolver', async () => Number(await redis.server.command('GET', `${RUNS_KEY}:2`)) === 1);
      const waiting = waiter.burst(5, 2, 0);
      // Long enough for the waiter to have found the lease held and to be polling (and for the holder to renew it).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(Number(await redis.server.command('GET', `${RUNS_KEY}:2`))).toBe(1);
      const killedAt = Date.now();
      holder.kill();
      const answers = await waiting;
      const tookOver = Date.now() - killedAt;
      expect(new Set(answers)).toEqual(new Set([waiter.pid]));
      const starts = ((await redis.server.command('LRANGE', `${STARTS_KEY}:2`, '0', '-1')) as string[]).map(
        (text) => JSON.parse(text) as { pid: number; at: number },
      );
      expect(starts.map((start) => start.pid)).toEqual([holder.pid, waiter.pid]);
      // The waiter ran only once the holder was gone, and within about one lease (1 s) of that, not after its 15 s wait.
      expect(starts[1]?.at).toBeGreaterThanOrEqual(killedAt);
      expect(tookOver).toBeLessThan(5_000);
    });
  });

  describe('in one process, as instances with connections of their own', () => {
    it('never lets a waiter take an entry computed under versions that moved after it read them', async () => {
      const { shared, a, b } = await pair(true);
      a.gate.close();
      const first = a.caller.report({ id: 1 });
      await a.gate.arrivals(1);
      // A's resolver read rev 0 and holds the lease; then the data changes and the mutation returns.
      await b.caller.touch();
      const second = b.caller.report({ id: 1 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      a.gate.open();
      expect(await first).toEqual({ id: 1, rev: 0 });
      // B started after the mutation returned: it waited for A's lease, found A's entry under the old versions, and ran itself.
      expect(await second).toEqual({ id: 1, rev: 1 });
      expect(shared.runs).toBe(2);
    });

    it('hands a waiting process the entry as soon as the holder stored it, without running its resolver', async () => {
      const { shared, a, b } = await pair(true);
      a.gate.close();
      const first = a.caller.report({ id: 1 });
      await leaseTaken();
      const second = Promise.all([b.caller.report({ id: 1 }), b.caller.report({ id: 1 })]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      a.gate.open();
      expect(await first).toEqual({ id: 1, rev: 0 });
      expect(await second).toEqual([
        { id: 1, rev: 0 },
        { id: 1, rev: 0 },
      ]);
      expect(shared.runs).toBe(1);
      expect((await redis.server.command('KEYS', 'trpc-caching:l:*')) as string[]).toEqual([]);
    });

    it('frees the lease when the resolver fails, so a waiting process runs its own at once', async () => {
      const { shared, a, b } = await pair({ lease: 30_000 });
      a.control.failNext = true;
      a.gate.close();
      const failing = a.caller.report({ id: 1 });
      await leaseTaken();
      const started = Date.now();
      const second = b.caller.report({ id: 1 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      a.gate.open();
      await expect(failing).rejects.toThrow('the report failed');
      // B never sees A's error: it runs its own resolver once A gave the lease back, long before the lease's 30 s.
      expect(await second).toEqual({ id: 1, rev: 0 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(shared.runs).toBe(2);
    });

    it('runs the resolver itself, without an error, when its turn does not come within wait', async () => {
      const { shared, a, b } = await pair(true, { wait: 300 });
      a.gate.close();
      const stuck = a.caller.report({ id: 1 });
      await leaseTaken();
      const started = Date.now();
      expect(await b.caller.report({ id: 1 })).toEqual({ id: 1, rev: 0 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(shared.runs).toBe(2);
      expect(b.errors).toEqual([]);
      a.gate.open();
      await stuck;
    });

    it('takes no lease for a procedure with meta.cache.lock false, nor when lock is off', async () => {
      const { a: locked, b: off } = await pair(true, false);
      // A leader gives its lease back with an EVAL (delete it only if it still holds it): nothing else sends one.
      const leaseCommands = (counts: Record<string, number>) => counts.eval ?? 0;
      expect(leaseCommands(await redisCommandsDuring(redis.server, () => locked.caller.unlocked()))).toBe(0);
      expect(leaseCommands(await redisCommandsDuring(redis.server, () => off.caller.report({ id: 7 })))).toBe(0);
      expect(leaseCommands(await redisCommandsDuring(redis.server, () => locked.caller.report({ id: 8 })))).toBeGreaterThan(0);
    });

    it('refuses lock on a shared store that offers no leases, and accepts it on the in-memory store', () => {
      const plain = redis.track(createRawStringStore(new KeyvRedis(redis.url)));
      expect(() => createCaching({ user: () => null, store: plain, lock: true })).toThrow(CachingConfigError);
      expect(() => createCaching({ user: () => null, store: plain, lock: true })).toThrow(/createRedisStore/);
      expect(() => createCaching({ user: () => null, store: createMemoryStore(), lock: true }).close()).not.toThrow();
      expect(() => createCaching({ user: () => null, lock: { wait: -1 } })).toThrow(/lock\.wait/);
      expect(() => createCaching({ user: () => null, lock: { lease: 1_000, waits: 1 } as LockOptions })).toThrow(/lock\.waits/);
    });
  });
});
