import { describe, expect, it } from 'vitest';
import { KeyFormat } from '../../../src/engine/keys.js';
import { keySlot } from '../../../src/stores/redis/slots.js';
import { createContractApp } from '../../support/apps/contract.js';
import { SERVERS } from '../../support/cluster.js';
import { fileCluster } from '../../support/cluster-file.js';
import { fleet } from '../../support/fleet.js';
import { eventually } from '../../support/redis-store.js';

for (const { binary, skip } of SERVERS) {
  if (skip !== undefined) console.log(`[redis cluster] skipping the ${binary} suite: ${skip}`);
  describe.skipIf(skip !== undefined)(`createRedisStore on a 3-primary Redis Cluster (${binary})`, () => {
    const redis = fileCluster({ masters: 3, binary });
    /** MGETs per node (by port) during `action`, and every other command the nodes counted meanwhile. */
    const commandsPerNode = async (action: () => Promise<unknown>) => {
      await redis.cluster.resetStats();
      await action();
      const perNode = await Promise.all(redis.cluster.nodes.map(async (node) => ({ port: node.port, counts: await node.commandCounts() })));
      const mgets = perNode.map(({ counts }) => counts.mget ?? 0);
      const others = perNode.flatMap(({ counts }) => Object.keys(counts).filter((name) => name !== 'mget' && !name.startsWith('config')));
      return { mgets, total: mgets.reduce((a, b) => a + b, 0), others };
    };

    it('hashes every key the library writes to the slot Redis does, and puts each lease in its entry slot', async () => {
      const keys = new KeyFormat('trpc-caching', { hashTags: true });
      const user = keys.scopeSegment({ kind: 'user', id: 'alice' });
      const entries = [
        keys.entry('post.list', user, 'a'.repeat(32)),
        keys.entry('post.list', 'anon', 'b'.repeat(32)),
        keys.entry('feed', 'public', 'c'.repeat(32)),
        keys.entry('wëird{path}', user, 'd'.repeat(32)),
      ];
      const versions = [
        keys.allVersion(),
        keys.scopeVersion(user),
        keys.scopeVersion('anon'),
        keys.tagVersion('post:{1}'),
        ...keys.pathVersions('a.b'),
      ];
      const node = redis.cluster.nodes[0];
      for (const key of [...entries, ...versions, ...entries.map((entry) => keys.lease(entry)), 'foo', '{user1000}.following', 'ключ']) {
        expect(keySlot(key), key).toBe(Number(await node?.command('CLUSTER', 'KEYSLOT', key)));
      }
      for (const entry of entries) expect(keySlot(keys.lease(entry)), entry).toBe(keySlot(entry));
      // The layout's point: a user's entry with the user's version, the versions every hit reads together.
      expect(keySlot(entries[0] as string)).toBe(keySlot(keys.scopeVersion(user)));
      expect(new Set([keys.allVersion(), keys.scopeVersion('anon'), ...keys.pathVersions('a.b')].map(keySlot)).size).toBe(1);
      // The plain layout is unchanged.
      expect(new KeyFormat('trpc-caching').allVersion()).toBe('trpc-caching:v:all');
    });

    it("serves a hit in one round of 2 MGETs: one on the user's node, one on the node of the shared versions", async () => {
      await redis.cluster.flush();
      const app = createContractApp(await redis.connected());
      const alice = app.caller('alice');
      await alice.post.list({ page: 1 });
      const list = await commandsPerNode(() => alice.post.list({ page: 1 }));
      expect(list.total).toBe(2);
      expect(list.others).toEqual([]);
      // A tag's version has a slot of its own (tags are unbounded: they must spread), so a tagged query costs one more.
      await alice.post.byId({ id: 1 });
      expect((await commandsPerNode(() => alice.post.byId({ id: 1 }))).total).toBe(3);
      await alice.feed();
      expect((await commandsPerNode(() => alice.feed())).total).toBe(3);
      expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    });

    it('invalidates through every target, across two caching instances sharing the Cluster', async () => {
      await redis.cluster.flush();
      const [one, two] = [createContractApp(await redis.connected()), createContractApp(await redis.connected())];
      const reader = one.caller('alice');
      const moves = [
        () => two.caller('alice').post.touch(),
        () => two.caller('bob').post.share({ with: ['alice'] }),
        () => two.caller('bob').post.reset(),
        () => two.caller('bob').post.relist(),
        () => two.caller('bob').jobs.wipe(),
      ];
      for (const move of moves) {
        await reader.post.list({ page: 1 });
        const runs = one.runs('post.list', 'alice', { page: 1 });
        await reader.post.list({ page: 1 });
        expect(one.runs('post.list', 'alice', { page: 1 })).toBe(runs);
        await move();
        await reader.post.list({ page: 1 });
        expect(one.runs('post.list', 'alice', { page: 1 })).toBe(runs + 1);
      }
      await reader.post.byId({ id: 3 });
      await two.caller('bob').post.retag({ id: 3 });
      await reader.post.byId({ id: 3 });
      expect(one.runs('post.byId', 'alice', { id: 3 })).toBe(2);
      await reader.feed();
      await two.caller('bob').jobs.publish();
      await reader.feed();
      expect(one.totalRuns('feed')).toBe(2);
    });

    it('serves no stale read while slots move, leaves no invalidation pending, hits again within seconds, and a process started after the move reads fresh data', async () => {
      await redis.cluster.flush();
      const ships = fleet();
      const [a, b] = [ships.join(await redis.connected()), ships.join(await redis.connected())];
      // Move every slot of the node that holds the versions every hit reads, keys and all, while both instances work.
      const shared = await redis.cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'));
      const target = (await redis.cluster.masters()).find((node) => node !== shared);
      if (target === undefined) throw new Error('no other primary');
      let moving = true;
      const churning = ships.churn(() => !moving);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await redis.cluster.reshard(shared, target);
      await redis.cluster.settled();
      const movedAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      moving = false;
      await churning;
      await ships.drained([a, b], 5_000);
      // Hits resume: a read repeated on each instance is served from the cache.
      await ships.hitting([a, b], 5_000);
      const hitsBackAfter = performance.now() - movedAt;
      // A process that starts now reads every slot as the database has it.
      for (const { reply, current } of await ships.readEvery(ships.join(await redis.connected()))) {
        expect(reply.value, reply.slot).toBe(current);
      }
      const verdict = ships.verdict();
      console.log(
        `[redis cluster] reshard: ${verdict.reads} reads (${verdict.cached} from the cache), ${verdict.mutations} mutations, stale ${verdict.stale}, hits back ${hitsBackAfter.toFixed(0)} ms after the move`,
      );
      expect(verdict.stale, verdict.examples.join('\n')).toBe(0);
      expect(verdict.mutations).toBeGreaterThan(10);
      expect(await redis.cluster.ownerOf(keySlot('trpc-caching:v:{trpc-caching}:all'))).toBe(target);
    }, 60_000);

    it('runs the resolver once when instances miss the same entry at once (lock), the lease in the entry slot', async () => {
      await redis.cluster.flush();
      let runs = 0;
      const apps = await Promise.all(
        [0, 1, 2].map(async () => {
          const app = createContractApp(await redis.connected(), { lock: true });
          return app;
        }),
      );
      apps[0]?.gate.close();
      const first = apps[0]?.caller('alice').gated({ id: 1 });
      await apps[0]?.gate.arrivals(1);
      await eventually('the lease is taken', async () => {
        for (const node of await redis.cluster.masters())
          if (((await node.command('KEYS', 'trpc-caching:l:*')) as string[]).length > 0) return true;
        return false;
      });
      const rest = apps.slice(1).flatMap((app) => [app.caller('alice').gated({ id: 1 }), app.caller('alice').gated({ id: 1 })]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      apps[0]?.gate.open();
      const answers = await Promise.all([first, ...rest]);
      for (const app of apps) runs += app.totalRuns('gated');
      expect(runs).toBe(1);
      expect(new Set(answers.map((answer) => JSON.stringify(answer))).size).toBe(1);
    });
  });
}
