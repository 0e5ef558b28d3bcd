import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyFormat } from '../../../src/engine/keys.js';
import { createCaching } from '../../../src/index.js';
import { createRedisStore } from '../../../src/stores/redis/index.js';
import { keySlot } from '../../../src/stores/redis/slots.js';
import { type ClusterNode, type RedisCluster, startCluster } from '../../support/cluster.js';
import { createAdversityApp, memoryCounterDb } from '../../support/procs/app.js';
import { ClusterWorker, type ClusterWorkerStats } from '../../support/procs/cluster-workers.js';
import { eventually, everyRead, Ledger, seeded, sleep, staleReport, summary } from '../../support/procs/driver.js';
import type { ReadSpec } from '../../support/procs/protocol.js';
import { type RedisServer, startRedis } from '../../support/redis.js';

/** The slot of the versions every hit reads (`all`, the path's, the anonymous scope's): a node that holds it serves every hit. */
const SHARED_SLOT = keySlot('trpc-caching:v:{trpc-caching}:all');
const USERS = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'];
const IDS = [1, 2];
const SPECS = everyRead(USERS, IDS);

let cluster: RedisCluster;
let db: RedisServer;
let workers: ClusterWorker[] = [];

beforeAll(async () => {
  [cluster, db] = await Promise.all([startCluster({ masters: 3, replicasPerMaster: 1 }), startRedis()]);
  const roots = cluster.rootNodes.map((node) => node.url);
  workers = await Promise.all(['a', 'b', 'c'].map((name) => ClusterWorker.spawn(name, roots, db.url)));
}, 90_000);
afterAll(async () => {
  for (const worker of workers) worker.kill();
  await Promise.all([cluster?.dispose(), db?.dispose()]);
});

/** The replica of `master`, as `master` sees it. */
async function replicaOf(master: ClusterNode): Promise<ClusterNode> {
  const lines = String(await master.command('CLUSTER', 'NODES')).split('\n');
  const id = lines.map((line) => line.split(' ')).find((fields) => fields[3] === master.id && fields[2]?.includes('slave'))?.[0];
  const replica = cluster.nodes.find((node) => node.id === id);
  if (replica === undefined) throw new Error(`no replica of ${master.port}`);
  return replica;
}

/** The primary holding the most scope and tag versions (the ones mutations move), the shared slot's owner excepted. */
async function busiestPrimary(): Promise<ClusterNode> {
  const shared = await cluster.ownerOf(SHARED_SLOT);
  const counted = await Promise.all(
    (await cluster.masters()).map(async (node) => ({ node, versions: ((await node.command('KEYS', '*:v:[st]:*')) as unknown[]).length })),
  );
  const best = counted.filter(({ node }) => node !== shared).sort((x, y) => y.versions - x.versions)[0];
  if (best === undefined) throw new Error('no primary');
  return best.node;
}

/** A replication offset from `INFO replication` (`master_repl_offset` on a primary, `slave_repl_offset` on a replica). */
async function offset(node: ClusterNode, field: string): Promise<number> {
  return Number(new RegExp(`${field}:(\\d+)`).exec(String(await node.command('INFO', 'replication')))?.[1] ?? Number.NaN);
}

/** Fresh caching instances on every worker, empty Cluster and database. */
async function reset(replicaAcks: number): Promise<Ledger> {
  await Promise.all(
    workers.map((worker) =>
      worker.call('configure', { store: { replicaAcks, replicaAckTimeout: 50 }, caching: { ttl: 60_000, breakerCooldown: 1_000 } }),
    ),
  );
  await Promise.all([cluster.flush(), db.command('FLUSHALL')]);
  return new Ledger();
}

/** Reads (2 lanes a worker) and, while `mutating()`, mutations from random workers, until `done()`. */
function churn(ledger: Ledger, done: () => boolean, mutating: () => boolean): Promise<void> {
  const pick = seeded(11);
  const reads = workers.flatMap((worker) =>
    [0, 1].map(async () => {
      while (!done()) {
        await ledger.read(worker.judged, pick(SPECS) as ReadSpec);
        await sleep(2);
      }
    }),
  );
  const mutations = (async () => {
    while (!done()) {
      if (mutating()) await ledger.mutate(pick(workers).judged, pick(USERS), pick(IDS));
      await sleep(15);
    }
  })();
  return Promise.all([...reads, mutations]).then(() => {});
}

/**
 * A replica that falls behind (its replication stream held by `CLIENT PAUSE WRITE`) while mutations move versions on its
 * primary, then `fault` promotes it; reads go on after the promotion until the cache serves hits again (at least 1 s), with no
 * mutation that would move the rolled-back versions again.
 */
