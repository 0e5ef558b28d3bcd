import { describe, expect, it } from 'vitest';
import { CachingConfigError } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';
import { createNotesApp, knownSequence, SECRET_INPUT } from './app.js';

const kinds = storeKinds();

describe.each(kinds)('caching.stats() on $name', (kind) => {
  it('counts every call of a known sequence once, as a hit, miss, coalesced call or bypass by reason', async () => {
    const app = createNotesApp(await kind.fresh());
    await knownSequence(app);
    const stats = app.caching.stats();
    expect(stats).toMatchObject({
      hits: 3,
      misses: 4,
      coalesced: 1,
      stale: 0,
      bypasses: 2,
      bypassReasons: { 'breaker-open': 0, 'store-error': 0, 'pending-invalidation': 0, disabled: 1, input: 1 },
      invalidations: 1,
      deferredInvalidations: 0,
      pendingInvalidations: 0,
      storeErrors: 0,
      breaker: 'closed',
    });
    expect(app.errors.map((error) => error.operation)).toEqual(['key']);
    expect(app.errors[0]?.message).toContain(SECRET_INPUT);
  });

  it('counts hits and misses per procedure path, busiest first', async () => {
    const app = createNotesApp(await kind.fresh());
    await knownSequence(app);
    expect(app.caching.stats().paths).toEqual([
      { path: 'notes.list', hits: 2, misses: 2, coalesced: 0, stale: 0, bypasses: 0 },
      { path: 'feed', hits: 1, misses: 1, coalesced: 0, stale: 0, bypasses: 0 },
      { path: 'slow', hits: 0, misses: 1, coalesced: 1, stale: 0, bypasses: 0 },
      { path: 'live', hits: 0, misses: 0, coalesced: 0, stale: 0, bypasses: 1 },
      { path: 'search', hits: 0, misses: 0, coalesced: 0, stale: 0, bypasses: 1 },
    ]);
  });

  it('reports store latency percentiles of reads and writes from the calls it made', async () => {
    const app = createNotesApp(await kind.fresh());
    await knownSequence(app);
    const { read, write, invalidate } = app.caching.stats().storeLatency;
    // One getMany per call that reached the store: 3 hits, 4 misses, the coalesced follower.
    expect(read.count).toBe(8);
    // 4 entries stored, and the absent versions seeded before the first misses.
    expect(write.count).toBeGreaterThanOrEqual(4);
    expect(invalidate.count).toBe(1);
    for (const summary of [read, write, invalidate]) {
      expect(summary.p50).toBeGreaterThan(0);
      expect(summary.p50).toBeLessThanOrEqual(summary.p95);
      expect(summary.p95).toBeLessThanOrEqual(summary.p99);
      // Generous: a loaded machine may be slow, but not a minute slow.
      expect(summary.p99).toBeLessThan(60_000);
    }
  });

  it('lists only the busiest paths when told to keep few', async () => {
    const app = createNotesApp(await kind.fresh(), { stats: { paths: 2 } });
    const bob = app.caller('bob');
    for (let i = 0; i < 3; i++) await bob.notes.list();
    for (let i = 0; i < 2; i++) await bob.feed();
    await bob.notes.byId({ id: 1 });
    await bob.live();
    // More paths than twice the limit: the quietest are dropped, the busiest keep their counts.
    await bob.search({});
    await bob.slow();
    const { paths, hits, misses, bypasses } = app.caching.stats();
    expect(paths.map((path) => path.path)).toEqual(['notes.list', 'feed']);
    expect(paths[0]).toMatchObject({ hits: 2, misses: 1 });
    // Totals keep counting every call.
    expect({ hits, misses, bypasses }).toEqual({ hits: 3, misses: 5, bypasses: 1 });
  });

  it('leaves every count at 0 with stats: false, and still reports the breaker and pending invalidations', async () => {
    const app = createNotesApp(await kind.fresh(), { stats: false });
    await knownSequence(app);
    const stats = app.caching.stats();
    expect(stats).toMatchObject({ hits: 0, misses: 0, coalesced: 0, bypasses: 0, invalidations: 0, breaker: 'closed' });
    expect(stats.storeLatency.read).toEqual({ count: 0, p50: 0, p95: 0, p99: 0 });
    expect(stats.paths).toEqual([]);
  });
});

describe('the stats option', () => {
  it.each([
    [null, /stats: expected true, false or an object/],
    ['yes', /stats: expected true, false or an object/],
    [{ paths: 0 }, /stats\.paths: expected a positive integer/],
    [{ paths: 1.5 }, /stats\.paths: expected a positive integer/],
  ])('refuses %j at startup, naming it', (value, message) => {
    // @ts-expect-error -- values a JavaScript caller could pass
    expect(() => createNotesApp(undefined, { stats: value })).toThrow(CachingConfigError);
    // @ts-expect-error -- as above
    expect(() => createNotesApp(undefined, { stats: value })).toThrow(message);
  });
});
