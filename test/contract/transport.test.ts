import { afterEach, describe, expect, it } from 'vitest';
import { createContractApp } from '../support/apps/contract.js';
import { contractClient, serveContractApp } from '../support/apps/contract-http.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('transports on $name', (kind) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const start = async () => {
    const app = createContractApp(await kind.fresh());
    const served = await serveContractApp(app);
    close = served.close;
    return { app, url: served.url, requests: served.requests };
  };

  it('serves hits through createCaller without running the resolver', async () => {
    const { app } = await start();
    const alice = app.caller('alice');
    const miss = await alice.post.list({ page: 3 });
    expect(await alice.post.list({ page: 3 })).toEqual(miss);
    expect(app.runs('post.list', 'alice', { page: 3 })).toBe(1);
    expect(app.errors).toEqual([]);
  });

  it('serves a whole httpBatchLink batch from the cache on its second round', async () => {
    const { app, url, requests } = await start();
    const alice = contractClient(url, 'alice');
    const round = () => Promise.all([alice.post.list.query({ page: 1 }), alice.post.byId.query({ id: 1 }), alice.feed.query()]);
    const first = await round();
    const second = await round();
    expect(second).toEqual(first);
    // Each round was one HTTP request carrying three calls.
    expect(requests()).toBe(2);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    expect(app.runs('post.byId', 'alice', { id: 1 })).toBe(1);
    expect(app.runs('feed', null)).toBe(1);
  });

  it('returns a cached Date, Map, Set and BigInt over HTTP with their types', async () => {
    const { app, url } = await start();
    const alice = contractClient(url, 'alice');
    const miss = await alice.value.query('rich');
    const hit = await alice.value.query('rich');
    expect(app.runs('value', 'alice', 'rich')).toBe(1);
    expect(hit).toStrictEqual(miss);
    expect(hit).toStrictEqual(await app.caller('alice').value('rich'));
    if (typeof hit !== 'object' || hit === null || !('when' in hit)) throw new Error('expected the rich sample');
    expect(hit.when).toBeInstanceOf(Date);
    expect(hit.byId).toBeInstanceOf(Map);
    expect(hit.tags).toBeInstanceOf(Set);
    expect(typeof hit.big).toBe('bigint');
  });

  it('shares entries between HTTP and createCaller for the same user, and keeps users apart on both', async () => {
    const { app, url } = await start();
    const overHttp = await contractClient(url, 'alice').echo.query({ q: 'inbox' });
    expect(await app.caller('alice').echo({ q: 'inbox' })).toEqual(overHttp);
    expect(app.runs('echo', 'alice', { q: 'inbox' })).toBe(1);
    expect(await contractClient(url, 'bob').echo.query({ q: 'inbox' })).toEqual({ run: 1 });
    expect(await contractClient(url, null).echo.query({ q: 'inbox' })).toEqual({ run: 1 });
    expect(app.runs('echo', 'bob', { q: 'inbox' })).toBe(1);
    expect(app.runs('echo', null, { q: 'inbox' })).toBe(1);
  });

  it('makes a mutation sent over HTTP visible to the next query of every affected user, by HTTP and by createCaller', async () => {
    const { app, url } = await start();
    const alice = contractClient(url, 'alice');
    const bob = contractClient(url, 'bob');
    const carol = contractClient(url, 'carol');
    for (const client of [alice, bob, carol]) {
      await Promise.all([client.post.list.query(), client.comment.list.query()]);
    }
    await bob.post.share.mutate({ with: ['alice', 'carol'] });
    const [aliceList, aliceComments, bobList, carolList] = await Promise.all([
      alice.post.list.query(),
      alice.comment.list.query(),
      bob.post.list.query(),
      carol.post.list.query(),
    ]);
    expect(aliceList.rev).toBe(1);
    expect(aliceComments.rev).toBe(1);
    expect(carolList.rev).toBe(1);
    expect((await app.caller('carol').comment.list()).rev).toBe(1);
    // Bob acted with self: false and is not linked: his entries still hit.
    expect(bobList.rev).toBe(0);
    expect(app.runs('post.list', 'bob')).toBe(1);
    expect(app.runs('post.list', 'alice')).toBe(2);
  });
});