async function laggingFailover(replicaAcks: number, fault: 'kill' | 'takeover' | 'stop') {
  const ledger = await reset(replicaAcks);
  let done = false;
  let mutating = true;
  const churning = churn(
    ledger,
    () => done,
    () => mutating,
  );
  await sleep(1_000);
  const victim = await busiestPrimary();
  const replica = await replicaOf(victim);
  await replica.command('CLIENT', 'PAUSE', '3000', 'WRITE');
  await sleep(500);
  mutating = false;
  await sleep(50);
  const lag = (await offset(victim, 'master_repl_offset')) - (await offset(replica, 'slave_repl_offset'));
  const faultAt = performance.now();
  if (fault === 'kill') await victim.kill();
  else if (fault === 'stop') victim.process.kill('SIGSTOP');
  else await replica.command('CLUSTER', 'FAILOVER', 'TAKEOVER');
  await eventually('the lagging replica is promoted', async () => (await replica.role()) === 'master', 20_000);
  const promotedAfter = performance.now() - faultAt;
  // A stopped primary resumes after the node timeout, still believing it serves its slots until it hears otherwise.
  if (fault === 'stop') victim.process.kill('SIGCONT');
  const readsBefore = ledger.verdict().reads;
  const cachedBefore = ledger.verdict().cached;
  // Reads go on until the cache serves hits again after the failover (a busy machine reads slowly: wait for it, not for a time).
  await sleep(1_000);
  await eventually(
    'hits again after the failover',
    () => {
      const now = ledger.verdict();
      return now.reads - readsBefore >= 300 && now.cached - cachedBefore >= 100;
    },
    20_000,
  ).catch(() => {}); // judged below, with the counts
  done = true;
  await churning;
  await replica.command('CLIENT', 'UNPAUSE');
  if (fault === 'kill') await victim.restart();
  if (fault !== 'takeover')
    await eventually('the old primary rejoined as a replica', async () => (await victim.role()) === 'slave', 20_000);
  await cluster.settled();
  const verdict = ledger.verdict();
  const after = { reads: verdict.reads - readsBefore, cached: verdict.cached - cachedBefore };
  console.log(
    `${summary(`Cluster, replicaAcks ${replicaAcks}, lagging replica (${lag} bytes behind) promoted by ${fault}`, verdict)}; promoted ${promotedAfter.toFixed(0)} ms after the fault; after it: ${after.reads} reads, ${after.cached} from the cache`,
  );
  return { verdict, lag, after };
}

