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
    expect(alice.events[0]).toMatchObject({ source: 'live', all: true, reset: 'bus' });
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
