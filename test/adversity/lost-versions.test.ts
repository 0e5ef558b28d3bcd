import { describe, expect, it } from 'vitest';
import { noteTag } from '../support/procs/app.js';
import { workerCluster } from '../support/procs/cluster.js';
import { everyRead, type Ledger, lanesOf, readLoop, seeded, sleep, staleReport, summary, type Worker } from '../support/procs/driver.js';
import type { ReadSpec } from '../support/procs/protocol.js';
import type { RedisServer } from '../support/redis.js';

/**
 * Version keys that vanish while entries stay: deleted by hand, or evicted by
 * Redis under `maxmemory`. Losing a version must cost misses, never data from
 * before a mutation: an entry computed before a key's first move must not match
 * again once the key is gone.
 */
const cluster = workerCluster(['A', 'B', 'C']);
const PREFIX = 'trpc-caching';

async function keys(server: RedisServer, pattern: string): Promise<string[]> {
  return (await server.command('KEYS', pattern)) as string[];
}

async function deleteKeys(server: RedisServer, pattern: string): Promise<number> {
  const found = await keys(server, pattern);
  if (found.length > 0) await server.command('DEL', ...found);
  return found.length;
}

/** Number in a section of INFO, e.g. `used_memory` or `evicted_keys`. */
async function info(server: RedisServer, section: string, field: string): Promise<number> {
  const text = String(await server.command('INFO', section));
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function readEach(ledger: Ledger, worker: Worker, specs: readonly ReadSpec[]): Promise<void> {
  for (const spec of specs) await ledger.read(worker, spec);
}

/**
 * B caches every read while no version key exists yet, then A mutates every note: each version is
 * moved for the first time, and nobody reads in between, so every entry in Redis is from before.
 */
async function entriesFromBeforeEveryMutation(ledger: Ledger, users: readonly string[], ids: readonly number[]): Promise<ReadSpec[]> {
  const { A, B } = cluster.workers;
  const specs = everyRead(users, ids);
  await readEach(ledger, B, specs);
  for (const user of users) for (const id of ids) await ledger.mutate(A, user, id);
  return specs;
}

const USERS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
const IDS = [1, 2, 3];
/** Mutations A makes while B and C read and the keys keep being deleted (and ten times as many reads). */
const ROUNDS = 60;

describe.each([
  ['one tag version deleted by hand', `${PREFIX}:v:t:${noteTag('u0', 1)}`],
  ['every user scope version deleted by hand', `${PREFIX}:v:s:*`],
  ['every version key removed while the entries stay', `${PREFIX}:v:*`],
])('%s', (_what, pattern) => {
  it('no process serves data from before a mutation, then or while keys keep vanishing', async () => {
    const ledger = await cluster.reset();
    const { A, B, C } = cluster.workers;
    const specs = await entriesFromBeforeEveryMutation(ledger, USERS, IDS);
    const entries = (await keys(cluster.cache, `${PREFIX}:q:*`)).length;
    const deleted = await deleteKeys(cluster.cache, pattern);
    expect(deleted).toBeGreaterThan(0);
    expect(entries).toBeGreaterThan(0);

    await readEach(ledger, B, specs);
    await readEach(ledger, C, specs);
    // Then the same again while A keeps mutating and the keys keep being deleted.
    const pick = seeded(5);
    let stopped = false;
    const reading = readLoop(
      ledger,
      lanesOf([B, C], 3, () => pick(specs)),
      () => stopped,
    );
    // Rounds and reads counted, not timed, so a loaded machine runs longer rather than judging less.
    const readsBefore = ledger.readCount;
    const giveUp = Date.now() + 60_000;
    let round = 0;
    while ((round < ROUNDS || ledger.readCount - readsBefore < ROUNDS * 10) && Date.now() < giveUp) {
      await ledger.mutate(A, pick(USERS), pick(IDS));
      if (++round % 5 === 0) await deleteKeys(cluster.cache, pattern);
      await sleep(20);
    }
    stopped = true;
    await reading;

    const verdict = ledger.verdict(['B', 'C']);
    console.log(`${summary(`${pattern} deleted (${deleted} keys; ${entries} entries stayed)`, verdict)}`);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
  }, 90_000);
});

describe.each(['allkeys-lru', 'volatile-ttl'])('Redis evicting under maxmemory-policy %s', (policy) => {
  it('a flood of distinct tag moves evicts version keys, and no process serves data from before a mutation', async () => {
    const ledger = await cluster.reset();
    const { A, B, C } = cluster.workers;
    const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9'];
    const ids = [1, 2, 3, 4, 5];
    const specs = await entriesFromBeforeEveryMutation(ledger, users, ids);
    const watched = async () =>
      (await keys(cluster.cache, `${PREFIX}:v:s:*`)).length + (await keys(cluster.cache, `${PREFIX}:v:t:note-*`)).length;
    const versionsBefore = await watched();
    const entriesBefore = (await keys(cluster.cache, `${PREFIX}:q:*`)).length;

    // About 1 MB above what Redis holds now: room for a few thousand more version keys, then eviction.
    const used = await info(cluster.cache, 'memory', 'used_memory');
    await cluster.cache.command('CONFIG', 'SET', 'maxmemory-policy', policy);
    await cluster.cache.command('CONFIG', 'SET', 'maxmemory', String(used + 1_000_000));
    let versionsLeft = versionsBefore;
    let flooded = 0;
    try {
      // Flood with moves of tags nobody reads until Redis has evicted a good share of the versions entries depend on.
      while (versionsLeft > versionsBefore * 0.6 && flooded < 60_000) {
        await A.call('invalidateTags', { prefix: `flood-${flooded}-`, count: 4_000, perCall: 50, concurrency: 4 });
        flooded += 4_000;
        versionsLeft = await watched();
      }
      const entriesLeft = (await keys(cluster.cache, `${PREFIX}:q:*`)).length;
      const evicted = await info(cluster.cache, 'stats', 'evicted_keys');

      await readEach(ledger, B, specs);
      await readEach(ledger, C, specs);
      await readEach(ledger, B, specs);
      const verdict = ledger.verdict(['B', 'C']);
      console.log(
        `${summary(`maxmemory ${policy}, ${flooded} distinct tag moves`, verdict)}; Redis evicted ${evicted} keys: ` +
          `versions read by entries ${versionsBefore} -> ${versionsLeft}, entries ${entriesBefore} -> ${entriesLeft}`,
      );
      expect(versionsLeft).toBeLessThan(versionsBefore);
      expect(verdict.stale, staleReport(verdict)).toBe(0);
      expect(verdict.foreign).toBe(0);
    } finally {
      await cluster.cache.command('CONFIG', 'SET', 'maxmemory', '0');
      await cluster.cache.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
  });
});
