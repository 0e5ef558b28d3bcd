// The live invalidation stream across processes on a Redis Cluster: a move made through one createCaching instance
// reaches a page served by another over sharded pub/sub, and when the primary of the channel's slot dies, the page
// hears every later move or is told to reset: never misses one silently.
import { afterEach, describe, expect, it } from 'vitest';
import type { InvalidationEvent } from '../../../src/client/index.js';
import { keySlot } from '../../../src/stores/redis/slots.js';
import { clientApp, clientFor, type ServedApp, seedPosts, serve, until } from '../../client/app.js';
import { fileCluster } from '../../support/cluster-file.js';
import { eventually } from '../../support/redis-store.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

/** A served app, closed after the test. */
async function served(app: ReturnType<typeof clientApp>): Promise<ServedApp> {
  const server = await serve(app);
  open.push({ close: () => server.close() }, { close: () => app.caching.close() });
  return server;
}

/** A user's page with the live stream open, collecting the invalidations it is told of. */
async function page(url: string, user: string) {
  const abort = new AbortController();
  const events: InvalidationEvent[] = [];
  const live: unknown[] = [];
  const client = clientFor(url, user, {
    live: true,
    signal: abort.signal,
    onInvalidate: (event) => events.push(event),
    onLive: (value) => live.push(value),
  });
  open.push({ close: () => abort.abort() });
  await client.post.byId.query({ id: 1 });
  await until(() => live.length > 0, 10_000, 'the live stream to be ready');
  return { events };
}

const CHANNEL_SLOT = keySlot('trpc-caching:invalidations');

describe('the live stream across processes, on createRedisStore({ cluster }) with replicas', () => {
  const redis = fileCluster({ masters: 3, replicasPerMaster: 1 });

  it('carries a move made through one createCaching instance to a page served by another, over the Cluster', async () => {
    const posts = seedPosts();
    const one = await served(clientApp(await redis.connected(), { posts }));
    const two = await served(clientApp(await redis.connected(), { posts }));
    const alice = await page(one.url, 'alice');
    await clientFor(two.url, 'bob', {}).post.rename.mutate({ id: 1, title: 'from the other server' });
    await until(() => alice.events.length > 0, 5_000, "bob's move on alice's page");
    expect(alice.events).toMatchObject([{ source: 'live', tags: ['post:1'] }]);
  });

  it("keeps carrying moves after a manual failover of the channel's primary (the old one stays up, as a replica)", async () => {
    const posts = seedPosts();
    const one = await served(clientApp(await redis.connected(), { posts }));
    const two = await served(clientApp(await redis.connected(), { posts }));
    const alice = await page(one.url, 'alice');
    const bob = clientFor(two.url, 'bob', {});
    const primary = await redis.cluster.ownerOf(CHANNEL_SLOT);
    const roles = await Promise.all(redis.cluster.nodes.map(async (node) => ({ node, role: (await node.command('ROLE')) as unknown[] })));
    const replica = roles.find(({ role }) => role[0] === 'slave' && Number(role[2]) === primary.port)?.node;
    if (replica === undefined) throw new Error(`no replica of ${primary.port}`);
    await replica.command('CLUSTER', 'FAILOVER');
    await eventually('the replica serves the channel', async () => (await redis.cluster.ownerOf(CHANNEL_SLOT)) === replica, 15_000);
    // Every move from now on reaches the page, as itself or behind a reset: a subscriber that re-subscribed on the old
    // primary (now a replica, which serves SSUBSCRIBE too) before its slot map showed the successor moves once more
    // when it does, and a move published in that window arrives as a reset. None is missed silently, and once the
    // subscriber listens on the successor, moves arrive as themselves.
    const told = async (id: number): Promise<'itself' | 'reset'> => {
      const before = alice.events.length;
      await bob.post.rename.mutate({ id, title: `after the manual failover ${Date.now()}` });
      await until(
        () => alice.events.slice(before).some((event) => event.reset === 'bus' || event.tags.includes(`post:${id}`)),
        10_000,
        `the move of post ${id} (or a reset) on alice's page`,
      );
      return alice.events.slice(before).some((event) => event.tags.includes(`post:${id}`)) ? 'itself' : 'reset';
    };
    const outcomes: Array<'itself' | 'reset'> = [];
    for (let round = 0; round < 20 && outcomes.at(-1) !== 'itself'; round++) outcomes.push(await told(1 + (round % 2)));
    expect(outcomes.at(-1), `outcomes: ${outcomes.join(', ')}`).toBe('itself');
  });

  it("tells the page to reset when the primary of the channel's slot dies, and carries later moves from its successor", async () => {
    const posts = seedPosts();
    const one = await served(clientApp(await redis.connected(), { posts }));
    const two = await served(clientApp(await redis.connected(), { posts }));
    const alice = await page(one.url, 'alice');
    const bob = clientFor(two.url, 'bob', {});
    const victim = await redis.cluster.ownerOf(CHANNEL_SLOT);
    await victim.kill();
    // Made while the channel's primary is down, before its replica takes over: nobody can hear its publish.
    await bob.post.rename.mutate({ id: 1, title: 'during the failover' });
    await eventually('a replica serves the channel', async () => (await redis.cluster.ownerOf(CHANNEL_SLOT)) !== victim, 30_000);
    // The subscriber moves to the new primary and says it may have missed something: the page invalidates everything.
    await until(() => alice.events.length > 0, 15_000, "the reset (or the move) on alice's page");
    // (Its publish failed while the primary was down, so this is the reset; were the mutation slow enough to publish
    // on the successor after the subscriber moved there, the move itself would do.)
    expect(alice.events[0]).toSatisfy((event: InvalidationEvent) => event.reset === 'bus' || event.tags.includes('post:1'));
    // Listening on the successor: a later move arrives as itself.
    const heard = alice.events.length;
    await eventually(
      "a later move reaches alice's page",
      async () => {
        await bob.post.rename.mutate({ id: 2, title: `after the failover ${Date.now()}` });
        return until(() => alice.events.slice(heard).some((event) => event.tags.includes('post:2') === true), 1_000, 'the move').then(
          () => true,
          () => false,
        );
      },
      20_000,
    );
  });
});
