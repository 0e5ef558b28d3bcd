import Keyv from 'keyv';
import { createMemoryStore } from 'trpc-caching';
import { varnishPurger } from 'trpc-caching/http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EdgeApp, getQuery, memoryTitleDb, postMutation, startEdgeApp, type TitleDb } from '../support/apps/edge.js';
import { freePort } from '../support/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';
import { startVarnish, type VarnishServer } from '../support/varnish.js';

// One Varnish (vmod xkey, the example's VCL) in front of one API; the API purges Varnish through a TCP proxy the
// tests can hold (a slow purge endpoint) or point at a closed port (a purge endpoint that is down).
describe('the promise at the edge, through a real Varnish', () => {
  let varnish: VarnishServer;
  let app: EdgeApp;
  let db: TitleDb;
  let proxy: TcpProxy;
  /** Where purges go: the proxy in front of Varnish, or a closed port. */
  let purgeUrl = '';
  let closedUrl = '';
  let round = 0;

  beforeAll(async () => {
    db = memoryTitleDb();
    app = await startEdgeApp({
      store: new Keyv({ store: createMemoryStore().opts.store }),
      db,
      edge: {
        // Late-bound: Varnish starts after the API it fronts.
        purger: (keys) => varnishPurger({ url: purgeUrl, timeout: 2_000 })(keys),
        timeout: 300,
        retryDelay: 20,
        retryMax: 100,
        settle: 0,
      },
    });
    varnish = await startVarnish(Number(new URL(app.url).port));
    proxy = await startTcpProxy(varnish.port);
    purgeUrl = `http://127.0.0.1:${proxy.port}/`;
    closedUrl = `http://127.0.0.1:${await freePort()}/`;
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await varnish?.stop();
    await app?.close();
  });

  beforeEach(() => {
    round++;
    proxy.forward();
    purgeUrl = `http://127.0.0.1:${proxy.port}/`;
  });

  const calls = (path: string) => app.calls.get(path) ?? 0;

  it('serves a public answer from the edge after one API call, and the very next read after a mutation by another client is fresh', async () => {
    const id = round * 10;
    const first = await getQuery(varnish.url, 'post.byId', { id });
    expect(first.headers.get('x-edge')).toBe('MISS');
    expect(first.headers.get('xkey')).toBe(`all p:post p:post.byId t:post%3A${id}`);
    expect(first.headers.get('cache-control')).toBe('public, max-age=60, s-maxage=60');
    const before = calls('post.byId');
    const second = await getQuery(varnish.url, 'post.byId', { id });
    expect(second.headers.get('x-edge')).toBe('HIT');
    expect(calls('post.byId')).toBe(before);

    await postMutation(app.url, 'post.rename', { id, title: 'renamed' });
    const after = await getQuery(varnish.url, 'post.byId', { id });
    expect(after.data).toEqual({ id, title: 'renamed' });
    expect(after.headers.get('x-edge')).toBe('MISS');
    expect(app.caching.stats().purges).toMatchObject({ sent: expect.any(Number), failed: 0, pending: 0 });
    expect(app.caching.stats().purges.sent).toBeGreaterThan(0);
  });

  it('never lets Varnish keep a per-user answer: another user through Varnish gets their own', async () => {
    const ann = await getQuery(varnish.url, 'post.mine', {}, 'ann');
    const bob = await getQuery(varnish.url, 'post.mine', {}, 'bob');
    expect(ann.data).toEqual({ owner: 'ann' });
    expect(bob.data).toEqual({ owner: 'bob' });
    expect(bob.headers.get('x-edge')).toBe('MISS');
    expect(bob.headers.get('xkey')).toBeNull();
    expect(bob.headers.get('cache-control')).toBe('private, max-age=0');
  });

  it('returns a mutation within its bound while the purge endpoint hangs, retries the purge, and the edge is fresh once it lands', async () => {
    const id = round * 10;
    await getQuery(varnish.url, 'post.byId', { id });
    await getQuery(varnish.url, 'news.list', {});
    expect((await getQuery(varnish.url, 'post.byId', { id })).headers.get('x-edge')).toBe('HIT');
    const newsCalls = calls('news.list');

    proxy.blackhole();
    await postMutation(app.url, 'post.rename', { id, title: 'slow purge' });
    // Returned while its purge is still held on the wire: the purge's bound, not the edge, decided when.
    expect(proxy.connections().some((c) => c.held)).toBe(true);
    expect((await getQuery(varnish.url, 'post.byId', { id })).data).toEqual({ id, title: `post ${id}` });

    proxy.forward();
    await until(() => app.caching.stats().purges.pending === 0 && app.caching.stats().purges.sent > 0);
    await eventuallyFresh(varnish.url, id, 'slow purge');
    // Nothing else went: the unrelated public answer is still an edge hit, and its resolver did not run.
    expect((await getQuery(varnish.url, 'news.list', {})).headers.get('x-edge')).toBe('HIT');
    expect(calls('news.list')).toBe(newsCalls);
  });

  it('keeps a purge the endpoint refused while down and retries it until the edge is fresh', async () => {
    const id = round * 10;
    await getQuery(varnish.url, 'post.byId', { id });
    await getQuery(varnish.url, 'news.list', {});
    const failedBefore = app.caching.stats().purges.failed;
    purgeUrl = closedUrl;
    await postMutation(app.url, 'post.rename', { id, title: 'purge down' });
    await until(() => app.caching.stats().purges.failed > failedBefore + 1);
    expect(app.caching.stats().purges.pending).toBeGreaterThan(0);
    // While the purge cannot land the edge keeps its copy: the cost of an unreachable edge, bounded by s-maxage.
    expect((await getQuery(varnish.url, 'post.byId', { id })).headers.get('x-edge')).toBe('HIT');

    purgeUrl = `http://127.0.0.1:${proxy.port}/`;
    await until(() => app.caching.stats().purges.pending === 0);
    const fresh = await getQuery(varnish.url, 'post.byId', { id });
    expect(fresh.data).toEqual({ id, title: 'purge down' });
    expect((await getQuery(varnish.url, 'news.list', {})).headers.get('x-edge')).toBe('HIT');
  });
});

/** Reads through Varnish until the title shows (the purge has landed: the next read is a miss). */
async function eventuallyFresh(base: string, id: number, title: string): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    const { data } = await getQuery(base, 'post.byId', { id });
    if ((data as { title: string }).title === title) return;
    if (Date.now() > end) throw new Error(`the edge still serves ${JSON.stringify(data)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