describe('a Redis Cluster failover, 3 primaries + 3 replicas, three app processes', () => {
  it('serves no entry from before a returned mutation after a lagging replica is promoted (replicaAcks 0, primary killed)', async () => {
    const { verdict, lag, after } = await laggingFailover(0, 'kill');
    expect(lag, 'the replica was behind its primary when it died').toBeGreaterThan(0);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
    // The cache works again after the failover: it cost misses, not the cache.
    expect(after.cached).toBeGreaterThan(0);
  }, 60_000);

  it('serves no entry from before a returned mutation after a lagging replica is promoted (replicaAcks 1, primary killed)', async () => {
    const { verdict, after } = await laggingFailover(1, 'kill');
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(after.cached).toBeGreaterThan(0);
  }, 60_000);

  it('serves no entry from before a returned mutation when a lagging replica takes over (CLUSTER FAILOVER TAKEOVER, replicaAcks 1)', async () => {
    const { verdict, after } = await laggingFailover(1, 'takeover');
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(after.cached).toBeGreaterThan(0);
  }, 60_000);

  it('serves no entry from before a returned mutation when a stopped primary resumes after its lagging replica took over (replicaAcks 0)', async () => {
    const { verdict, after } = await laggingFailover(0, 'stop');
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(after.cached).toBeGreaterThan(0);
  }, 60_000);

  it("keeps serving the healthy nodes' keys from the cache while one primary fails every read, without opening the store-wide breaker", async () => {
    await reset(0);
    const pick = seeded(5);
    const phase = async (ms: number) => {
      const ledger = new Ledger();
      const perSpec = new Map<string, { reads: number; cached: number }>();
      const end = performance.now() + ms;
      await Promise.all(
        workers.flatMap((worker) =>
          [0, 1].map(async () => {
            while (performance.now() < end) {
              const spec = pick(SPECS) as ReadSpec;
              const reply = await ledger.read(worker.judged, spec);
              const counts = perSpec.get(JSON.stringify(spec)) ?? { reads: 0, cached: 0 };
              counts.reads++;
              if (reply.cached) counts.cached++;
              perSpec.set(JSON.stringify(spec), counts);
              await sleep(2);
            }
          }),
        ),
      );
      return { verdict: ledger.verdict(), perSpec };
    };
    const breakerOpened = async () =>
      (await Promise.all(workers.map((worker) => worker.call('stats', null)))).reduce(
        (n, s) => n + (s.bypassReasons['breaker-open'] ?? 0),
        0,
      );
    await phase(1_000); // warm
    const control = await phase(2_000);
    const shared = await cluster.ownerOf(SHARED_SLOT);
    const victim = (await cluster.masters()).find((node) => node !== shared);
    if (victim === undefined) throw new Error('no primary');
    const openedBefore = await breakerOpened();
    // Every read of this node's keys fails at once (NOPERM); the other nodes are healthy.
    await victim.command('ACL', 'SETUSER', 'default', '-mget');
    let during: Awaited<ReturnType<typeof phase>>;
    let stats: ClusterWorkerStats[];
    try {
      during = await phase(3_000);
      stats = await Promise.all(workers.map((worker) => worker.call('stats', null)));
    } finally {
      await victim.command('ACL', 'SETUSER', 'default', '+mget');
    }
    const opened = (await breakerOpened()) - openedBefore;
    // The reads of keys on healthy nodes: those that still hit during the fault (a read touching the faulty node never can).
    const healthy = [...during.perSpec].filter(([, counts]) => counts.cached > 0).map(([spec]) => spec);
    const share = (counts: Map<string, { reads: number; cached: number }>, specs: readonly string[]) => {
      let reads = 0;
      let cached = 0;
      for (const spec of specs) {
        reads += counts.get(spec)?.reads ?? 0;
        cached += counts.get(spec)?.cached ?? 0;
      }
      return reads === 0 ? 0 : cached / reads;
    };
    const controlShare = share(control.perSpec, healthy);
    const faultShare = share(during.perSpec, healthy);
    const overall = during.verdict.cached / Math.max(1, during.verdict.reads);
    console.log(
      `[adversity] one Cluster primary failing every read: ${healthy.length} of ${SPECS.length} reads avoid it; their hit share ${(100 * controlShare).toFixed(0)}% before, ${(100 * faultShare).toFixed(0)}% during the fault; overall ${(100 * overall).toFixed(0)}%; store-wide breaker skipped ${opened} reads; nodes: ${JSON.stringify(stats[0]?.storeNodes)}`,
    );
    expect(healthy.length).toBeGreaterThan(0);
    expect(healthy.length).toBeLessThan(SPECS.length);
    expect(opened, 'reads skipped by the store-wide breaker').toBe(0);
    expect(faultShare).toBeGreaterThanOrEqual(controlShare * 0.9);
    for (const worker of stats) {
      expect(worker.breaker).toBe('closed');
      expect(worker.storeNodes.find((node) => node.node.endsWith(`:${victim.port}`))?.failures ?? 0).toBeGreaterThan(0);
    }
    expect(during.verdict.stale, staleReport(during.verdict)).toBe(0);
  }, 60_000);

  it('waits for a replica that fell behind for a moment before returning, instead of leaving the invalidation pending (replicaAcks 1)', async () => {
    const tag = 'shortfall-probe';
    const owner = await cluster.ownerOf(keySlot(new KeyFormat('trpc-caching', { hashTags: true }).tagVersion(tag)));
    const replica = await replicaOf(owner);
    const store = createRedisStore({ cluster: { rootNodes: cluster.rootNodes }, replicaAcks: 1, replicaAckTimeout: 50 });
    store.on('error', () => {});
    const caching = createCaching({ user: () => 'u', store, invalidationTimeout: 2_000 });
    try {
      await eventually('the store knows the cluster', () => caching.invalidate({ tags: ['warm-up'] }));
      // Held for a few WAITs' worth, well within invalidationTimeout.
      await replica.command('CLIENT', 'PAUSE', '300', 'WRITE');
      const written = await caching.invalidate({ tags: [tag] });
      expect(written, 'written, acknowledged by the replica once it caught up').toBe(true);
      expect(caching.pendingInvalidations).toBe(0);
    } finally {
      await replica.command('CLIENT', 'UNPAUSE').catch(() => {});
      caching.close();
      await store.close();
    }
  }, 30_000);

  it("retries a read that a slot's migration answers TRYAGAIN, and does not let it open the store-wide breaker", async () => {
    await cluster.flush();
    const store = createRedisStore({ cluster: { rootNodes: cluster.rootNodes } });
    store.on('error', () => {});
    await eventually('the store knows the cluster', () => store.set('probe', '1', 1_000));
    // A generous timeout: on a busy machine a slow read would count towards the breaker, which is not what this judges.
    const app = createAdversityApp(memoryCounterDb(), store, { breakerThreshold: 2, breakerCooldown: 60_000, timeout: 2_000 });
    const [ann, bob] = [{ kind: 'note', user: 'ann', id: 1 } as const, { kind: 'note', user: 'bob', id: 1 } as const];
    await eventually('both notes are served from the cache', async () => {
      for (const spec of [ann, bob, ann, bob]) await app.read(spec);
      return (await app.read(ann)).cached && (await app.read(bob)).cached;
    });
    // A user's entry and scope version share the user's slot; move the version alone to another node, as a migration in progress would.
    let version: string | undefined;
    for (const node of await cluster.masters()) {
      for (const key of (await node.command('KEYS', 'trpc-caching:v:s:*')) as string[]) {
        const owned = ((await node.command('KEYS', `trpc-caching:q:*${key.slice(key.indexOf('{'))}*`)) as string[]).length > 0;
        if (owned) version = key;
      }
    }
    if (version === undefined) throw new Error("no scope version next to a user's entry");
    const slot = keySlot(version);
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.masters()).find((node) => node !== source);
    if (target === undefined) throw new Error('no other primary');
    const direct = createClient({ url: target.url });
    await direct.connect();
    try {
      await target.command('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
      await source.command('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
      await source.command('MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', version);
      // Entries of that slot now answer TRYAGAIN (some keys here, some moved): they bypass the cache, the rest is served.
      const replies: Array<{ slot: string; cached: boolean }> = [];
      // Three of one user in a row, then three of the other: failures in a row that would open a breaker counting them.
      for (const spec of [ann, ann, ann, bob, bob, bob, ann, ann, ann, bob, bob, bob]) replies.push(await app.read(spec));
      // One user's slot is split (its reads bypass the cache), the other's is whole (its reads are all hits).
      const hitsOf = (user: string) => replies.filter((reply) => reply.slot.includes(user) && reply.cached).length;
      expect([hitsOf('ann'), hitsOf('bob')].sort()).toEqual([0, 6]);
      expect(app.caching.stats().breaker).toBe('closed');
      expect(app.errors.some((error) => error.message.includes('TRYAGAIN'))).toBe(true);
    } finally {
      await direct.sendCommand(['ASKING']).catch(() => {});
      await direct.sendCommand(['DEL', version]).catch(() => {});
      direct.destroy();
      await source.command('CLUSTER', 'SETSLOT', String(slot), 'NODE', source.id);
      await target.command('CLUSTER', 'SETSLOT', String(slot), 'NODE', source.id);
      app.caching.close();
      await store.close();
    }
  }, 30_000);

  it('asks for replicaAcks on the node that took the write when an ASK redirect sent it to the importing node', async () => {
    const key = 'ask-probe';
    const slot = keySlot(key);
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.masters()).find((node) => node !== source);
    if (target === undefined) throw new Error('no other primary');
    const targetReplica = await replicaOf(target);
    const store = createRedisStore({ cluster: { rootNodes: cluster.rootNodes }, replicaAcks: 1, replicaAckTimeout: 50 });
    store.on('error', () => {});
    const direct = createClient({ url: target.url });
    await direct.connect();
    try {
      await eventually('the store knows the cluster', () => store.set('probe', '1', 1_000));
      await target.command('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
      await source.command('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
      // The importing node's replica falls behind; the source's replica is in sync.
      await targetReplica.command('CLIENT', 'PAUSE', '2000', 'WRITE');
      const behind = await store.setMany([{ key, value: '1', ttl: 10_000 }]);
      await targetReplica.command('CLIENT', 'UNPAUSE');
      const inSync = await store.setMany([{ key, value: '2', ttl: 10_000 }]);
      await direct.sendCommand(['ASKING']);
      const landed = await direct.sendCommand(['GET', key]);
      expect(landed, 'the write landed on the importing node').toBe('2');
      // Keyv answers `false` for each key of a write that failed, and nothing in particular for one that succeeded.
      expect(behind, 'not acknowledged by the replica of the node that holds it').toEqual([false]);
      expect(inSync, 'acknowledged once that replica caught up').not.toEqual([false]);
    } finally {
      await direct.sendCommand(['ASKING']).catch(() => {});
      await direct.sendCommand(['DEL', key]).catch(() => {});
      direct.destroy();
      await targetReplica.command('CLIENT', 'UNPAUSE').catch(() => {});
      await source.command('CLUSTER', 'SETSLOT', String(slot), 'NODE', source.id);
      await target.command('CLUSTER', 'SETSLOT', String(slot), 'NODE', source.id);
      await store.close();
    }
  }, 30_000);
});
