import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { createContractApp, queryAcrossMutation } from '../support/apps/contract.js';
import { delaySetMany } from '../support/latency.js';
import { storeKinds } from '../support/stores.js';

/** Resolves once the store has answered `n` reads in total, and every reader has had its turn to act on the answer. */
function storeReads(keyv: Keyv): { until(n: number): Promise<void> } {
  let reads = 0;
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  keyv.hooks.addHandler('postGetMany', () => {
    reads++;
    for (const w of waiting.filter((item) => reads >= item.n)) {
      waiting.splice(waiting.indexOf(w), 1);
      // A macrotask later, every microtask continuation of those reads has run.
      setImmediate(w.resolve);
    }
  });
  return {
    until: (n) => (reads >= n ? new Promise((resolve) => setImmediate(resolve)) : new Promise((resolve) => waiting.push({ n, resolve }))),
  };
}

describe.each(storeKinds())('concurrency on $name', (kind) => {
  it('never returns pre-mutation data to a query started after the mutation returned, over 200 concurrent requests', async () => {
    const keyv = await kind.fresh();
    // Slow invalidation writes too, so a mutation that returned before its write landed would show.
    delaySetMany(keyv, () => Math.random() * 3);
    const app = createContractApp(keyv);
    app.jitter.maxMs = 3;
    const users = ['alice', 'bob'] as const;
    const committed: Record<string, number> = { alice: 0, bob: 0 };
    const stale: string[] = [];
    let queries = 0;
    let queriesAfterACommit = 0;
    const ops: Promise<void>[] = [];
    /** Each user's latest mutation: the next wave of requests starts once it has returned. */
    const latest: Record<string, Promise<void>> = {};
    for (let i = 0; i < 200; i++) {
      const user = users[i % 2] as string;
      const c = app.caller(user);
      if (i % 5 === 4) {
        const touch = c.post.touch().then(({ rev }) => {
          committed[user] = Math.max(committed[user] ?? 0, rev);
        });
        latest[user] = touch;
        ops.push(touch);
      } else {
        const floor = committed[user] ?? 0;
        queries++;
        if (floor > 0) queriesAfterACommit++;
        const query = i % 3 === 0 ? c.comment.list() : c.post.list(i % 7 === 0 ? { page: 2 } : undefined);
        ops.push(
          query.then(({ rev }) => {
            if (rev < floor) stale.push(`request ${i} of ${user} got rev ${rev} after rev ${floor} was committed`);
          }),
        );
      }
      // Waves of 8 requests: each wave starts once the mutations issued so far have returned (however long a busy
      // machine takes), while the queries of earlier waves and the wave's own mutations are still in flight.
      if (i % 8 === 7) await Promise.all(Object.values(latest));
    }
    await Promise.all(ops);
    expect(stale).toEqual([]);
    expect(app.errors).toEqual([]);
    // The run is meaningful: most queries started after a mutation had returned, and the cache served some of them.
    expect(queriesAfterACommit).toBeGreaterThan(queries / 2);
    expect(app.totalRuns('post.list') + app.totalRuns('comment.list')).toBeLessThan(queries);
  });

  it('does not return from a mutation before its invalidation is written, even when store writes are slow', async () => {
    const keyv = await kind.fresh();
    delaySetMany(keyv, () => 50);
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    expect((await alice.post.list()).rev).toBe(0);
    expect(await alice.post.touch()).toEqual({ rev: 1 });
    expect((await alice.post.list()).rev).toBe(1);
    app.state.rev = 2;
    expect(await app.caching.invalidate({ paths: ['post'] })).toBe(true);
    expect((await alice.post.list()).rev).toBe(2);
  });

  it('does not serve later queries a result computed before a mutation, even when that query finishes after it', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    expect((await queryAcrossMutation(app, 'alice')).rev).toBe(0);
    expect(app.state.rev).toBe(1);

    expect((await alice.gated()).rev).toBe(1);
    expect((await alice.gated()).rev).toBe(1);
    expect(app.runs('gated', 'alice')).toBe(2);
  });

  it('does not let a query that starts after a mutation join a flight that started before it', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const reads = storeReads(keyv);
    const alice = app.caller('alice');
    app.gate.close();
    const before = alice.gated();
    await app.gate.arrivals(1);
    await alice.post.touch();
    const after = alice.gated();
    await reads.until(2);
    // A second resolver run, waiting at the gate beside the first, proves that the later query did not join the earlier flight.
    expect(app.gate.arrived).toBe(2);
    app.gate.open();
    expect((await before).rev).toBe(0);
    expect((await after).rev).toBe(1);
    expect(app.runs('gated', 'alice')).toBe(2);
  });

  it('runs the resolver once for 50 concurrent identical misses and gives every caller its own copy', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const reads = storeReads(keyv);
    const alice = app.caller('alice');
    app.gate.close();
    const calls = Array.from({ length: 50 }, () => alice.gated({ id: 1 }));
    await reads.until(50);
    app.gate.open();
    const results = await Promise.all(calls);
    expect(app.runs('gated', 'alice', { id: 1 })).toBe(1);
    for (const result of results) expect(result).toEqual({ rev: 0, items: [{ n: 1 }] });
    expect(new Set(results.map((result) => result.items)).size).toBe(50);
    const first = results[0];
    if (!first) throw new Error('no result');
    first.items.push({ n: 2 });
    expect(results[1]?.items).toEqual([{ n: 1 }]);
    expect(await alice.gated({ id: 1 })).toEqual({ rev: 0, items: [{ n: 1 }] });
    expect(app.runs('gated', 'alice', { id: 1 })).toBe(1);
  });

  it('does not join concurrent misses of different users or different inputs', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const reads = storeReads(keyv);
    app.gate.close();
    const calls = [
      ...Array.from({ length: 10 }, () => app.caller('alice').gated({ id: 1 })),
      ...Array.from({ length: 10 }, () => app.caller('bob').gated({ id: 1 })),
      ...Array.from({ length: 10 }, () => app.caller(null).gated({ id: 1 })),
      ...Array.from({ length: 10 }, () => app.caller('alice').gated({ id: 2 })),
    ];
    await reads.until(40);
    app.gate.open();
    await Promise.all(calls);
    expect(app.runs('gated', 'alice', { id: 1 })).toBe(1);
    expect(app.runs('gated', 'bob', { id: 1 })).toBe(1);
    expect(app.runs('gated', null, { id: 1 })).toBe(1);
    expect(app.runs('gated', 'alice', { id: 2 })).toBe(1);
  });
});
