import Keyv from 'keyv';
import { createMemoryStore } from 'trpc-caching';
import { varnishPurger } from 'trpc-caching/http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeApp, getQuery, memoryTitleDb, postMutation, startEdgeApp } from '../support/apps/edge.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/until.js';
import { startVarnish, type VarnishServer } from '../support/varnish.js';

const SETTLE = 300;

// A read already at the API when a mutation moves its versions answers with the old data, and Varnish stores it after
// the purge went out (a purge reaches only what is stored); reads queued behind it at Varnish get it too. The settle
// repeat of the purge removes that copy.
describe('a read in flight during a mutation, through a real Varnish', () => {
  let varnish: VarnishServer;
  let app: EdgeApp;
  const held = new Map<number, () => void>();

  beforeAll(async () => {
    const varnishPort = await freePort();
    app = await startEdgeApp({
      store: new Keyv({ store: createMemoryStore().opts.store }),
      db: memoryTitleDb(),
      edge: { purger: varnishPurger({ url: `http://127.0.0.1:${varnishPort}/` }), settle: SETTLE },
      // Holds the first read of each id from 100 on; later reads go through.
      hold: (id) => (id >= 100 && !held.has(id) ? new Promise<void>((resolve) => held.set(id, resolve)) : Promise.resolve()),
    });
    varnish = await startVarnish(Number(new URL(app.url).port), { port: varnishPort });
  }, 60_000);

  afterAll(async () => {
    for (const release of held.values()) release();
    await varnish?.stop();
    await app?.close();
  });

  it('removes the old answer an in-flight read put into the edge after the purge, once the settle purge lands', async () => {
    const id = 100;
    const early = getQuery(varnish.url, 'post.byId', { id });
    await until(() => held.has(id));
    await postMutation(app.url, 'post.rename', { id, title: 'renamed' });
    const firstPurges = app.caching.stats().purges.sent;
    held.get(id)?.();
    // The early read started before the mutation: its old answer is right for it, and now sits in the edge.
    expect((await early).data).toEqual({ id, title: `post ${id}` });
    // Without the settle purge this copy would stay for s-maxage: every read until then would be stale.
    await until(() => app.caching.stats().purges.sent > firstPurges);
    expect((await getQuery(varnish.url, 'post.byId', { id })).data).toEqual({ id, title: 'renamed' });
  });
});
