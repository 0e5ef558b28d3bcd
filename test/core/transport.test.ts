import { afterEach, describe, expect, it } from 'vitest';
import { createRestApp, serveRestApp } from '../http/app.js';
import { trpcClient } from '../http/clients.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('transports on $name', (kind) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const start = async () => {
    const app = createRestApp(await kind.fresh());
    const served = await serveRestApp(app);
    close = served.close;
    const callers = app.t.createCallerFactory(app.router);
    return { app, url: served.url, caller: (id: string | null) => callers({ user: id === null ? null : { id } }) };
  };

  it('serves hits through createCaller without running the resolver', async () => {
    const { app, caller } = await start();
    const alice = caller('alice');
    const miss = await alice.post.list({});
    expect(await alice.post.list({})).toEqual(miss);
    expect(await alice.post.list({ page: 1 })).toEqual(miss);
    expect(app.calls['post.list']).toBe(2);
    expect(app.errors).toEqual([]);
  });

  it('serves a whole httpBatchLink batch from the cache on its second round', async () => {
    const { app, url } = await start();
    const { client, responses } = trpcClient(url, 'alice', { batch: true });
    const round = () => Promise.all([client.post.list.query({}), client.post.byId.query({ id: 1 }), client.feed.query({})]);
    const first = await round();
    const second = await round();
    expect(second).toEqual(first);
    // Each round was one HTTP request carrying three calls.
    expect(responses).toHaveLength(2);
    expect(responses[1]?.get('x-cache')).toBe('HIT, HIT, HIT');
    expect(app.calls).toEqual({ 'post.list': 1, 'post.byId': 1, feed: 1 });
  });

  it('shares entries between HTTP and createCaller for the same user, and keeps users apart on both', async () => {
    const { app, url, caller } = await start();
    const overHttp = await trpcClient(url, 'alice', { batch: true }).client.post.byId.query({ id: 1 });
    expect(await caller('alice').post.byId({ id: 1 })).toEqual(overHttp);
    expect(app.calls['post.byId']).toBe(1);
    // Bob may read post 1 (shared with him) but gets his own entry, not Alice's.
    expect(await trpcClient(url, 'bob', { batch: true }).client.post.byId.query({ id: 1 })).toEqual(overHttp);
    expect(app.calls['post.byId']).toBe(2);
    const bobList = await trpcClient(url, 'bob', { batch: true }).client.post.list.query({});
    const aliceList = await caller('alice').post.list({});
    expect(bobList.map((p) => p.id)).toEqual([1, 2]);
    expect(aliceList.map((p) => p.id)).toEqual([1]);
  });

  it('makes a mutation sent over HTTP visible to the next query of every affected user, by HTTP and by createCaller', async () => {
    const { app, url, caller } = await start();
    const alice = trpcClient(url, 'alice', { batch: true }).client;
    const bob = trpcClient(url, 'bob', { batch: true }).client;
    const carol = trpcClient(url, 'carol', { batch: true }).client;
    await Promise.all([alice.post.byId.query({ id: 1 }), alice.post.list.query({})]);
    await Promise.all([bob.post.byId.query({ id: 1 }), bob.post.list.query({}), bob.post.byId.query({ id: 2 })]);
    await carol.post.list.query({});
    expect(app.calls).toEqual({ 'post.byId': 3, 'post.list': 3 });

    await alice.post.update.mutate({ id: 1, title: 'Edited' });
    const [aliceAfter, bobAfter, bobList, bobOwn] = await Promise.all([
      alice.post.byId.query({ id: 1 }),
      bob.post.byId.query({ id: 1 }),
      bob.post.list.query({}),
      bob.post.byId.query({ id: 2 }),
    ]);
    expect(aliceAfter.title).toBe('Edited');
    expect(bobAfter.title).toBe('Edited');
    expect(bobList.find((p) => p.id === 1)?.title).toBe('Edited');
    expect((await caller('bob').post.byId({ id: 1 })).title).toBe('Edited');
    // Bob is a linked user of post 1, so his whole scope moved, post 2 included.
    expect(bobOwn.title).toBe('Bob one');
    expect(app.calls).toEqual({ 'post.byId': 6, 'post.list': 4 });
    // Carol is neither the actor nor linked, and her list has no tag of post 1: still a hit.
    expect(await carol.post.list.query({})).toEqual([]);
    expect(app.calls['post.list']).toBe(4);
  });
});
