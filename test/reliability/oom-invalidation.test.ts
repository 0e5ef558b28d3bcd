import { createClient } from '@redis/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CachingError } from '../../src/index.js';
import { createRedisStore, type RedisStore } from '../../src/stores/redis/index.js';
import { type HarnessCtx, harness } from '../support/apps/harness.js';
import { type RedisServer, startRedis } from '../support/redis.js';

/**
 * Redis under `maxmemory-policy noeviction` with its memory full refuses every write at once (`OOM`), and takes writes
 * again as soon as something frees memory. A version move refused that way must be tried again before the mutation
 * returns: otherwise another process, reading right after, serves its entry from before the mutation.
 */
let redis: RedisServer;
let filler: ReturnType<typeof createClient>;
const stores: RedisStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
  filler = createClient({ url: redis.url });
  filler.on('error', () => {});
  await filler.connect();
  const used = Number(/used_memory:(\d+)/.exec(String(await filler.info('memory')))?.[1]);
  await filler.configSet({ 'maxmemory-policy': 'noeviction', maxmemory: String(used + 4 * 1024 * 1024) });
});

afterAll(async () => {
  for (const store of stores) await store.close().catch(() => {});
  await filler.close().catch(() => {});
  await redis.dispose();
});

/**
 * Writes keys until Redis refuses one for want of memory; returns their names. Large values first, then ever smaller
 * ones: a large command's own buffer counts while it runs, so after the first refusal a small write could still fit.
 */
async function fillMemory(round: number): Promise<string[]> {
  const keys: string[] = [];
  for (const size of [64 * 1024, 1024, 16]) {
    const chunk = 'x'.repeat(size);
    for (;;) {
      const key = `fill:${round}:${keys.length}`;
      try {
        await filler.set(key, chunk);
      } catch (error) {
        if (/OOM/.test(String(error))) break;
        throw error;
      }
      keys.push(key);
    }
  }
  return keys;
}

/** One process's app on the shared data: a cached read of the revision and a mutation that bumps it. */
async function instance(db: { rev: number }, onError: (error: CachingError) => void) {
  const store = createRedisStore({ url: redis.url });
  stores.push(store);
  await store.ready();
  const { t, caching } = harness<HarnessCtx<string>>(store, { timeout: 2_000, invalidationTimeout: 5_000, onError });
  const router = t.router({
    rev: caching.cachedQuery(t.procedure).query(() => ({ rev: db.rev })),
    bump: caching
      .invalidatingMutation(t.procedure)
      .meta({ invalidate: { paths: ['rev'] } })
      .mutation(() => {
        db.rev++;
      }),
  });
  return { caller: t.createCallerFactory(router)({ user: 'alice' }), caching };
}

it('a version move that Redis refuses for want of memory (noeviction) is written before the mutation returns: no read started after it gets old data', async () => {
  const db = { rev: 0 };
  let free: (() => void) | undefined;
  // The writer's first refused move is the moment memory comes back (another client deletes what filled it).
  const writer = await instance(db, (error) => {
    if (error.operation === 'invalidate') free?.();
  });
  const reader = await instance(db, () => {});
  const ROUNDS = 20;
  let stale = 0;
  let refused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // The reader holds the current revision in the cache.
    await reader.caller.rev();
    expect(await reader.caller.rev()).toEqual({ rev: db.rev });
    const filled = await fillMemory(round);
    let freed: Promise<unknown> | undefined;
    free = () => {
      refused++;
      free = undefined;
      freed = filler.del(filled);
    };
    await writer.caller.bump();
    // Started after the mutation returned: must not see the revision from before it.
    const seen = await reader.caller.rev();
    if (seen.rev !== db.rev) stale++;
    free = undefined;
    await (freed ?? filler.del(filled));
    // A move left pending lands now, so that each round starts from the current revision.
    await writer.caching.flush();
  }
  console.log(`[oom] ${refused} of ${ROUNDS} moves refused at first (OOM); reads after the mutation with old data: ${stale}`);
  // The scenario happened: moves were refused at first, not written straight away.
  expect(refused).toBeGreaterThan(ROUNDS / 2);
  expect(stale).toBe(0);
  // Each refused write is a failed store call, counted (retries included).
  expect(writer.caching.stats().storeErrors).toBeGreaterThanOrEqual(refused);
  expect(writer.caching.pendingInvalidations).toBe(0);
});
