import { describe, expect, it } from 'vitest';
import { keySlot } from '../../../src/stores/redis/slots.js';
import { SERVERS } from '../../support/cluster.js';
import { fileCluster } from '../../support/cluster-file.js';
import { fleet } from '../../support/fleet.js';
import { eventually } from '../../support/redis-store.js';

for (const { binary, skip } of SERVERS) {
  if (skip !== undefined) console.log(`[redis failover] skipping the ${binary} suite: ${skip}`);
  describe.skipIf(skip !== undefined)(`createRedisStore on a Redis Cluster with replicas, 3 primaries + 3 (${binary})`, () => {
    // replicaAcks: a version write counts only once the primary's replica has it, so a failover cannot lose it.
    const redis = fileCluster({ masters: 3, replicasPerMaster: 1, binary }, { replicaAcks: 1, replicaAckTimeout: 200 });

    it("keeps answering while a killed primary's replica takes over, serves nothing stale, and drains its invalidations once the old primary is back", async () => {
      const ships = fleet();
      const [a, b] = [ships.join(await redis.connected()), ships.join(await redis.connected())];
      let running = true;
      const churning = ships.churn(() => !running);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The primary of the versions every hit reads: the worst one to lose.
      const victim = await redis.cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'));
      const killedAt = performance.now();
      await victim.kill();
      await eventually(
        'a replica serves its slots',
        async () => (await redis.cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'))) !== victim,
        30_000,
      );
      await redis.cluster.settled();
      const promotedAfter = performance.now() - killedAt;
      const successor = await redis.cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'));
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
      await ships.drained([a, b], 20_000);
      await ships.hitting([a, b], 10_000);
      running = false;
      const failed = await churning;
      for (const { reply, current } of await ships.readEvery(ships.join(await redis.connected()))) {
        expect(reply.value, reply.slot).toBe(current);
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
