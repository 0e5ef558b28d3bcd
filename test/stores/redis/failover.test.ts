import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../../src/stores/redis/index.js';
import { keySlot } from '../../../src/stores/redis/slots.js';
import { type RedisCluster, SERVERS, startCluster } from '../../support/cluster.js';
import { fleet } from '../../support/fleet.js';
import { eventually } from '../../support/redis-store.js';

for (const { binary, skip } of SERVERS) {
  if (skip !== undefined) console.log(`[redis failover] skipping the ${binary} suite: ${skip}`);
  describe.skipIf(skip !== undefined)(`createRedisStore on a Redis Cluster with replicas, 3 primaries + 3 (${binary})`, () => {
    let cluster: RedisCluster;
    const stores: RedisStore[] = [];
    beforeAll(async () => {
      cluster = await startCluster({ masters: 3, replicasPerMaster: 1, binary });
    }, 60_000);
    afterAll(async () => {
      for (const store of stores) await store.close().catch(() => {});
      await cluster?.dispose();
    });
    const connected = async (): Promise<RedisStore> => {
      // replicaAcks: a version write counts only once the primary's replica has it, so a failover cannot lose it.
      const store = createRedisStore({ cluster: { rootNodes: cluster.rootNodes }, replicaAcks: 1, replicaAckTimeout: 200 });
      stores.push(store);
      store.on('error', () => {});
      await eventually('the store knows the cluster', () => store.set('probe', '1', 1_000));
      return store;
    };

    it("keeps answering while a killed primary's replica takes over, serves nothing stale, and drains its invalidations once the old primary is back", async () => {
      const ships = fleet();
      const [a, b] = [ships.join(await connected()), ships.join(await connected())];
      let running = true;
      const churning = ships.churn(() => !running);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The primary of the versions every hit reads: the worst one to lose.
      const victim = await cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'));
      const killedAt = performance.now();
      await victim.kill();
      await eventually(
        'a replica serves its slots',
        async () => (await cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'))) !== victim,
        30_000,
      );
      await cluster.settled();
      const promotedAfter = performance.now() - killedAt;
      const successor = await cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'));
      expect(successor).not.toBe(victim);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // Before the old primary is back: both instances found the replica that took over (a dead node sends no MOVED).
      // A user nobody mutated, so that no pending invalidation covers the read.
      const untouched = { kind: 'note', user: 'zed', id: 1 } as const;
      await eventually(
        'both instances serve hits from the new primary',
        async () => {
          await ships.read(a, untouched);
          return (await ships.read(a, untouched)).cached && (await ships.read(b, untouched)).cached;
        },
        10_000,
      );
      // Back as a replica of its successor: writes to that shard are acknowledged again.
      await victim.restart();
      await eventually('the old primary rejoined as a replica', async () => (await victim.role()) === 'slave', 20_000);
      await eventually(
        'no invalidation is pending',
        () => a.caching.pendingInvalidations === 0 && b.caching.pendingInvalidations === 0,
        20_000,
      );
      await eventually(
        'both instances serve hits',
        async () => {
          const spec = ships.specs[0];
          if (spec === undefined) return false;
          await ships.read(a, spec);
          return (await ships.read(a, spec)).cached && (await ships.read(b, spec)).cached;
        },
        10_000,
      );
      running = false;
      const failed = await churning;
      const late = ships.join(await connected());
      for (const spec of ships.specs) {
        const reply = await ships.read(late, spec);
        expect(reply.value, reply.slot).toBe(await ships.db.get(reply.slot));
      }
      const verdict = ships.verdict();
      console.log(
        `[redis failover] ${verdict.reads} reads (${verdict.cached} from the cache), ${verdict.mutations} mutations, stale ${verdict.stale}, failed calls ${failed}; replica promoted ${promotedAfter.toFixed(0)} ms after the kill`,
      );
      // Every call was answered (a cache fault never fails a procedure), and none with data from before a returned mutation.
      expect(failed).toBe(0);
      expect(verdict.stale, verdict.examples.join('\n')).toBe(0);
      expect(verdict.mutations).toBeGreaterThan(10);
    }, 90_000);
  });
}
