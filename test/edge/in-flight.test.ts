import Keyv from 'keyv';
import { createMemoryStore } from 'trpc-caching';
import { varnishPurger } from 'trpc-caching/http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeApp, getQuery, memoryTitleDb, postMutation, startEdgeApp } from '../support/apps/edge.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/until.js';
import { startVarnish, type VarnishServer } from '../support/varnish.js';

// A read already at the API when a mutation moves its versions answers with the old data, and that answer reaches
// Varnish after the mutation's purge went out (a purge reaches only what is stored). The API reads the versions again
// once the resolver ran: they moved, so the answer goes out `no-store` and Varnish keeps nothing, neither for the reads
// queued behind it at Varnish nor for later ones. `settle: 0`: no repeat purge hides a copy that got in.
describe('a read in flight during a mutation, through a real Varnish', () => {
  let varnish: VarnishServer;
  let app: EdgeApp;
  const held = new Map<number, () => void>();

  beforeAll(async () => {
    const varnishPort = await freePort();
    app = await startEdgeApp({
      store: new Keyv({ store: createMemoryStore().opts.store }),
      db: memoryTitleDb(),
      edge: { purger: varnishPurger({ url: `http://127.0.0.1:${varnishPort}/` }), settle: 0 },
      // Holds the first read of each id from 100 on, after it read the title; later reads go through.
      hold: (id) => (id >= 100 && !held.has(id) ? new Promise<void>((resolve) => held.set(id, resolve)) : Promise.resolve()),
    });
    varnish = await startVarnish(Number(new URL(app.url).port), { port: varnishPort });
  }, 60_000);

  afterAll(async () => {
    for (const release of held.values()) release();
    await varnish?.stop();
    await app?.close();
  });

  it('keeps the old answer of a read that crossed a mutation out of the edge: every read started after the mutation returned is fresh', async () => {
    const ids = [100, 101, 102];
    let stale = 0;
    const earlyCacheControl: (string | null)[] = [];
    for (const id of ids) {
      const early = getQuery(varnish.url, 'post.byId', { id });
      await until(() => held.has(id));
      await postMutation(app.url, 'post.rename', { id, title: `renamed ${id}` });
      // Started after the mutation returned, while the early read still runs: Varnish may queue it behind that fetch.
      const queued = getQuery(varnish.url, 'post.byId', { id });
      held.get(id)?.();
      const old = await early;
      // The early read started before the mutation: its old answer is right for it, and no cache may keep it.
      expect(old.data).toEqual({ id, title: `post ${id}` });
      earlyCacheControl.push(old.headers.get('cache-control'));
      const after = await getQuery(varnish.url, 'post.byId', { id });
      for (const read of [await queued, after]) if ((read.data as { title: string }).title !== `renamed ${id}`) stale++;
    }
    expect(stale).toBe(0);
    expect(earlyCacheControl).toEqual(ids.map(() => 'no-store'));
    expect(app.caching.stats().purges.sent).toBe(ids.length);
  });

  it('still lets the edge keep a public answer no mutation crossed', async () => {
    const id = 7;
    const first = await getQuery(varnish.url, 'post.byId', { id });
    expect(first.headers.get('cache-control')).toContain('public');
    const again = await getQuery(varnish.url, 'post.byId', { id });
    expect(again.headers.get('x-edge')).toBe('HIT');
    expect(again.data).toEqual({ id, title: `post ${id}` });
  });
});
