import { describe, expect, it } from 'vitest';
import { restAppStarter } from '../support/apps/rest.js';
import { rest, trpcClient } from '../support/clients.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('REST through trpc-to-openapi on $name', (kind) => {
  const start = restAppStarter(kind);

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

  it('keeps users apart under many concurrent REST requests for the same URL', async () => {
    const { app, url } = await start();
    const users = ['alice', 'bob', 'carol'] as const;
    const results = await Promise.all(
      Array.from({ length: 45 }, async (_, i) => {
        const user = users[i % 3] ?? 'alice';
        return { user, response: await rest(url, user, '/posts') };
      }),
    );
    const expected = { alice: [1], bob: [1, 2], carol: [] };
    for (const { user, response } of results) {
      expect(response.status).toBe(200);
      expect((response.body as { id: number }[]).map((p) => p.id)).toEqual(expected[user]);
    }
    // One resolver run per user: identical concurrent misses are coalesced, different users never are.
    // (At least one per user; on a loaded machine a request may come just after its flight ended and its entry is not
    // written yet, or a store read may outlast the timeout: a few more, never one per request.)
    expect(app.calls['post.list']).toBeGreaterThanOrEqual(3);
    expect(app.calls['post.list']).toBeLessThan(15);
  });

  it('does not serve a post bob has cached to alice, who may not see it', async () => {
    const { app, url } = await start();
    expect((await rest(url, 'bob', '/posts/2')).status).toBe(200);
    expect((await rest(url, 'bob', '/posts/2')).headers.get('x-cache')).toBe('HIT');
    const alice = await rest(url, 'alice', '/posts/2');
    expect(alice.status).toBe(404);
    expect(alice.body).not.toMatchObject({ id: 2 });
    expect(app.calls['post.byId']).toBe(2);
  });

  it('after a REST mutation returns, no tRPC or REST read started afterwards sees the old data', async () => {
    const { url } = await start();
    const bob = trpcClient(url, 'bob').client;
    const readers = () =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0
            ? bob.post.byId.query({ id: 1 }).then((post) => post.title)
            : rest(url, 'bob', '/posts/1').then((response) => (response.body as { title: string }).title),
        ),
      );
    expect(new Set(await readers())).toEqual(new Set(['Alice one']));
    for (let round = 1; round <= 3; round++) {
      // Reads in flight while the mutation runs may see either title; reads started after it must not.
      const during = readers();
      const patched = await rest(url, 'alice', '/posts/1', { method: 'PATCH', body: { title: `Round ${round}` } });
      expect(patched.status).toBe(200);
      expect(new Set(await readers())).toEqual(new Set([`Round ${round}`]));
      await during;
    }
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
