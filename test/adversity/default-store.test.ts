import { describe, expect, it } from 'vitest';
import { createAdversityApp, memoryCounterDb } from '../support/procs/app.js';

/**
 * The default in-memory store keeps version keys in a bounded LRU of their own.
 * A flood of distinct invalidations by other users evicts a user's scope version
 * from it; that must cost misses, never an entry from before the user's mutation.
 */
describe('the default in-memory store', () => {
  it('serves alice her pages fresh after her mutation, even after 12 000 distinct tag invalidations by other users', async () => {
    const app = createAdversityApp(memoryCounterDb(), undefined);
    const pages = [1, 2, 3, 4, 5];
    const page = (n: number) => app.read({ kind: 'page', user: 'alice', page: n });
    for (const n of pages) expect(await page(n)).toMatchObject({ value: 0, cached: false });
    // Every page is an entry now.
    for (const n of pages) expect(await page(n)).toMatchObject({ value: 0, cached: true });

    await app.mutate('alice', 1);
    expect(await page(1)).toMatchObject({ value: 1, cached: false });
    // Other users' mutations, each of its own tag (and its own user scope): 24 000 distinct version moves,
    // more than the 10 000 version keys the default store holds, so alice's scope version is evicted.
    for (let i = 0; i < 12_000; i++) await app.mutate(`other-${i}`, 1);

    const after = [];
    for (const n of pages) after.push({ page: n, ...(await page(n)) });
    const stale = after.filter((read) => read.value < 1);
    console.log(
      `[adversity] default store: after 12 000 distinct tag invalidations, alice's pages ${after.map((r) => `${r.page}=${r.value}${r.cached ? ' (cached)' : ''}`).join(', ')}`,
    );
    expect(stale, `pages from before alice's mutation: ${JSON.stringify(stale)}`).toEqual([]);
  });
});
