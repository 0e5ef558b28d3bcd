import { afterEach, describe, expect, it } from 'vitest';
import { storeKinds } from '../support/stores.js';
import { createRestApp, serveRestApp } from './app.js';
import { rest, trpcClient } from './clients.js';

describe.each(storeKinds())('REST through trpc-to-openapi on $name', (kind) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const start = async () => {
    const app = createRestApp(await kind.fresh());
    const served = await serveRestApp(app);
    close = served.close;
    return { app, url: served.url };
  };

  it('serves a second identical GET from the cache without running the resolver', async () => {
    const { app, url } = await start();
    const first = await rest(url, 'alice', '/posts/1');
    const second = await rest(url, 'alice', '/posts/1');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(second.body).toMatchObject({ id: 1, title: 'Alice one' });
    expect(app.calls['post.byId']).toBe(1);
    expect(app.errors).toEqual([]);
  });

  it("does not serve alice's list to bob, nor to an anonymous caller", async () => {
    const { app, url } = await start();
    const alice = await rest(url, 'alice', '/posts');
    const bob = await rest(url, 'bob', '/posts');
    expect(bob.headers.get('x-cache')).toBe('MISS');
    expect((alice.body as { id: number }[]).map((p) => p.id)).toEqual([1]);
    expect((bob.body as { id: number }[]).map((p) => p.id)).toEqual([1, 2]);
    expect((await rest(url, null, '/posts')).status).toBe(401);
    expect((await rest(url, 'bob', '/posts')).headers.get('x-cache')).toBe('HIT');
    expect(app.calls['post.list']).toBe(2);
  });

  it('keys REST inputs from the query string: another page is another entry', async () => {
    const { app, url } = await start();
    await rest(url, 'alice', '/posts?page=1');
    expect((await rest(url, 'alice', '/posts?page=2')).headers.get('x-cache')).toBe('MISS');
    expect((await rest(url, 'alice', '/posts?page=1')).headers.get('x-cache')).toBe('HIT');
    expect(app.calls['post.list']).toBe(2);
  });

  it('a REST mutation invalidates what the tRPC query reads, for the owner and for the user it is shared with', async () => {
    const { app, url } = await start();
    const alice = trpcClient(url, 'alice').client;
    const bob = trpcClient(url, 'bob').client;
    await alice.post.byId.query({ id: 1 });
    await bob.post.list.query({});
    expect((await alice.post.byId.query({ id: 1 })).title).toBe('Alice one');
    expect(app.calls).toMatchObject({ 'post.byId': 1, 'post.list': 1 });

    const patched = await rest(url, 'alice', '/posts/1', { method: 'PATCH', body: { title: 'Renamed over REST' } });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('cache-control')).toBe('no-store');

    expect((await alice.post.byId.query({ id: 1 })).title).toBe('Renamed over REST');
    expect((await bob.post.list.query({}))[0]?.title).toBe('Renamed over REST');
    expect(app.calls).toMatchObject({ 'post.byId': 2, 'post.list': 2 });
  });

  it('a tRPC mutation invalidates what the REST query reads', async () => {
    const { app, url } = await start();
    expect((await rest(url, 'bob', '/posts/1')).headers.get('x-cache')).toBe('MISS');
    expect((await rest(url, 'bob', '/posts/1')).headers.get('x-cache')).toBe('HIT');
    await trpcClient(url, 'alice').client.post.update.mutate({ id: 1, title: 'Renamed over tRPC' });
    const after = await rest(url, 'bob', '/posts/1');
    expect(after.headers.get('x-cache')).toBe('MISS');
    expect(after.body).toMatchObject({ title: 'Renamed over tRPC' });
    expect(app.calls['post.byId']).toBe(2);
  });

  it('a failed REST mutation invalidates nothing', async () => {
    const { url } = await start();
    await rest(url, 'bob', '/posts/1');
    const denied = await rest(url, 'bob', '/posts/1', { method: 'PATCH', body: { title: 'not mine' } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('cache-control')).toBe('no-store');
    expect((await rest(url, 'bob', '/posts/1')).headers.get('x-cache')).toBe('HIT');
  });

  it('invalidates a path target over REST for every user, public entries excepted', async () => {
    const { url } = await start();
    await rest(url, 'alice', '/posts');
    await rest(url, 'bob', '/posts/2');
    await rest(url, 'bob', '/feed');
    await rest(url, 'carol', '/posts/reset', { method: 'POST', body: {} });
    expect((await rest(url, 'alice', '/posts')).headers.get('x-cache')).toBe('MISS');
    expect((await rest(url, 'bob', '/posts/2')).headers.get('x-cache')).toBe('MISS');
    expect((await rest(url, 'bob', '/feed')).headers.get('x-cache')).toBe('HIT');
  });

  it('shares one public entry between callers over REST, with public headers', async () => {
    const { app, url } = await start();
    const alice = await rest(url, 'alice', '/feed');
    const anonymous = await rest(url, null, '/feed');
    expect(alice.headers.get('x-cache')).toBe('MISS');
    expect(anonymous.headers.get('x-cache')).toBe('HIT');
    expect(anonymous.headers.get('cache-control')).toBe('public, max-age=120');
    expect(anonymous.headers.get('vary')).toBeNull();
    expect(app.calls.feed).toBe(1);
  });
});
